//! The Dockerfile parser, as docker's (moby/buildkit `frontend/dockerfile/parser`): parser
//! directives (`# escape=`, `# syntax=`), comments, line continuations (the escape
//! character at the end of a line; comment and empty lines inside a continuation are
//! skipped), the instruction keyword (case-insensitive), leading `--flag[=value]` words,
//! and the JSON (exec) form of the instructions that have one. Variable substitution
//! happens later, per instruction, in [`super::words`].

use crate::error::{Error, Result};

/// One instruction of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instruction {
    /// The keyword, upper case (`RUN`).
    pub(crate) keyword: String,
    /// `--name[=value]` flags given before the arguments, in order.
    pub(crate) flags: Vec<(String, Option<String>)>,
    /// The arguments after the flags, as written (continuations joined).
    pub(crate) args: String,
    /// The instruction as docker prints it in `Step N/M : ...` (continuations joined).
    pub(crate) original: String,
    /// The line it starts on (1-based).
    pub(crate) line: usize,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dockerfile {
    /// The instructions, in order.
    pub(crate) instructions: Vec<Instruction>,
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub(crate) escape: char,
    /// Warnings docker prints (empty continuation lines).
    pub(crate) warnings: Vec<String>,
}

/// The instructions docker knows; anything else is an error naming the line.
const KNOWN: [&str; 18] = [
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn parse_error(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("dockerfile parse error on line {line}: {msg}"))
}

/// `# name=value` before any instruction, comment or empty line.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start();
    let (name, value) = rest.split_once('=')?;
    let name = name.trim_end();
    let mut chars = name.chars();
    if !chars.next()?.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_owned()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes the continuation character (and the blanks after it) from the end of `line`;
/// true when the line ends the instruction.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest.to_owned(), false),
        None => (line.to_owned(), true),
    }
}

/// Parses a Dockerfile's text.
///
/// # Errors
/// A bad `escape` directive, an unknown instruction, an instruction without arguments.
pub(crate) fn parse(text: &str) -> Result<Dockerfile> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut seen = Vec::new();
    let mut i = 0;
    // Parser directives: only at the very top.
    while i < lines.len() {
        let Some((name, value)) = directive(lines[i]) else {
            break;
        };
        if seen.contains(&name) {
            return Err(parse_error(
                i + 1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        if name == "escape" {
            escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                v => {
                    return Err(parse_error(
                        i + 1,
                        format!("invalid escape token '{v}' does not match ` or \\"),
                    ));
                }
            };
        }
        seen.push(name);
        i += 1;
    }
    let mut out = Dockerfile {
        instructions: Vec::new(),
        escape,
        warnings: Vec::new(),
    };
    while i < lines.len() {
        let start = i + 1;
        let first = lines[i].trim_start();
        i += 1;
        if is_comment(first) {
            continue;
        }
        let (mut line, mut done) = trim_continuation(first, escape);
        if done && line.trim().is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !done && i < lines.len() {
            let next = lines[i];
            i += 1;
            if is_comment(next) {
                continue;
            }
            if next.trim().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, end) = trim_continuation(next, escape);
            line.push_str(&part);
            done = end;
        }
        if empty_continuation {
            out.warnings.push(format!(
                "[WARNING]: Empty continuation line found in: {}",
                line.trim()
            ));
        }
        out.instructions.push(instruction(&line, start)?);
    }
    Ok(out)
}

/// One logical line as an instruction.
pub(crate) fn instruction(line: &str, number: usize) -> Result<Instruction> {
    let line = line.trim();
    let (word, rest) = match line.split_once(|c: char| c.is_whitespace()) {
        Some((w, r)) => (w, r.trim_start()),
        None => (line, ""),
    };
    let keyword = word.to_ascii_uppercase();
    if !KNOWN.contains(&keyword.as_str()) {
        return Err(parse_error(number, format!("unknown instruction: {word}")));
    }
    let (flags, args) = split_flags(rest);
    if args.trim().is_empty() && keyword != "HEALTHCHECK" {
        return Err(parse_error(
            number,
            format!("{keyword} requires at least one argument"),
        ));
    }
    Ok(Instruction {
        keyword,
        flags,
        args: args.trim().to_owned(),
        original: line.to_owned(),
        line: number,
    })
}

/// Leading `--name[=value]` words (a value may be quoted), then the rest.
fn split_flags(s: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut rest = s.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        if after.is_empty() || after.starts_with(char::is_whitespace) {
            break;
        }
        // The flag word ends at whitespace outside quotes.
        let mut end = after.len();
        let mut quote = None;
        for (idx, c) in after.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => {
                    end = idx;
                    break;
                }
                _ => {}
            }
        }
        let word = &after[..end];
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(unquote(v))),
            None => (word, None),
        };
        flags.push((name.to_ascii_lowercase(), value));
        rest = after[end..].trim_start();
    }
    (flags, rest)
}

fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return v[1..v.len() - 1].to_owned();
        }
    }
    v.to_owned()
}

/// The JSON (exec) form of RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD and VOLUME: a JSON array
/// of strings; `None` for the shell form.
pub(crate) fn json_form(args: &str) -> Option<Vec<String>> {
    if !args.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(args).ok()
}

impl Instruction {
    /// The value of flag `name` (the last one given).
    pub(crate) fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Fails on a flag the instruction does not take (docker's message).
    pub(crate) fn allow_flags(&self, allowed: &[&str]) -> Result<()> {
        for (name, _) in &self.flags {
            if !allowed.contains(&name.as_str()) {
                return Err(Error::Invalid(format!(
                    "dockerfile parse error on line {}: unknown flag: {name}",
                    self.line
                )));
            }
        }
        Ok(())
    }

    /// An error about this instruction, naming its line.
    pub(crate) fn error(&self, msg: impl std::fmt::Display) -> Error {
        parse_error(self.line, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(d: &Dockerfile) -> Vec<(&str, &str, usize)> {
        d.instructions
            .iter()
            .map(|i| (i.keyword.as_str(), i.args.as_str(), i.line))
            .collect()
    }

    #[test]
    fn continuations_comments_and_keywords() {
        let text = [
            "# syntax=docker/dockerfile:1",
            "FROM busybox AS base",
            "",
            "# a comment",
            "run echo a \\",
            "# a comment inside",
            "  && echo b",
            "copy --chown=1:2 --from=base a b /dst/",
            "ENV A=1 \\",
            "",
            "B=2",
        ]
        .join("\n");
        let d = parse(&text).unwrap();
        assert_eq!(
            kw(&d),
            [
                ("FROM", "busybox AS base", 2),
                ("RUN", "echo a   && echo b", 5),
                ("COPY", "a b /dst/", 8),
                ("ENV", "A=1 B=2", 9),
            ]
        );
        let copy = &d.instructions[2];
        assert_eq!(copy.flag("chown"), Some("1:2"));
        assert_eq!(copy.flag("from"), Some("base"));
        assert_eq!(copy.original, "copy --chown=1:2 --from=base a b /dst/");
        assert_eq!(d.warnings.len(), 1);
    }

    #[test]
    fn the_escape_directive_changes_the_continuation() {
        let d = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /w\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.instructions[1].args, "dir c:\\   /w");
        // Not at the top: a comment.
        let d = parse("FROM x\n# escape=`\nRUN a `\n").unwrap();
        assert_eq!(d.escape, '\\');
        assert!(parse("# escape=x\nFROM x\n").is_err());
        assert!(parse("# escape=`\n# escape=\\\nFROM x\n").is_err());
    }

    #[test]
    fn unknown_instructions_name_their_line() {
        let e = parse("FROM x\n\nFOO bar\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "dockerfile parse error on line 3: unknown instruction: FOO"
        );
        let e = parse("FROM x\nRUN\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("RUN requires"), "{e}");
    }

    #[test]
    fn json_forms() {
        assert_eq!(
            json_form(r#"["/bin/sh", "-c", "echo hi"]"#),
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(json_form("echo [hi]"), None);
        assert_eq!(json_form("[not json"), None);
    }
}
