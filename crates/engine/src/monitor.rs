//! The per-container monitor of a detached container (`run -d`, `start`): the binary
//! re-executed as `mydocker monitor`, in a session of its own (no controlling terminal,
//! so the terminal's SIGHUP/SIGINT never reach it), that owns the container through a
//! [`Supervisor`] for its whole life.
//!
//! The starter ([`Engine::start_detached`]) and the monitor talk over a socketpair in
//! typed frames ([`Frame`]): the starter sends the engine's configuration and the
//! container's ID; the monitor answers with warnings, then one outcome: started, already
//! running (another owner), or failed (docker's exit code and the reason). The starter
//! returns once the container really runs; the monitor outlives it.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::{Engine, EngineConfig, Reporter};
use crate::containers::Containers;
use crate::error::{Error, Result};
use crate::recovery::{owner_alive, recover_locked};
use crate::supervisor::{Begun, Supervisor};

/// The environment variable that marks the monitor (whose stdin is its end of the
/// channel).
const MONITOR_ENV: &str = "_MYDOCKER_MONITOR";

/// One frame between the starter and the monitor: a line of JSON.
#[derive(Debug, Serialize, Deserialize)]
enum Frame {
    /// Starter → monitor: what to start, and with which configuration.
    Start {
        config: Box<EngineConfig>,
        id: String,
        /// The start is a restart by the restart policy (its count is kept).
        #[serde(default)]
        restarted: bool,
    },
    /// Monitor → starter: a warning to show.
    Warning(String),
    /// Monitor → starter: the container's command runs.
    Started,
    /// Monitor → starter: another owner already runs it.
    AlreadyRunning,
    /// Monitor → starter: it could not start.
    Failed {
        /// Docker's exit code (125, 126, 127).
        code: u8,
        /// Why.
        error: String,
    },
}

fn send(sock: &mut UnixStream, frame: &Frame) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(frame).map_err(std::io::Error::other)?;
    line.push(b'\n');
    sock.write_all(&line)
}

fn receive(reader: &mut BufReader<UnixStream>) -> std::io::Result<Option<Frame>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(std::io::Error::other)
}

/// The outcome of [`Engine::start_detached`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detached {
    /// The container's command runs under a new monitor.
    Started,
    /// Another owner already runs it.
    AlreadyRunning,
}

impl Engine {
    /// Starts container `id` under a new monitor process and returns once its command
    /// runs (or with why it could not start: the error's `exit_code` is docker's). The
    /// binary must call [`helper_main`] first thing in its `main`.
    ///
    /// # Errors
    /// The start failed (recorded in the container), or the monitor could not be run.
    pub fn start_detached(&self, id: &str) -> Result<Detached> {
        self.start_monitor(id, false)
    }

    /// [`Engine::start_detached`] for a restart by the restart policy.
    pub(crate) fn start_restarted(&self, id: &str) -> Result<Detached> {
        self.start_monitor(id, true)
    }

    fn start_monitor(&self, id: &str, restarted: bool) -> Result<Detached> {
        let (mine, theirs) = UnixStream::pair().map_err(|e| Error::os("socketpair", e))?;
        let mut cmd = std::process::Command::new("/proc/self/exe");
        // The channel is the monitor's stdin; it reads its request there, then puts
        // /dev/null in its place.
        cmd.arg0("mydocker")
            .arg("monitor")
            .env(MONITOR_ENV, "1")
            .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::os("starting the container's monitor", e))?;
        drop(cmd);
        let mut writer = mine.try_clone().map_err(|e| Error::os("socketpair", e))?;
        let start = Frame::Start {
            config: Box::new(self.config.clone()),
            id: id.to_owned(),
            restarted,
        };
        let mut reader = BufReader::new(mine);
        let outcome = send(&mut writer, &start)
            .and_then(|()| {
                loop {
                    match receive(&mut reader)? {
                        Some(Frame::Warning(w)) => self.warn(w),
                        other => break Ok(other),
                    }
                }
            })
            .map_err(|e| Error::os("talking to the container's monitor", e))?;
        match outcome {
            Some(Frame::Started) => Ok(Detached::Started),
            Some(Frame::AlreadyRunning) => Ok(Detached::AlreadyRunning),
            Some(Frame::Failed { code, error }) => {
                let _ = child.wait(); // it exits right after saying so
                Err(Error::StartFailed {
                    code,
                    message: error,
                })
            }
            _ => {
                let status = child.wait().ok();
                self.monitor_died(id);
                Err(Error::State(format!(
                    "the container's monitor exited before the container started ({})",
                    status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string())
                )))
            }
        }
    }

    /// The monitor died before saying anything: undo whatever its start left behind.
    fn monitor_died(&self, id: &str) {
        let containers = Containers::new(&self.config.root);
        if let Ok(_lock) = containers.lock(id)
            && let Ok(mut rec) = containers.load(id)
        {
            if rec.is_active() && !owner_alive(&rec) {
                let _ = recover_locked(self, &mut rec);
            } else if !rec.is_active() {
                crate::lifecycle::release(self, &rec);
            }
        }
    }
}

/// Sends warnings to the starter until the outcome is known; later ones are dropped
/// (nobody reads them any more).
struct ToStarter(Mutex<Option<UnixStream>>);

impl Reporter for ToStarter {
    fn warn(&self, msg: &str) {
        if let Ok(mut guard) = self.0.lock()
            && let Some(sock) = guard.as_mut()
        {
            let _ = send(sock, &Frame::Warning(msg.to_owned()));
        }
    }
}

/// Runs the helper modes of the binary: the container's init (`mydocker init`, see
/// `isolate::init_main`) and the monitor of a detached container (`mydocker monitor`).
/// Call it first thing in `main`; it returns only when the binary was invoked otherwise.
pub fn helper_main() {
    match std::env::args_os().nth(1) {
        Some(a) if a == "init" => isolate::init_main(),
        Some(a) if a == "monitor" && std::env::var_os(MONITOR_ENV).is_some() => monitor_main(),
        _ => {}
    }
}

/// The monitor process: never returns.
fn monitor_main() -> ! {
    let sock = match rustix::stdio::stdin().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(_) => std::process::exit(125),
    };
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    std::process::exit(match monitor(sock) {
        Ok(()) => 0,
        Err(_) => 125,
    })
}

fn monitor(sock: UnixStream) -> Result<()> {
    // A session of our own: no controlling terminal. (Fails only for a group leader,
    // which a freshly spawned child is not.)
    let _ = rustix::process::setsid();
    ignore_terminal_signals();
    let mut writer = sock.try_clone().map_err(|e| Error::os("socketpair", e))?;
    let mut reader = BufReader::new(sock);
    let Ok(Some(Frame::Start {
        config,
        id,
        restarted,
    })) = receive(&mut reader)
    else {
        return Err(Error::State("no start request from the starter".into()));
    };
    let reporter = Arc::new(ToStarter(Mutex::new(writer.try_clone().ok())));
    let engine = Engine {
        config: *config,
        reporter: reporter.clone(),
        trace: None,
    };
    let say = |writer: &mut UnixStream, frame: Frame| {
        let _ = send(writer, &frame);
    };
    let mut sup = match Supervisor::start_counting(&engine, &id, None, restarted) {
        Ok(Begun::Started(s)) => s,
        Ok(Begun::AlreadyRunning) => {
            say(&mut writer, Frame::AlreadyRunning);
            return Ok(());
        }
        Err(e) => {
            say(
                &mut writer,
                Frame::Failed {
                    code: e.exit_code(),
                    error: e.to_string(),
                },
            );
            return Ok(());
        }
    };
    // The starter gets its answer once the container serves its streams: a failure to
    // (say, to listen for `attach` input) is then the start's error, not a silent exit.
    sup.when_serving(move |serving| {
        let frame = match serving {
            Ok(()) => Frame::Started,
            Err(e) => Frame::Failed {
                code: e.exit_code(),
                error: e.to_string(),
            },
        };
        say(&mut writer, frame);
        if let Ok(mut guard) = reporter.0.lock() {
            guard.take();
        }
        drop(writer);
        drop(reader);
    });
    sup.supervise()
}

/// Handled (not ignored) so that the container's init, which resets its signals, starts
/// with default dispositions anyway.
fn ignore_terminal_signals() {
    let ignored = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
    ] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&ignored));
    }
}
