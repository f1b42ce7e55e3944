//! Docker's Dockerfile "shell lexer" (moby/buildkit `frontend/dockerfile/shell`): quote
//! removal, the escape character, and variable substitution (`$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`),
//! for one word ([`Lexer::word`]) or for whitespace-separated words ([`Lexer::words`], where
//! an unquoted expansion is split too), and the raw `key=value` word splitting of ENV,
//! LABEL and ARG.

use crate::error::{Error, Result};

/// Looks a variable up (`None`: unset).
pub(crate) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The lexer of one Dockerfile (its escape character).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer {
    pub(crate) escape: char,
}

struct Scan<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    escape: char,
    vars: Lookup<'a>,
    /// Words (when splitting) and the word being built.
    words: Vec<String>,
    cur: String,
    in_word: bool,
    split: bool,
}

fn err(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

impl Lexer {
    /// One word: quotes removed, variables substituted, nothing split.
    pub(crate) fn word(&self, s: &str, vars: Lookup<'_>) -> Result<String> {
        let mut scan = Scan::new(s, self.escape, vars, false);
        scan.run()?;
        Ok(scan.cur)
    }

    /// Words separated by unquoted whitespace (an unquoted expansion is split as well).
    pub(crate) fn words(&self, s: &str, vars: Lookup<'_>) -> Result<Vec<String>> {
        let mut scan = Scan::new(s, self.escape, vars, true);
        scan.run()?;
        if scan.in_word {
            let w = std::mem::take(&mut scan.cur);
            scan.words.push(w);
        }
        Ok(scan.words)
    }

    /// Splits on whitespace outside quotes, keeping quotes and escapes (moby's
    /// `parseWords`, for `key=value` lists).
    pub(crate) fn raw_words(&self, s: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut quote: Option<char> = None;
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                    continue;
                }
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ => {}
            }
            cur.push(c);
            if c == self.escape
                && quote != Some('\'')
                && let Some(n) = chars.next()
            {
                cur.push(n);
            }
        }
        if !cur.is_empty() {
            words.push(cur);
        }
        words
    }

    /// `key=value` pairs of ENV, LABEL and ARG (values processed as words), or the legacy
    /// `key value...` form when `legacy` allows it.
    pub(crate) fn key_values(
        &self,
        keyword: &str,
        args: &str,
        vars: Lookup<'_>,
        legacy: bool,
    ) -> Result<Vec<(String, String)>> {
        let raw = self.raw_words(args);
        let Some(first) = raw.first() else {
            return Err(err(format!("{keyword} requires at least one argument")));
        };
        if !first.contains('=') {
            if !legacy {
                return Err(err(format!(
                    "Syntax error - can't find = in \"{first}\". Must be of the form: name=value"
                )));
            }
            let (key, value) = args
                .trim()
                .split_once(char::is_whitespace)
                .ok_or_else(|| err(format!("{keyword} must have two arguments")))?;
            return Ok(vec![(key.to_owned(), self.word(value.trim(), vars)?)]);
        }
        raw.iter()
            .map(|w| match w.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((self.word(k, vars)?, self.word(v, vars)?)),
                _ => Err(err(format!(
                    "Syntax error - can't find = in \"{w}\". Must be of the form: name=value"
                ))),
            })
            .collect()
    }
}

impl<'a> Scan<'a> {
    fn new(s: &'a str, escape: char, vars: Lookup<'a>, split: bool) -> Self {
        Scan {
            chars: s.chars().peekable(),
            escape,
            vars,
            words: Vec::new(),
            cur: String::new(),
            in_word: false,
            split,
        }
    }

    /// Adds a character of the input (whitespace separates words when splitting).
    fn add_char(&mut self, c: char) {
        if self.split && c.is_whitespace() {
            if self.in_word {
                self.words.push(std::mem::take(&mut self.cur));
                self.in_word = false;
            }
            return;
        }
        self.cur.push(c);
        self.in_word = true;
    }

    /// Adds quoted text: never split, and makes a word even when empty (`""`).
    fn add_raw(&mut self, s: &str) {
        self.cur.push_str(s);
        self.in_word = true;
    }

    fn run(&mut self) -> Result<()> {
        while let Some(c) = self.chars.next() {
            match c {
                '\'' => {
                    let s = self.single_quoted()?;
                    self.add_raw(&s);
                }
                '"' => {
                    let s = self.double_quoted()?;
                    self.add_raw(&s);
                }
                '$' => {
                    let v = self.dollar()?;
                    for ch in v.chars() {
                        self.add_char(ch);
                    }
                }
                c if c == self.escape => {
                    if let Some(n) = self.chars.next() {
                        self.cur.push(n);
                        self.in_word = true;
                    }
                }
                c => self.add_char(c),
            }
        }
        Ok(())
    }

    fn single_quoted(&mut self) -> Result<String> {
        let mut s = String::new();
        for c in self.chars.by_ref() {
            if c == '\'' {
                return Ok(s);
            }
            s.push(c);
        }
        Err(err(
            "unexpected end of statement while looking for matching single-quote",
        ))
    }

    fn double_quoted(&mut self) -> Result<String> {
        let mut s = String::new();
        loop {
            match self.chars.next() {
                None => {
                    return Err(err(
                        "unexpected end of statement while looking for matching double-quote",
                    ));
                }
                Some('"') => return Ok(s),
                Some('$') => s.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.chars.peek() {
                    None => {}
                    Some(&n) if n == '"' || n == '$' || n == self.escape => {
                        s.push(n);
                        self.chars.next();
                    }
                    Some(_) => s.push(c),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.chars.next();
            } else {
                break;
            }
        }
        name
    }

    /// After a `$`: the value of the variable (or the `$` itself).
    fn dollar(&mut self) -> Result<String> {
        match self.chars.peek() {
            Some('{') => {
                self.chars.next();
                self.braced()
            }
            Some(&c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok((self.vars)(&name).unwrap_or_default())
            }
            _ => Ok("$".to_owned()),
        }
    }

    /// The word of a `${name:-word}` modifier, up to the closing brace.
    fn modifier_word(&mut self) -> Result<String> {
        let mut inner = Scan {
            chars: std::mem::replace(&mut self.chars, "".chars().peekable()),
            escape: self.escape,
            vars: self.vars,
            words: Vec::new(),
            cur: String::new(),
            in_word: false,
            split: false,
        };
        let mut closed = false;
        while let Some(c) = inner.chars.next() {
            match c {
                '}' => {
                    closed = true;
                    break;
                }
                '\'' => {
                    let s = inner.single_quoted()?;
                    inner.add_raw(&s);
                }
                '"' => {
                    let s = inner.double_quoted()?;
                    inner.add_raw(&s);
                }
                '$' => {
                    let v = inner.dollar()?;
                    inner.cur.push_str(&v);
                }
                c if c == inner.escape => {
                    if let Some(n) = inner.chars.next() {
                        inner.cur.push(n);
                    }
                }
                c => inner.cur.push(c),
            }
        }
        self.chars = inner.chars;
        if !closed {
            return Err(err("syntax error: missing '}'"));
        }
        Ok(inner.cur)
    }

    fn braced(&mut self) -> Result<String> {
        let name = self.name();
        if name.is_empty() {
            return Err(err("syntax error: bad substitution"));
        }
        let value = (self.vars)(&name);
        let colon = self.chars.peek() == Some(&':');
        if colon {
            self.chars.next();
        }
        let Some(op) = self.chars.next() else {
            return Err(err("syntax error: missing '}'"));
        };
        if op == '}' && !colon {
            return Ok(value.unwrap_or_default());
        }
        if !matches!(op, '-' | '+' | '?') {
            return Err(err(format!(
                "unsupported modifier ({op}) in substitution of {name}"
            )));
        }
        let word = self.modifier_word()?;
        // With ':' an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            '-' => Ok(if set { value.unwrap_or_default() } else { word }),
            '+' => Ok(if set { word } else { String::new() }),
            _ if set => Ok(value.unwrap_or_default()),
            _ if word.is_empty() => Err(err(format!("{name}: is not allowed to be empty"))),
            _ => Err(err(format!("{name}: {word}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("a".into()),
            "E" => Some(String::new()),
            "S" => Some("x y".into()),
            _ => None,
        }
    }

    const L: Lexer = Lexer { escape: '\\' };

    #[test]
    fn substitution_as_docker_does() {
        let w = |s: &str| L.word(s, &vars).unwrap();
        assert_eq!(w("$A"), "a");
        assert_eq!(w("${A}b"), "ab");
        assert_eq!(w("$Ab"), "");
        assert_eq!(w("${U:-def}"), "def");
        assert_eq!(w("${E:-def}"), "def");
        assert_eq!(w("${E-def}"), "");
        assert_eq!(w("${U-def}"), "def");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${E:+alt}"), "");
        assert_eq!(w("${E+alt}"), "alt");
        assert_eq!(w("${U:+alt}"), "");
        assert_eq!(w("${U:-${A}x}"), "ax");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "a b");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("\"a\\\"b\\n\""), "a\"b\\n");
        assert_eq!(w("a\\ b"), "a b");
        assert_eq!(w("$"), "$");
        assert_eq!(w("5$"), "5$");
        assert!(L.word("${U:?must be set}", &vars).is_err());
        assert_eq!(w("${A:?x}"), "a");
        assert!(L.word("${A", &vars).is_err());
        assert!(L.word("'open", &vars).is_err());
        assert!(L.word("${A/x/y}", &vars).is_err());
    }

    #[test]
    fn words_split_unquoted_expansions() {
        let ws = |s: &str| L.words(s, &vars).unwrap();
        assert_eq!(ws("a  b"), ["a", "b"]);
        assert_eq!(ws("$S z"), ["x", "y", "z"]);
        assert_eq!(ws("\"$S\" z"), ["x y", "z"]);
        assert_eq!(ws("'' b"), ["", "b"]);
        let tick = Lexer { escape: '`' };
        assert_eq!(tick.word("c:\\dir `$A", &vars).unwrap(), "c:\\dir $A");
    }

    #[test]
    fn key_value_lists() {
        let kv = L
            .key_values(
                "ENV",
                r#"A=1 B="two words" C=$A D='$A' E=x\ y"#,
                &vars,
                true,
            )
            .unwrap();
        let want = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "a"),
            ("D", "$A"),
            ("E", "x y"),
        ];
        assert_eq!(kv.len(), want.len());
        for ((k, v), (wk, wv)) in kv.iter().zip(want) {
            assert_eq!((k.as_str(), v.as_str()), (wk, wv));
        }
        let legacy = L.key_values("ENV", "NAME some value", &vars, true).unwrap();
        assert_eq!(legacy, [("NAME".to_owned(), "some value".to_owned())]);
        assert!(L.key_values("LABEL", "novalue", &vars, false).is_err());
        assert!(L.key_values("ENV", "A=1 bad", &vars, true).is_err());
    }
}
