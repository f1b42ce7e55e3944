//! `attach`: a running detached container's output on our stdout and stderr until it
//! ends (then its exit code is ours), signals proxied to it (`--sig-proxy`, the
//! default), and with a terminal on both sides the detach keys (`--detach-keys`,
//! docker's default `ctrl-p,ctrl-q`) end the attach and leave the container running.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Result;
use engine::attach::Attached;
use engine::logs::Stream;

use crate::args::AttachArgs;
use crate::cmd::Status;
use crate::ctx::Ctx;

/// docker's default detach sequence.
const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// The signals `--sig-proxy` forwards (docker forwards all it can catch).
const PROXIED: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// docker's `--detach-keys` syntax: comma-separated `ctrl-<c>` or single characters.
pub(crate) fn parse_detach_keys(keys: &str) -> Result<Vec<u8>> {
    let invalid = || anyhow::anyhow!("Invalid detach keys ({keys}) provided");
    let mut out = Vec::new();
    for k in keys.split(',') {
        if let Some(c) = k.strip_prefix("ctrl-") {
            let [c] = c.as_bytes() else {
                return Err(invalid());
            };
            out.push(match c {
                b'a'..=b'z' => c - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(invalid()),
            });
        } else {
            let [c] = k.as_bytes() else {
                return Err(invalid());
            };
            out.push(*c);
        }
    }
    if out.is_empty() {
        return Err(invalid());
    }
    Ok(out)
}

pub(crate) fn attach(ctx: &Ctx, args: &AttachArgs) -> Result<()> {
    let keys = parse_detach_keys(args.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS))?;
    let rec = engine::containers::Containers::new(ctx.root()).resolve(&args.container)?;
    if rec.open_stdin && !args.no_stdin && !rec.tty {
        eprintln!(
            "WARNING: attach does not forward standard input yet; use --no-stdin to silence this"
        );
    }
    // With a terminal on both sides: raw mode, our input watched for the detach keys.
    let stdin = rustix::stdio::stdin();
    let raw = if rec.tty && !args.no_stdin {
        isolate::RawModeGuard::enter(stdin)?
    } else {
        None
    };
    let mut flags = Vec::new();
    if args.sig_proxy && !rec.tty {
        for sig in PROXIED {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(sig, Arc::clone(&flag))?;
            flags.push((sig, flag));
        }
    }
    let mut matched = 0usize;
    let mut tick = |id: &str| {
        for (sig, flag) in &flags {
            if flag.swap(false, Ordering::Relaxed)
                && let Some(s) = rustix::process::Signal::from_named_raw(*sig)
            {
                let _ = ctx.engine.kill(id, s);
            }
        }
        if raw.is_some() {
            let mut buf = [0u8; 64];
            let mut fds = [rustix::event::PollFd::new(
                &stdin,
                rustix::event::PollFlags::IN,
            )];
            if rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())).unwrap_or(0)
                > 0
                && let Ok(n) = rustix::io::read(stdin, &mut buf)
            {
                for b in &buf[..n] {
                    matched = if *b == keys[matched] {
                        matched + 1
                    } else {
                        usize::from(*b == keys[0])
                    };
                    if matched == keys.len() {
                        return true;
                    }
                }
            }
        }
        false
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let attached = ctx.engine.attach_output(&rec.id, &mut tick, &mut |e| {
        let w: &mut dyn Write = match e.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        w.write_all(e.log.as_bytes())?;
        w.flush()
    });
    drop(raw);
    match attached? {
        Attached::Detached | Attached::Exited(0) => Ok(()),
        Attached::Exited(code) => Err(Status(u8::try_from(code).unwrap_or(255)).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_as_docker_reads_them() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@,ctrl-_").unwrap(), [b'a', 0, 31]);
        for bad in ["", "ctrl-", "ctrl-1", "ab", "ctrl-p,"] {
            let e = parse_detach_keys(bad).unwrap_err().to_string();
            assert_eq!(e, format!("Invalid detach keys ({bad}) provided"));
        }
    }
}
