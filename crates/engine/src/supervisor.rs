//! The [`Supervisor`]: the one owner of a running container, for a foreground `run`
//! (attached to the caller's descriptors, signals forwarded) and for the monitor of a
//! detached one alike. It starts the container with pipes (or the pty of `-t`), copies
//! its output into the json-file log (and to the caller), runs its health checks
//! (`health`), waits for it, checks for an OOM kill and records the end (releasing what
//! it held, removing `--rm` containers). The monitor's supervisor then applies the
//! restart policy (`restart`): it records the container as `restarting`, waits docker's
//! back-off and starts it again, until the policy or the user (`stop`, `kill`, `rm -f`)
//! ends the loop. A foreground run returns at the first exit, as docker's client does,
//! and hands the restarts over to a monitor.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result};
use crate::health::Prober;
use crate::lifecycle::{self, StartIo, Started, record_start_failure};
use crate::logs::{LogOpts, LogWriter, Stream, log_path};
use crate::record::{Record, Status, process_start};
use crate::recovery::{owner_alive, recover_locked};
use crate::restart::Backoff;
use crate::stdio::{Copier, InputServer, StdinPump, Tee};

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
    /// When it started.
    since: Instant,
    /// Its health checks, when it has some.
    prober: Option<Prober>,
    log: Option<LogWriter>,
    attach: Option<Attach>,
    /// A detached `-i` container: `attach` clients may feed its input.
    serve_input: bool,
    /// Told once the first run serves the container's streams, or why it could not.
    on_serving: Option<OnServing>,
}

/// What a monitor does once the container it started serves its streams (answer its
/// starter), or with the error that ended it instead.
pub(crate) struct OnServing(Box<ServingFn>);

/// [`OnServing`]'s function: `Ok` once the streams are served, or the error.
type ServingFn = dyn FnOnce(std::result::Result<(), &Error>) + Send;

impl std::fmt::Debug for OnServing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnServing")
    }
}

impl Supervisor {
    /// Starts container `id` with this process as its owner (a start by the user: the
    /// restart policy counts from zero again). A failed start is recorded in the
    /// container (docker's `created` with an error) and returned.
    pub(crate) fn start(engine: &Engine, id: &str, attach: Option<Attach>) -> Result<Begun> {
        Self::start_counting(engine, id, attach, false)
    }

    /// [`Supervisor::start`]; with `restarted`, the start is the restart policy's (its
    /// count and the user's stop are kept).
    pub(crate) fn start_counting(
        engine: &Engine,
        id: &str,
        attach: Option<Attach>,
        restarted: bool,
    ) -> Result<Begun> {
        let containers = Containers::new(&engine.config.root);
        let lock = containers.lock(id)?;
        let mut rec = containers.load(id)?;
        if rec.is_active() {
            if owner_alive(&rec) {
                return Ok(Begun::AlreadyRunning);
            }
            recover_locked(engine, &mut rec)?;
        }
        if !restarted {
            rec.state.restart_count = 0;
            rec.state.stopped_by_user = false;
        }
        Self::begin(engine, lock, rec, attach).map(|s| Begun::Started(Box::new(s)))
    }

    /// Restarts container `id`, which this process owns and which waits for its restart
    /// (see [`finish_owned`]); `None` when it is not to restart any more (stopped by the
    /// user meanwhile, or removed).
    fn restart(engine: &Engine, id: &str, owner: (u32, u64)) -> Result<Option<Supervisor>> {
        let containers = Containers::new(&engine.config.root);
        let Ok(lock) = containers.lock(id) else {
            return Ok(None);
        };
        let Ok(mut rec) = containers.load(id) else {
            return Ok(None);
        };
        if rec.state.status != Status::Restarting
            || (rec.state.monitor_pid, rec.state.monitor_start) != owner
        {
            return Ok(None);
        }
        if rec.state.stopped_by_user {
            lifecycle::cancel_restart(engine, &mut rec)?;
            return Ok(None);
        }
        Self::begin(engine, lock, rec, None).map(Some)
    }

    fn begin(
        engine: &Engine,
        lock: fsutil::FileLock,
        mut rec: Record,
        attach: Option<Attach>,
    ) -> Result<Supervisor> {
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
                if rec.state.status == Status::Restarting {
                    rec.state.status = Status::Exited;
                }
                record_start_failure(engine, &mut rec, &e);
                return Err(e);
            }
        };
        drop(lock);
        let prober = Prober::start(engine, &rec);
        Ok(Supervisor {
            engine: engine.clone(),
            id: rec.id.clone(),
            owner,
            started,
            since: Instant::now(),
            prober,
            log,
            serve_input: rec.open_stdin && attach.is_none(),
            attach,
            on_serving: None,
        })
    }

    /// Calls `f` once the container serves its streams (output copiers, input socket,
    /// signal forwarding), or with the error that ended it before.
    pub(crate) fn when_serving(
        &mut self,
        f: impl FnOnce(std::result::Result<(), &Error>) + Send + 'static,
    ) {
        self.on_serving = Some(OnServing(Box::new(f)));
    }

    /// Copies the container's streams until it exits, then records the end.
    pub(crate) fn wait(self) -> Result<Exit> {
        self.wait_run().map(|run| run.exit)
    }

    /// Copies the container's streams until it exits, then records the end: for a
    /// detached container whose restart policy restarts it, as `restarting`.
    fn wait_run(self) -> Result<Run> {
        let Supervisor {
            engine,
            id,
            owner,
            started,
            since,
            prober,
            log,
            attach,
            serve_input,
            on_serving,
        } = self;
        let Started {
            mut running,
            cgroup,
        } = started;
        let pid = running.pid();
        let may_restart = attach.is_none();
        let input_dir = serve_input.then(|| Containers::new(&engine.config.root).dir(&id));
        let serving = match &attach {
            Some(a) if a.forward_signals => isolate::SignalForwarder::start(pid)
                .map(Some)
                .map_err(|e| Error::os("forwarding signals", e)),
            _ => Ok(None),
        }
        .and_then(|forwarder| {
            Streams::start(&mut running, log, attach, input_dir.as_deref())
                .map(|streams| (forwarder, streams))
        });
        let (forwarder, streams) = match serving {
            Ok(s) => s,
            Err(e) => {
                // The container is recorded running: end it here, as an exit, rather than
                // leave it to recovery's sweep of containers whose monitor is gone.
                if let Some(p) = prober {
                    p.stop();
                }
                // Every process of it (with `--pid host`, killing the init is not enough).
                let _ = cgroup.kill_all();
                let _ = running.signal(libc::SIGKILL);
                let code = running.wait().map_or(255, |s| s.code());
                let _ = finish_owned(&engine, &id, owner, code, false, Err(e.to_string()));
                if let Some(OnServing(f)) = on_serving {
                    f(Err(&e));
                }
                return Err(e);
            }
        };
        if let Some(OnServing(f)) = on_serving {
            f(Ok(()));
        }
        engine.mark("run: output copiers started");
        let code = running.wait().map_or(255, |s| s.code());
        let ran = since.elapsed();
        if let Some(p) = prober {
            p.stop();
        }
        engine.mark("run: container exited (reaped)");
        let oom = code == 137 && cgroup.oom_killed().unwrap_or(false);
        streams.finish();
        drop(forwarder);
        engine.mark("run: output drained, threads joined");
        let restarting = finish_owned(&engine, &id, owner, code, oom, Ok(may_restart))?;
        Ok(Run {
            exit: Exit { code, oom },
            ran,
            restarting,
        })
    }

    /// The life of a detached container (its monitor's): run, and restart as its policy
    /// says with docker's back-off, until it ends for good.
    pub(crate) fn supervise(self) -> Result<()> {
        let (engine, id, owner) = (self.engine.clone(), self.id.clone(), self.owner);
        let mut backoff = Backoff::default();
        let mut sup = self;
        loop {
            let run = sup.wait_run()?;
            if !run.restarting {
                return Ok(());
            }
            if !wait_for_restart(&engine, &id, backoff.next(run.ran)) {
                return Ok(());
            }
            match Supervisor::restart(&engine, &id, owner) {
                Ok(Some(next)) => sup = next,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// One run of a container.
struct Run {
    exit: Exit,
    /// How long it ran.
    ran: Duration,
    /// Its restart policy restarts it.
    restarting: bool,
}

/// Waits `delay` before a restart, in slices, so that a `stop` or `rm -f` of the waiting
/// container ends the wait; false when it is not to restart any more.
fn wait_for_restart(engine: &Engine, id: &str, delay: Duration) -> bool {
    const SLICE: Duration = Duration::from_millis(50);
    let containers = Containers::new(&engine.config.root);
    let deadline = Instant::now() + delay;
    loop {
        match containers.load(id) {
            Ok(rec) if rec.state.status == Status::Restarting && !rec.state.stopped_by_user => {}
            // Stopped by the user (recorded by the restart), or removed.
            _ => return true,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SLICE));
    }
}

/// The threads moving a running container's streams.
struct Streams {
    proxy: Option<isolate::PtyProxy>,
    pump: Option<StdinPump>,
    copier: Option<Copier>,
    keep_stdin: Option<File>,
    input: Option<InputServer>,
}

impl Streams {
    /// With `input_dir` (a detached `-i` container's directory), `attach` clients may
    /// feed the container's stdin or terminal through a socket there.
    fn start(
        running: &mut isolate::Running,
        log: Option<LogWriter>,
        attach: Option<Attach>,
        input_dir: Option<&std::path::Path>,
    ) -> Result<Self> {
        let os = |what: &'static str| move |e: std::io::Error| Error::os(what, e);
        let mut sources: Vec<(OwnedFd, Stream)> = Vec::new();
        let (mut pump, mut keep_stdin, mut proxy, mut input) = (None, None, None, None);
        let mut tee = None;
        match (running.take_pty_master(), attach) {
            (Some(master), None) => {
                if let Some(dir) = input_dir {
                    let writer = master.try_clone().map_err(os("duplicating the terminal"))?;
                    input = Some(InputServer::start(dir, writer)?);
                }
                sources.push((master, Stream::Stdout));
            }
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
                match (running.stdin.take(), attach, input_dir) {
                    (Some(pipe), Some(a), _) => {
                        pump = Some(StdinPump::start(a.stdin, pipe)?);
                        tee = Some(Tee {
                            stdout: File::from(a.stdout),
                            stderr: File::from(a.stderr),
                        });
                    }
                    (Some(pipe), None, Some(dir)) => {
                        input = Some(InputServer::start(dir, pipe.into())?);
                    }
                    (pipe, a, _) => {
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
            input,
        })
    }

    /// The container exited: stop the input, drain the output.
    fn finish(self) {
        if let Some(p) = self.pump {
            p.stop();
        }
        drop(self.keep_stdin);
        drop(self.input);
        if let Some(p) = self.proxy {
            let _ = p.wait();
        }
        if let Some(c) = self.copier {
            c.finish(DRAIN_GRACE);
        }
    }
}

/// Records the end of a container this process owns, unless someone else already did
/// (the container was removed, or recovered). With `Ok(true)` (a detached container)
/// and a restart policy that restarts it, it is recorded as `restarting` and true is
/// returned; `Err(error)` records a container its monitor had to end (never restarted),
/// with the error in its state.
pub(crate) fn finish_owned(
    engine: &Engine,
    id: &str,
    owner: (u32, u64),
    code: i32,
    oom: bool,
    may_restart: std::result::Result<bool, String>,
) -> Result<bool> {
    let containers = Containers::new(&engine.config.root);
    let Ok(_lock) = containers.lock(id) else {
        return Ok(false); // removed (`rm -f`) meanwhile
    };
    let Ok(mut rec) = containers.load(id) else {
        return Ok(false);
    };
    if !rec.is_active() || (rec.state.monitor_pid, rec.state.monitor_start) != owner {
        return Ok(false);
    }
    let may_restart = match may_restart {
        Ok(may) => may,
        Err(error) => {
            rec.state.error = error;
            false
        }
    };
    let policy = rec.options.restart;
    if may_restart
        && policy.should_restart(code, rec.state.restart_count, rec.state.stopped_by_user)
    {
        lifecycle::finish_for_restart(engine, &mut rec, code, oom)?;
        return Ok(true);
    }
    lifecycle::finish(engine, &mut rec, code, oom)?;
    Ok(false)
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
            Begun::Started(s) => {
                let exit = s.wait()?;
                self.hand_over_restart(id, exit.code);
                Ok(exit)
            }
            Begun::AlreadyRunning => Err(Error::State(format!(
                "container {id} is already running: attaching to a running container is not supported"
            ))),
        }
    }
}

impl Engine {
    /// A foreground container ended: as docker's client returns at the container's exit
    /// while the daemon restarts it, its restart policy's restarts continue under a
    /// monitor (best effort: a failed restart is recorded in the container).
    fn hand_over_restart(&self, id: &str, code: i32) {
        let containers = Containers::new(&self.config.root);
        {
            let Ok(_lock) = containers.lock(id) else {
                return;
            };
            let Ok(mut rec) = containers.load(id) else {
                return;
            };
            let st = &rec.state;
            if rec.is_active()
                || !rec
                    .options
                    .restart
                    .should_restart(code, st.restart_count, st.stopped_by_user)
            {
                return;
            }
            rec.state.restart_count = rec.state.restart_count.saturating_add(1);
            if containers.save(&rec).is_err() {
                return;
            }
        }
        if let Err(e) = self.start_restarted(id) {
            self.debug(format_args!("restarting {id}: {e}"));
        }
    }
}
