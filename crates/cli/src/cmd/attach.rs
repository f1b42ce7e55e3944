//! `attach`: a running detached container's output on our stdout and stderr until it
//! ends (then its exit code is ours), our stdin to its input when it was started with
//! `-i` (unless `--no-stdin`), signals proxied to it (`--sig-proxy`, the default), and
//! with a terminal on both sides the detach keys (`--detach-keys`, docker's default
//! `ctrl-p,ctrl-q`) end the attach and leave the container running.

use std::io::Write;
use std::os::unix::net::UnixStream;
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
    let input = if args.no_stdin {
        None
    } else {
        ctx.engine.attach_input(&rec.id)?
    };
    // With a terminal on both sides: raw mode, our input watched for the detach keys.
    let watch_keys = rec.tty && !args.no_stdin;
    let raw = if watch_keys {
        isolate::RawModeGuard::enter(rustix::stdio::stdin())?
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
    let detach = Arc::new(AtomicBool::new(false));
    let mut reader = (watch_keys || input.is_some()).then(|| InputReader {
        keys: KeyFilter {
            keys: if raw.is_some() { keys } else { Vec::new() },
            matched: 0,
        },
        input,
        detach: Arc::clone(&detach),
    });
    let mut tick = |id: &str| {
        // Our input starts to flow once the output is followed: nothing it causes is
        // missed.
        if let Some(r) = reader.take() {
            let _ = std::thread::Builder::new()
                .name("attach-input".into())
                .spawn(move || r.run());
        }
        for (sig, flag) in &flags {
            if flag.swap(false, Ordering::Relaxed)
                && let Some(s) = rustix::process::Signal::from_named_raw(*sig)
            {
                let _ = ctx.engine.kill(id, s);
            }
        }
        detach.load(Ordering::Relaxed)
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
        // As docker's client: the detach keys end the attach with this line and 1.
        Attached::Detached if detach.load(Ordering::Relaxed) => {
            eprintln!("read escape sequence");
            Err(Status(1).into())
        }
        Attached::Detached | Attached::Exited(0) => Ok(()),
        Attached::Exited(code) => Err(Status(u8::try_from(code).unwrap_or(255)).into()),
    }
}

/// Watches input for the detach keys: bytes that may start the sequence are held back,
/// and passed on when they turn out not to be it, as docker does.
struct KeyFilter {
    keys: Vec<u8>,
    matched: usize,
}

impl KeyFilter {
    /// What of `data` to pass on, and whether the whole sequence was typed (then what
    /// follows it is dropped).
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut pass = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            pass.extend_from_slice(data);
            return (pass, false);
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (pass, true);
                }
                continue;
            }
            pass.extend_from_slice(&self.keys[..self.matched]);
            self.matched = usize::from(b == self.keys[0]);
            if self.matched == 0 {
                pass.push(b);
            }
        }
        (pass, false)
    }
}

/// Our stdin, passed on to the container's input (when it has one) until EOF; with
/// detach keys (a terminal on both sides), until they are typed.
struct InputReader {
    keys: KeyFilter,
    input: Option<UnixStream>,
    detach: Arc<AtomicBool>,
}

impl InputReader {
    fn run(mut self) {
        let stdin = rustix::stdio::stdin();
        let mut buf = [0u8; 4096];
        loop {
            let n = match rustix::io::read(stdin, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            };
            let (pass, detach) = self.keys.feed(&buf[..n]);
            if let Some(s) = &mut self.input
                && s.write_all(&pass).is_err()
            {
                self.input = None;
            }
            if detach {
                self.detach.store(true, Ordering::Relaxed);
                return;
            }
        }
        // Our EOF ends our input only: the container's stdin stays open, as docker's.
        if let Some(s) = self.input {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
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

    #[test]
    fn detach_keys_are_held_back_until_they_turn_out_not_to_be_them() {
        let mut f = KeyFilter {
            keys: vec![16, 17],
            matched: 0,
        };
        assert_eq!(f.feed(b"ab"), (b"ab".to_vec(), false));
        // ctrl-p alone is held, then passed on with what broke the sequence.
        assert_eq!(f.feed(&[16]), (Vec::new(), false));
        assert_eq!(f.feed(b"x"), (vec![16, b'x'], false));
        // ctrl-p ctrl-p: the first is passed on, the second may start the sequence.
        assert_eq!(f.feed(&[16, 16]), (vec![16], false));
        assert_eq!(f.feed(&[17, b'z']), (Vec::new(), true));
        // Across reads, after other input.
        let mut f = KeyFilter {
            keys: vec![16, 17],
            matched: 0,
        };
        assert_eq!(f.feed(&[b'l', b's', 16]), (b"ls".to_vec(), false));
        assert_eq!(f.feed(&[17]), (Vec::new(), true));
        // Without keys (no terminal): everything passes.
        let mut f = KeyFilter {
            keys: Vec::new(),
            matched: 0,
        };
        assert_eq!(f.feed(&[16, 17]), (vec![16, 17], false));
    }
}
