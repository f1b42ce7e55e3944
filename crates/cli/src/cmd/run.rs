//! `run`: create a container from an image and run it in the foreground (see `launch` for
//! the steps). The exit code is the container's, 128+N when a signal N killed it, and
//! 125/126/127 when mydocker failed, the command could not be invoked or was not found.

use crate::cli::RunArgs;
use crate::cmd::Status as ExitWith;
use crate::container::Containers;
use crate::ctx::Ctx;
use crate::launch::{self, StartIo};
use anyhow::{Result, bail};

/// Docker's exit code when mydocker itself fails.
pub(crate) const EXIT_MYDOCKER: u8 = 125;

/// The exit code for a failed start: the isolate error's 125/126/127, else 125.
pub(crate) fn start_failure_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<isolate::Error>())
        .and_then(|ie| u8::try_from(ie.exit_code()).ok())
        .unwrap_or(EXIT_MYDOCKER)
}

pub(crate) fn run(ctx: &Ctx, run: &RunArgs) -> Result<()> {
    if run.detach {
        bail!(
            "run -d needs the container monitor, which is not available yet: run in the foreground"
        );
    }
    let mut rec = launch::create(ctx, run)?;
    let io = StartIo {
        stdin: if run.interactive {
            isolate::Stdio::Inherit
        } else {
            isolate::Stdio::Null
        },
        stdout: isolate::Stdio::Inherit,
        stderr: isolate::Stdio::Inherit,
    };
    let mut started = match launch::start(ctx, &mut rec, io) {
        Ok(s) => s,
        Err(e) => {
            let code = start_failure_code(&e);
            eprintln!("mydocker: {e:#}");
            // As docker: the container stays `created` with the error, unless `--rm`.
            rec.state.error = format!("{e:#}");
            rec.state.exit_code = i32::from(code);
            if rec.auto_remove {
                let _ = launch::remove(ctx, &rec);
            } else {
                let _ = Containers::new(&ctx.root).save(&rec);
            }
            return Err(ExitWith(code).into());
        }
    };
    let forwarder = isolate::SignalForwarder::start(started.running.pid())?;
    let proxy = match started.running.take_pty_master() {
        Some(master) => Some(isolate::PtyProxy::start(master)?),
        None => None,
    };
    let status = started.running.wait()?;
    if let Some(p) = proxy {
        let _ = p.wait();
    }
    drop(forwarder);
    let code = status.code();
    let oom = code == 137 && started.cgroup.oom_killed().unwrap_or(false);
    if oom {
        eprintln!(
            "mydocker: container {} was killed: out of memory (OOM)",
            &rec.id[..12]
        );
    }
    launch::finish(ctx, &mut rec, code, oom)?;
    Err(ExitWith(u8::try_from(code).unwrap_or(255)).into())
}
