//! Compatibility with the original Go mydocker's single-dash long flags.
//!
//! The seed accepted `pull -img IMAGE` and
//! `run -img IMAGE -cmds "CMD ARGS" -name N -cpus 0.5 -mmem 200 -mpid 1000`. clap reads
//! `-name` as the cluster `-n -a -m -e`, so these words are rewritten into docker's syntax
//! before parsing: `-name` becomes `--name`, `-cpus` `--cpus`, `-mmem 200` `--memory 200m`,
//! `-mpid` `--pids-limit`, and `-img`/`-cmds` move to the image and command positions.
//!
//! Only option words are rewritten: once the image (or `--`) has been seen, every later
//! word belongs to the container's command and is left alone.

use std::ffi::OsString;

/// Seed flags that become a docker long option taking one value.
const RENAMED: &[(&str, &str)] = &[
    ("-name", "--name"),
    ("-cpus", "--cpus"),
    ("-mpid", "--pids-limit"),
];

/// Rewrites `args` (without argv\[0\]) for subcommand `sub`, whose options that take a value
/// are listed in `takes_value` (e.g. `["--name", "-e", ...]`), so the positional image can
/// be told apart from option values.
pub(crate) fn rewrite(args: Vec<OsString>, takes_value: &dyn Fn(&str) -> bool) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut image: Option<OsString> = None;
    let mut cmds: Option<OsString> = None;
    let mut iter = args.into_iter().peekable();
    // Words up to and including the subcommand name(s) are copied as they are; the
    // caller passes them separately, so everything here is options and positionals.
    while let Some(arg) = iter.next() {
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" || !s.starts_with('-') {
            // First positional (or end of options): the rest is the image and command.
            out.push(arg);
            out.extend(iter);
            break;
        }
        let (flag, inline) = match s.split_once('=') {
            Some((f, v)) => (f, Some(OsString::from(v))),
            None => (s, None),
        };
        let value = |iter: &mut std::iter::Peekable<std::vec::IntoIter<OsString>>| {
            inline.clone().or_else(|| iter.next())
        };
        match flag {
            "-img" => image = value(&mut iter),
            "-cmds" => cmds = value(&mut iter),
            "-mmem" => {
                if let Some(v) = value(&mut iter) {
                    out.push("--memory".into());
                    out.push(megabytes(v));
                }
            }
            _ => {
                if let Some((_, long)) = RENAMED.iter().find(|(seed, _)| *seed == flag) {
                    out.push((*long).into());
                    if let Some(v) = value(&mut iter) {
                        out.push(v);
                    }
                } else {
                    let needs_value = inline.is_none() && takes_value(flag);
                    out.push(arg);
                    if needs_value && let Some(v) = iter.next() {
                        out.push(v);
                    }
                }
            }
        }
    }
    if let Some(image) = image {
        out.push(image);
        if let Some(cmds) = cmds {
            out.extend(split_command(&cmds));
        }
    } else if let Some(cmds) = cmds {
        // `-cmds` without `-img`: the command still goes after the (docker-style) image.
        out.extend(split_command(&cmds));
    }
    out
}

/// `-mmem 200` is in megabytes; a value that already has a unit is kept.
fn megabytes(v: OsString) -> OsString {
    match v.to_str() {
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => format!("{s}m").into(),
        _ => v,
    }
}

/// `-cmds` holds a whole command line: split it on whitespace, honouring simple single and
/// double quotes as a shell would.
fn split_command(cmds: &OsString) -> Vec<OsString> {
    let Some(s) = cmds.to_str() else {
        return vec![cmds.clone()];
    };
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(OsString::from(std::mem::take(&mut cur)));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur.into());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(args: &[&str]) -> Vec<String> {
        let takes = |f: &str| matches!(f, "--name" | "-e" | "--env" | "--memory" | "-m");
        rewrite(args.iter().map(OsString::from).collect(), &takes)
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn seed_run_line_becomes_docker_syntax() {
        assert_eq!(
            rw(&[
                "-cpus",
                "0.5",
                "-mmem",
                "200",
                "-mpid",
                "1000",
                "-img",
                "busybox",
                "-cmds",
                "/bin/sh -c 'echo hi'",
                "-name",
                "test"
            ]),
            [
                "--cpus",
                "0.5",
                "--memory",
                "200m",
                "--pids-limit",
                "1000",
                "--name",
                "test",
                "busybox",
                "/bin/sh",
                "-c",
                "echo hi"
            ]
        );
    }

    #[test]
    fn seed_pull() {
        assert_eq!(
            rw(&["-img", "arm64v8/ubuntu:20.04"]),
            ["arm64v8/ubuntu:20.04"]
        );
        assert_eq!(rw(&["-img=busybox"]), ["busybox"]);
    }

    #[test]
    fn docker_syntax_is_untouched() {
        let args = [
            "--name", "web", "-e", "A=1", "-it", "busybox", "sh", "-name", "x",
        ];
        assert_eq!(rw(&args), args);
    }

    #[test]
    fn words_after_the_image_belong_to_the_container() {
        assert_eq!(
            rw(&["busybox", "-cmds", "x", "-img", "y"]),
            ["busybox", "-cmds", "x", "-img", "y"]
        );
        assert_eq!(rw(&["-e", "-img", "busybox"]), ["-e", "-img", "busybox"]);
    }

    #[test]
    fn mmem_with_unit_is_kept() {
        assert_eq!(rw(&["-mmem", "1g", "-img", "b"]), ["--memory", "1g", "b"]);
    }
}
