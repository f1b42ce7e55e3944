//! `cp`: docker's `CONTAINER:PATH` syntax on either side, `-` for tar streams.

use crate::args::CpArgs;
use crate::ctx::Ctx;
use anyhow::{Result, bail};
use engine::cp::{CopyOptions, CopySource, CopyTarget};
use std::io::Write;
use std::path::Path;

/// One side of a copy: `CONTAINER:PATH` or a host path, split as docker does (an
/// absolute path or one without `:` is the host's; `./a:b` too).
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => (Some(c), p),
        _ => (None, arg),
    }
}

pub(crate) fn cp(ctx: &Ctx, args: &CpArgs) -> Result<()> {
    let opts = CopyOptions {
        follow_link: args.follow_link,
        archive: args.archive,
    };
    let progress = |bytes: u64, dest: &str| {
        if !args.quiet && dest != "-" {
            eprintln!(
                "Successfully copied {} to {dest}",
                crate::format::human_size(bytes)
            );
        }
    };
    match (split(&args.source), split(&args.dest)) {
        ((Some(_), _), (Some(_), _)) => bail!("copying between containers is not supported"),
        ((None, _), (None, _)) => bail!("must specify at least one container source"),
        ((Some(c), src), (None, dst)) => {
            if src.is_empty() {
                bail!("filepath for container must not be empty");
            }
            let bytes = if dst == "-" {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                let n =
                    ctx.engine
                        .copy_from_container(c, src, CopyTarget::Stream(&mut out), opts)?;
                out.flush()?;
                n
            } else {
                ctx.engine
                    .copy_from_container(c, src, CopyTarget::Host(Path::new(dst)), opts)?
            };
            progress(bytes, dst);
        }
        ((None, src), (Some(c), dst)) => {
            if dst.is_empty() {
                bail!("filepath for container must not be empty");
            }
            let bytes = if src == "-" {
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                ctx.engine
                    .copy_to_container(CopySource::Stream(&mut input), c, dst, opts)?
            } else {
                ctx.engine
                    .copy_to_container(CopySource::Host(Path::new(src)), c, dst, opts)?
            };
            progress(bytes, &args.dest);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn container_paths_split_like_docker() {
        assert_eq!(split("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split("./a:b"), (None, "./a:b"));
        assert_eq!(split("file"), (None, "file"));
        assert_eq!(split("-"), (None, "-"));
        assert_eq!(split(":x"), (None, ":x"));
    }
}
