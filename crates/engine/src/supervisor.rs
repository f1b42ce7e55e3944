//! The [`Supervisor`]: the one owner of a running container, for a foreground `run`
//! (attached to the caller's descriptors, signals forwarded) and for the monitor of a
//! detached one alike. It starts the container with pipes (or the pty of `-t`), copies
//! its output into the json-file log (and to the caller), waits for it, checks for an OOM
//! kill and records the end (releasing what it held, removing `--rm` containers).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::Duration;

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result};
use crate::lifecycle::{self, StartIo, Started, record_start_failure};
use crate::logs::{LogOpts, LogWriter, Stream, log_path};
use crate::record::{Record, process_start};
use crate::recovery::{owner_alive, recover_locked};
use crate::stdio::{Copier, StdinPump, Tee};

/// How long the output copier may keep reading after the init exited (the PID namespace
/// ends every other process of the container, so this is a safety net only).
const DRAIN_GRACE: Duration = Duration::from_secs(3);

/// The caller's descriptors an attached container's streams are copied from and to. The
/// container never gets them: it gets pipes or its own pty.
#[derive(Debug)]
pub struct Attach {
    /// The caller's input: copied to the container's stdin with `-i`, or to its pty with
    /// `-t` (a terminal is put in raw mode meanwhile).
    pub stdin: OwnedFd,
    /// The caller's output.
    pub stdout: OwnedFd,
    /// The caller's error output.
    pub stderr: OwnedFd,
    /// Forward the signals this process receives to the container (docker's
    /// `--sig-proxy`).
    pub forward_signals: bool,
}

/// How a container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Its exit code, 128+N when signal N killed it.
    pub code: i32,
    /// Whether the kernel's OOM killer ended it.
    pub oom: bool,
}

/// The container's log writer; `None` with `--log-driver none`.
fn open_log(engine: &Engine, rec: &Record) -> Result<Option<LogWriter>> {
    if rec.log_driver == "none" {
        return Ok(None);
    }
    let opts = LogOpts::parse(&rec.log_opts)?;
    Ok(Some(LogWriter::open(&log_path(engine, &rec.id), opts)?))
}

/// What [`Supervisor::start`] came to.
#[derive(Debug)]
pub(crate) enum Begun {
    /// The container runs, owned by the supervisor.
    Started(Box<Supervisor>),
    /// Another owner already runs it (a concurrent `start`).
    AlreadyRunning,
}

/// The owner of a started container; see the module docs.
#[derive(Debug)]
pub(crate) struct Supervisor {
    engine: Engine,
    id: String,
    owner: (u32, u64),
    started: Started,
    log: Option<LogWriter>,
    attach: Option<Attach>,
}

impl Supervisor {
    /// Starts container `id` with this process as its owner. A failed start is recorded
    /// in the container (docker's `created` with an error) and returned.
    pub(crate) fn start(engine: &Engine, id: &str, attach: Option<Attach>) -> Result<Begun> {
        let containers = Containers::new(&engine.config.root);
        let lock = containers.lock(id)?;
        let mut rec = containers.load(id)?;
        if rec.is_active() {
            if owner_alive(&rec) {
                return Ok(Begun::AlreadyRunning);
            }
            recover_locked(engine, &mut rec)?;
        }
        let log = open_log(engine, &rec)?;
        let me = std::process::id();
        let owner = (me, process_start(me).unwrap_or(0));
        rec.state.monitor_pid = owner.0;
        rec.state.monitor_start = owner.1;
        let io = StartIo {
            // `-i` without an attached client: stdin stays open (and empty), as docker.
            stdin: if rec.open_stdin {
                isolate::Stdio::Piped
            } else {
                isolate::Stdio::Null
            },
            stdout: isolate::Stdio::Piped,
            stderr: isolate::Stdio::Piped,
        };
        let started = match lifecycle::start(engine, &mut rec, io) {
            Ok(s) => s,
            Err(e) => {
                record_start_failure(engine, &mut rec, &e);
                return Err(e);
            }
        };
        drop(lock);
        Ok(Begun::Started(Box::new(Supervisor {
            engine: engine.clone(),
            id: id.to_owned(),
            owner,
            started,
            log,
            attach,
        })))
    }

    /// Copies the container's streams until it exits, then records the end.
    pub(crate) fn wait(self) -> Result<Exit> {
        let Supervisor {
            engine,
            id,
            owner,
            started,
            log,
            attach,
        } = self;
        let Started {
            mut running,
            cgroup,
        } = started;
        let pid = running.pid();
        let forwarder = match &attach {
            Some(a) if a.forward_signals => Some(
                isolate::SignalForwarder::start(pid)
                    .map_err(|e| Error::os("forwarding signals", e))?,
            ),
            _ => None,
        };
        let streams = Streams::start(&mut running, log, attach)?;
        engine.mark("run: output copiers started");
        let code = running.wait().map_or(255, |s| s.code());
        engine.mark("run: container exited (reaped)");
        let oom = code == 137 && cgroup.oom_killed().unwrap_or(false);
        streams.finish();
        drop(forwarder);
        engine.mark("run: output drained, threads joined");
        finish_owned(&engine, &id, owner, code, oom)?;
        Ok(Exit { code, oom })
    }
}

/// The threads moving a running container's streams.
struct Streams {
    proxy: Option<isolate::PtyProxy>,
    pump: Option<StdinPump>,
    copier: Option<Copier>,
    keep_stdin: Option<File>,
}

impl Streams {
    fn start(
        running: &mut isolate::Running,
        log: Option<LogWriter>,
        attach: Option<Attach>,
    ) -> Result<Self> {
        let os = |what: &'static str| move |e: std::io::Error| Error::os(what, e);
        let mut sources: Vec<(OwnedFd, Stream)> = Vec::new();
        let (mut pump, mut keep_stdin, mut proxy) = (None, None, None);
        let mut tee = None;
        match (running.take_pty_master(), attach) {
            (Some(master), None) => sources.push((master, Stream::Stdout)),
            (Some(master), Some(a)) if log.is_none() => {
                proxy = Some(
                    isolate::PtyProxy::start_with(master, a.stdin, a.stdout)
                        .map_err(os("proxying the terminal"))?,
                );
            }
            (Some(master), Some(a)) => {
                // The proxy writes the container's output into a pipe that the copier
                // passes on to the caller and to the log.
                let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                    .map_err(|e| Error::os("pipe", e))?;
                sources.push((r, Stream::Stdout));
                proxy = Some(
                    isolate::PtyProxy::start_with(master, a.stdin, w)
                        .map_err(os("proxying the terminal"))?,
                );
                tee = Some(Tee {
                    stdout: File::from(a.stdout),
                    stderr: File::from(a.stderr),
                });
            }
            (None, attach) => {
                if let Some(out) = running.stdout.take() {
                    sources.push((out.into(), Stream::Stdout));
                }
                if let Some(err) = running.stderr.take() {
                    sources.push((err.into(), Stream::Stderr));
                }
                match (running.stdin.take(), attach) {
                    (Some(pipe), Some(a)) => {
                        pump = Some(StdinPump::start(a.stdin, pipe)?);
                        tee = Some(Tee {
                            stdout: File::from(a.stdout),
                            stderr: File::from(a.stderr),
                        });
                    }
                    (pipe, a) => {
                        keep_stdin = pipe;
                        tee = a.map(|a| Tee {
                            stdout: File::from(a.stdout),
                            stderr: File::from(a.stderr),
                        });
                    }
                }
            }
        }
        let copier = if sources.is_empty() {
            None
        } else {
            Some(Copier::start(sources, log, tee)?)
        };
        Ok(Streams {
            proxy,
            pump,
            copier,
            keep_stdin,
        })
    }

    /// The container exited: stop the input, drain the output.
    fn finish(self) {
        if let Some(p) = self.pump {
            p.stop();
        }
        drop(self.keep_stdin);
        if let Some(p) = self.proxy {
            let _ = p.wait();
        }
        if let Some(c) = self.copier {
            c.finish(DRAIN_GRACE);
        }
    }
}

/// Records the end of a container this process owns, unless someone else already did
/// (the container was removed, or recovered).
pub(crate) fn finish_owned(
    engine: &Engine,
    id: &str,
    owner: (u32, u64),
    code: i32,
    oom: bool,
) -> Result<()> {
    let containers = Containers::new(&engine.config.root);
    let Ok(_lock) = containers.lock(id) else {
        return Ok(()); // removed (`rm -f`) meanwhile
    };
    let Ok(mut rec) = containers.load(id) else {
        return Ok(());
    };
    if !rec.is_active() || (rec.state.monitor_pid, rec.state.monitor_start) != owner {
        return Ok(());
    }
    lifecycle::finish(engine, &mut rec, code, oom)
}

impl Engine {
    /// Starts container `id` in the foreground with this process as its owner (`run`
    /// without `-d`, `start -a`): its output goes to `attach`'s descriptors and to its
    /// log, the caller's input to it, signals are forwarded; returns how it ended.
    ///
    /// # Errors
    /// The start failed (its `exit_code` is docker's 125/126/127; the container stays
    /// `created` with the error, or is removed for `--rm`), or it is already running.
    pub fn run_attached(&self, id: &str, attach: Attach) -> Result<Exit> {
        match Supervisor::start(self, id, Some(attach))? {
            Begun::Started(s) => s.wait(),
            Begun::AlreadyRunning => Err(Error::State(format!(
                "container {id} is already running: attaching to a running container is not supported"
            ))),
        }
    }
}
