//! `run`: create a container from an image and run it in the foreground (see `launch` for
//! the steps), or detached under a monitor (`-d`, see `monitor`). The exit code is the
//! container's, 128+N when a signal N killed it, and 125/126/127 when mydocker failed, the
//! command could not be invoked or was not found. Also `create`.

use crate::cli::RunArgs;
use crate::cmd::Status as ExitWith;
use crate::container::{self, Containers, Record};
use crate::ctx::Ctx;
use crate::launch::{self, StartIo};
use crate::logs::Stream;
use crate::monitor::{self, Copier, Handshake, StdinPump};
use anyhow::Result;
use std::time::Duration;

/// Docker's exit code when mydocker itself fails.
pub(crate) const EXIT_MYDOCKER: u8 = 125;

/// The exit code for a failed start: the isolate error's 125/126/127, else 125.
pub(crate) fn start_failure_code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<isolate::Error>())
        .and_then(|ie| u8::try_from(ie.exit_code()).ok())
        .unwrap_or(EXIT_MYDOCKER)
}

/// As docker: a container that failed to start stays `created` with the error (and the
/// exit code), unless `--rm` removes it.
pub(crate) fn record_start_failure(ctx: &Ctx, rec: &mut Record, e: &anyhow::Error, code: u8) {
    rec.state.error = format!("{e:#}");
    rec.state.exit_code = i32::from(code);
    rec.state.monitor_pid = 0;
    rec.state.monitor_start = 0;
    if rec.auto_remove {
        let _ = launch::remove(ctx, rec);
    } else {
        let _ = Containers::new(&ctx.root).save(rec);
    }
}

pub(crate) fn run(ctx: &Ctx, run: &RunArgs) -> Result<()> {
    monitor::check_log_flags(&run.log_driver, &run.log_opt)?;
    // Containers whose monitor died may hold addresses or ports this one needs.
    let _ = monitor::sweep(ctx);
    let rec = launch::create(ctx, run, launch::Rootfs::KeepMounted)?;
    if run.detach {
        let handshake = monitor::start_detached(ctx, &rec.id);
        if !matches!(
            handshake,
            Ok(Handshake::Started | Handshake::AlreadyRunning)
        ) {
            launch::unmount_rootfs(ctx, &rec);
        }
        return match handshake? {
            Handshake::Started | Handshake::AlreadyRunning => {
                println!("{}", rec.id);
                Ok(())
            }
            Handshake::Failed { code, error } => {
                eprintln!("mydocker: {error}");
                Err(ExitWith(code).into())
            }
        };
    }
    let code = foreground(ctx, rec, run.interactive)?;
    Err(ExitWith(code).into())
}

/// `create`: a container in state `created`; prints its ID.
pub(crate) fn create(ctx: &Ctx, run: &RunArgs) -> Result<()> {
    monitor::check_log_flags(&run.log_driver, &run.log_opt)?;
    let _ = monitor::sweep(ctx);
    let rec = launch::create(ctx, run, launch::Rootfs::Unmount)?;
    println!("{}", rec.id);
    Ok(())
}

/// Starts `rec` with this process as its monitor, copying its output to our terminal and
/// to its json log, forwarding signals; returns its exit code (`run`, `start -a`).
pub(crate) fn foreground(ctx: &Ctx, mut rec: Record, interactive: bool) -> Result<u8> {
    let containers = Containers::new(&ctx.root);
    let me = std::process::id();
    let me_start = container::process_start(me).unwrap_or(0);
    let prepared = containers
        .lock(&rec.id)
        .and_then(|lock| Ok((lock, monitor::open_log(ctx, &rec)?)));
    let (lock, log) = match prepared {
        Ok(p) => p,
        Err(e) => {
            // `run` keeps the rootfs `create` mounted for this start.
            launch::unmount_rootfs(ctx, &rec);
            return Err(e);
        }
    };
    rec.state.monitor_pid = me;
    rec.state.monitor_start = me_start;
    // The container gets pipes (or its own pty with -t), never our descriptors: we copy.
    let io = StartIo {
        stdin: if interactive {
            isolate::Stdio::Piped
        } else {
            isolate::Stdio::Null
        },
        stdout: isolate::Stdio::Piped,
        stderr: isolate::Stdio::Piped,
    };
    let mut started = match launch::start(ctx, &mut rec, io) {
        Ok(s) => s,
        Err(e) => {
            let code = start_failure_code(&e);
            eprintln!("mydocker: {e:#}");
            record_start_failure(ctx, &mut rec, &e, code);
            return Err(ExitWith(code).into());
        }
    };
    drop(lock);
    let forwarder = isolate::SignalForwarder::start(started.running.pid())?;
    let mut sources = Vec::new();
    // With a terminal and a log, the proxy writes the container's output into a pipe
    // that the copier passes on to our terminal and to the log.
    let proxy = match started.running.take_pty_master() {
        Some(master) if log.is_none() => Some(isolate::PtyProxy::start(master)?),
        Some(master) => {
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            let input = rustix::stdio::stdin().try_clone_to_owned()?;
            sources.push(monitor::source(r, Stream::Stdout));
            Some(isolate::PtyProxy::start_with(master, input, w)?)
        }
        None => None,
    };
    if let Some(out) = started.running.stdout.take() {
        sources.push(monitor::source(out, Stream::Stdout));
    }
    if let Some(err) = started.running.stderr.take() {
        sources.push(monitor::source(err, Stream::Stderr));
    }
    let pump = match started.running.stdin.take() {
        Some(pipe) => Some(StdinPump::start(pipe)?),
        None => None,
    };
    let copier = (!sources.is_empty())
        .then(|| Copier::start(sources, log, true))
        .transpose()?;
    let status = started.running.wait()?;
    if let Some(p) = pump {
        p.stop();
    }
    if let Some(p) = proxy {
        let _ = p.wait();
    }
    if let Some(c) = copier {
        c.finish(Duration::from_secs(3));
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
    monitor::finish_owned(ctx, &rec.id, me, me_start, code, oom)?;
    Ok(u8::try_from(code).unwrap_or(255))
}
