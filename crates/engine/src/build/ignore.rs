//! `.dockerignore`: docker's pattern rules (moby `patternmatcher` and buildkit's
//! `dockerignore.ReadAll`).
//!
//! - Lines starting with `#` are comments; blank lines are skipped; a pattern is trimmed,
//!   cleaned as a path (`./a//b/` is `a/b`) and a leading `/` is dropped.
//! - `*` is any run of characters but `/`, `?` one character but `/`, `[...]` a class,
//!   `\` escapes; `**` is any number of directories (`**/x`, `a/**/b`) or, at the end, any
//!   path (`a/**`).
//! - A path is matched when the pattern matches it or one of its parent directories.
//! - `!pattern` re-includes; the last pattern that matches decides.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A character.
    Char(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run of characters but `/`.
    Star,
    /// `**` not at the end: empty, or anything ending with `/`.
    Dirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`: ranges, negated with a leading `^`.
    Class(bool, Vec<(char, char)>),
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    tokens: Vec<Token>,
}

/// The patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ignore {
    patterns: Vec<Pattern>,
}

/// `filepath.Clean` of a relative or absolute slash-separated path.
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

fn compile(p: &str, double_star: bool) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if double_star && chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                tokens.push(if chars.peek().is_none() {
                    Token::Rest
                } else {
                    Token::Dirs
                });
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
            '[' => {
                let negated = chars.peek() == Some(&'^');
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                loop {
                    let c = match chars.next() {
                        None => return Err(Error::Invalid(format!("syntax error in pattern {p}"))),
                        Some(']') if !ranges.is_empty() => break,
                        Some('\\') => chars.next().unwrap_or('\\'),
                        Some(c) => c,
                    };
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some(']') | None => {
                                return Err(Error::Invalid(format!("syntax error in pattern {p}")));
                            }
                            Some('\\') => ranges.push((c, chars.next().unwrap_or('\\'))),
                            Some(hi) => ranges.push((c, hi)),
                        }
                    } else {
                        ranges.push((c, c));
                    }
                }
                tokens.push(Token::Class(negated, ranges));
            }
            c => tokens.push(Token::Char(c)),
        }
    }
    Ok(tokens)
}

/// Whether `tokens` match all of `path`; memoised on (token, char) positions.
fn matches(tokens: &[Token], path: &[char]) -> bool {
    let mut memo = vec![None; (tokens.len() + 1) * (path.len() + 1)];
    fn go(t: &[Token], p: &[char], ti: usize, pi: usize, memo: &mut Vec<Option<bool>>) -> bool {
        let key = ti * (p.len() + 1) + pi;
        if let Some(v) = memo[key] {
            return v;
        }
        let v = match t.get(ti) {
            None => pi == p.len(),
            Some(Token::Char(c)) => p.get(pi) == Some(c) && go(t, p, ti + 1, pi + 1, memo),
            Some(Token::One) => {
                p.get(pi).is_some_and(|c| *c != '/') && go(t, p, ti + 1, pi + 1, memo)
            }
            Some(Token::Class(neg, ranges)) => {
                p.get(pi).is_some_and(|c| {
                    *c != '/' && ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *neg
                }) && go(t, p, ti + 1, pi + 1, memo)
            }
            Some(Token::Star) => {
                go(t, p, ti + 1, pi, memo)
                    || (p.get(pi).is_some_and(|c| *c != '/') && go(t, p, ti, pi + 1, memo))
            }
            Some(Token::Rest) => true,
            Some(Token::Dirs) => {
                go(t, p, ti + 1, pi, memo)
                    || (pi..p.len()).any(|k| p[k] == '/' && go(t, p, ti + 1, k + 1, memo))
            }
        };
        memo[key] = Some(v);
        v
    }
    go(tokens, path, 0, 0, &mut memo)
}

/// Go's `filepath.Match`: `*`, `?`, `[...]` and `\\` escapes, none of them matching `/`
/// (the wildcards of COPY and ADD sources).
///
/// # Errors
/// A malformed class.
pub(crate) fn path_match(pattern: &str, path: &str) -> Result<bool> {
    let chars: Vec<char> = path.chars().collect();
    Ok(matches(&compile(pattern, false)?, &chars))
}

/// Whether a COPY or ADD source has wildcards.
pub(crate) fn has_wildcards(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

impl Ignore {
    /// Parses the text of a `.dockerignore` file.
    ///
    /// # Errors
    /// A lone `!`, or a malformed class.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
                if p.is_empty() {
                    return Err(Error::Invalid(
                        "illegal exclusion pattern: \"!\"".to_owned(),
                    ));
                }
            }
            let mut cleaned = clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            patterns.push(Pattern {
                exclusion,
                tokens: compile(&cleaned, true)?,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether there are `!` patterns (an excluded directory may then hold included
    /// files).
    pub(crate) fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether the context path `path` (relative, `/`-separated) is excluded.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        // The parent directories' lengths: "a/b/c" -> "a", "a/b".
        let parents: Vec<usize> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .map(|(i, _)| i)
            .collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let hit = matches(&p.tokens, &chars)
                || parents.iter().any(|&end| matches(&p.tokens, &chars[..end]));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn docker_pattern_rules() {
        let i = ig("# comment\n\n  *.log \n/build/\n!build/keep.txt\n**/tmp\ndocs/**\n");
        assert!(i.excludes("a.log"));
        assert!(!i.excludes("dir/a.log"), "* does not cross /");
        assert!(i.excludes("build"));
        assert!(i.excludes("build/x/y"), "a parent directory matches");
        assert!(!i.excludes("build/keep.txt"), "! re-includes");
        assert!(i.excludes("tmp"));
        assert!(i.excludes("a/b/tmp/c"));
        assert!(i.excludes("docs/x"));
        assert!(!i.excludes("docs"), "docs/** matches what is below docs");
        assert!(!i.excludes("src/main.rs"));
        let i = ig("a?c\n[a-c]x\n[^a]y\nlit\\*\n**/*.go\nfoo/**/bar\n");
        assert!(i.excludes("abc") && !i.excludes("a/c"));
        assert!(i.excludes("bx") && !i.excludes("dx"));
        assert!(i.excludes("by") && !i.excludes("ay"));
        assert!(i.excludes("lit*") && !i.excludes("litx"));
        assert!(i.excludes("x.go") && i.excludes("a/b/x.go"));
        assert!(i.excludes("foo/bar") && i.excludes("foo/a/b/bar"));
        assert!(Ignore::parse("!\n").is_err());
        assert!(Ignore::parse("[a\n").is_err());
        assert!(ig("*\n!keep\n").has_exclusions());
        assert!(!ig("*\n").has_exclusions());
        let i = ig("*\n!keep\n");
        assert!(i.excludes("other") && !i.excludes("keep"));
        assert!(ig("./a/../b//\n").excludes("b/c"));
    }

    /// A simpler model: glob semantics by direct recursion on the strings.
    fn model(pat: &str, path: &str) -> bool {
        if let Some(rest) = pat.strip_prefix("**/") {
            return model(rest, path)
                || path
                    .char_indices()
                    .any(|(i, c)| c == '/' && model(rest, &path[i + 1..]));
        }
        if pat == "**" {
            return true;
        }
        if let Some(rest) = pat.strip_prefix("**") {
            // `**x`: empty or anything ending with '/', then x.
            return model(rest, path)
                || path
                    .char_indices()
                    .any(|(i, c)| c == '/' && model(rest, &path[i + 1..]));
        }
        if let Some(rest) = pat.strip_prefix('*') {
            return (0..=path.len())
                .take_while(|&i| !path[..i].contains('/'))
                .any(|i| model(rest, &path[i..]));
        }
        match (pat.chars().next(), path.chars().next()) {
            (None, None) => true,
            (Some('?'), Some(c)) if c != '/' => model(&pat[1..], &path[1..]),
            (Some(p), Some(c)) if p == c && p != '?' => model(&pat[1..], &path[1..]),
            _ => false,
        }
    }

    fn model_excludes(patterns: &[(bool, String)], path: &str) -> bool {
        let mut prefixes: Vec<&str> = path
            .char_indices()
            .filter(|(_, c)| *c == '/')
            .map(|(i, _)| &path[..i])
            .collect();
        prefixes.push(path);
        let mut matched = false;
        for (exclusion, p) in patterns {
            if prefixes.iter().any(|pre| model(p, pre)) {
                matched = !exclusion;
            }
        }
        matched
    }

    proptest! {
        #[test]
        fn the_matcher_agrees_with_the_model(
            pats in proptest::collection::vec(
                (any::<bool>(), "(a|b|\\*|\\?|\\*\\*/)(a|b|/|\\*|\\?){0,4}(a|b|\\*)"),
                1..4,
            ),
            path in "(a|b)(a|b|/a|/b){0,5}",
        ) {
            // Patterns without `//`, `/` at either end, or a `**` run other than `**/`
            // (cleaning and `***` are tested above).
            let pats: Vec<(bool, String)> = pats
                .into_iter()
                .filter(|(_, p)| !p.contains("//") && !p.contains("***") && !p.ends_with('/'))
                .filter(|(_, p)| !p.replace("**/", "").contains("**"))
                .collect();
            prop_assume!(!pats.is_empty());
            let text: String = pats
                .iter()
                .map(|(ex, p)| format!("{}{p}\n", if *ex { "!" } else { "" }))
                .collect();
            let i = Ignore::parse(&text).unwrap();
            prop_assert_eq!(i.excludes(&path), model_excludes(&pats, &path), "{}", text);
        }
    }
}
