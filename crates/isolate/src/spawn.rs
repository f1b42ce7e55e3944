//! Parent side: creating the container process ([`Container::spawn`]), letting it go
//! ([`Pending::start`]) and waiting for it ([`Running::wait`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{Mount, Spec};

use crate::channel::{ExecOutcome, ParentChannel, ReadyReport, RunConfig, StepError};
use crate::error::{Error, ProtocolError};
use crate::exe::ExeProtection;
use crate::launch::{launch_init, wait_pid};
use crate::sys;
use crate::user::UserRequest;

/// Where one standard stream of the container goes (ignored for a terminal: then all
/// three are the pty).
#[derive(Debug, Default)]
pub enum Stdio {
    /// The caller's own descriptor. Only for descriptors the caller owns and may hand to
    /// the container (an OCI runtime given pipes by its shim): a terminal or file of the
    /// user's would let the container read, truncate or type into it.
    Inherit,
    /// `/dev/null` (docker's stdin without `-i`). The default.
    #[default]
    Null,
    /// A new pipe; the caller's end is in [`Pending`]'s `stdin`/`stdout`/`stderr`.
    Piped,
    /// This descriptor (a log pipe of the monitor, a file).
    Fd(OwnedFd),
}

/// Options of [`Container::spawn`].
#[derive(Debug)]
pub struct SpawnOptions {
    /// The binary whose `main` calls [`init_main`](crate::init_main) when given
    /// `init_args`. Default: `/proc/self/exe`.
    pub init_exe: PathBuf,
    /// `argv` of the init, e.g. `["mydocker", "init"]`.
    pub init_args: Vec<String>,
    /// Standard input of the container.
    pub stdin: Stdio,
    /// Standard output of the container.
    pub stdout: Stdio,
    /// Standard error of the container.
    pub stderr: Stdio,
    /// Run a tiny reaping init as PID 1 that forwards signals to the command (`--init`).
    pub reaper: bool,
    /// How the init binary is protected from the container.
    pub exe_protection: ExeProtection,
    /// Mounts that assemble the rootfs, as a storage driver describes it (an `overlay`
    /// of layers, a `bind` of a copied tree, an `aufs` union). Empty (the default):
    /// `root.path` is an already prepared directory.
    ///
    /// Otherwise the init performs them in order, in the container's new mount namespace
    /// once its mount tree no longer propagates to the host, before binding the rootfs:
    /// a destination of `/` is `root.path` itself, any other destination is relative to
    /// it (resolved inside it). The host never sees them and they vanish with the
    /// container, so the caller has nothing to unmount. `overlay`, `aufs` and other
    /// filesystems are mounted with `mount(2)` and the options as its data string
    /// (flag words such as `ro` or `nodev` become mount flags); when the data exceeds a
    /// page, the `lowerdir` entries are made relative to their longest common parent
    /// directory, which the init enters for the mount. A `bind` (or `rbind`) mount
    /// clones `source`.
    pub rootfs_mounts: Vec<Mount>,
    /// A user to resolve inside the container (docker's `-u`, the image's `User`),
    /// from the container's own `/etc/passwd` and `/etc/group` once its mounts are in
    /// place. `None` (the default): `process.user` is used as given.
    ///
    /// See [`ResolvedUser::apply_to`](crate::user::ResolvedUser::apply_to) for what it
    /// sets; an unknown name fails the start with an [`InitFailure`](crate::InitFailure)
    /// of [`Stage::User`](crate::Stage::User) carrying docker's message (exit code 125).
    pub user: Option<UserRequest>,
    /// Have the init report when each of its setup steps ended ([`Running::phases`]);
    /// off by default (it costs a message).
    pub trace: bool,
    /// How many of the caller's descriptors after the standard streams (3, 4, ...) the
    /// container's process inherits as they are (runc's `--preserve-fds`). They must not
    /// be close-on-exec. Default 0: nothing but 0, 1 and 2.
    pub preserve_fds: u32,
    /// The state an OCI runtime passes to its hooks: with it, the init runs the spec's
    /// `createContainer` hooks (in the container's mount namespace, before `pivot_root`)
    /// and `startContainer` hooks (after the start gate, before the user's command), each
    /// with this state (its `pid` set to the init's host pid) on standard input; see
    /// [`hooks`](crate::hooks). `None` (the default): those hooks are not run.
    pub hook_state: Option<oci_spec::runtime::State>,
    /// A mount namespace (`/proc/PID/ns/mnt` of another container) whose `/dev/shm`
    /// becomes this container's `/dev/shm` (docker's `--ipc container:NAME`); the init
    /// clones it from inside that namespace. `None` (the default): the spec's mounts.
    pub shm_from: Option<PathBuf>,
}

impl SpawnOptions {
    /// Options with the current executable as init, called with `init_args`.
    pub fn new<S: Into<String>>(init_args: impl IntoIterator<Item = S>) -> Self {
        Self {
            init_exe: PathBuf::from("/proc/self/exe"),
            init_args: init_args.into_iter().map(Into::into).collect(),
            stdin: Stdio::Null,
            stdout: Stdio::Null,
            stderr: Stdio::Null,
            reaper: false,
            exe_protection: ExeProtection::default(),
            rootfs_mounts: Vec::new(),
            user: None,
            trace: false,
            preserve_fds: 0,
            hook_state: None,
            shm_from: None,
        }
    }
}

/// How the container's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// Docker's exit code: the process's own, or 128+N when killed by signal N.
    pub fn code(&self) -> i32 {
        match *self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }

    pub(crate) fn from_wait(status: rustix::process::WaitStatus) -> Option<Self> {
        if let Some(c) = status.exit_status() {
            Some(ExitStatus::Exited(c))
        } else {
            status.terminating_signal().map(ExitStatus::Signaled)
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Entry point of the parent-side API.
#[derive(Debug)]
pub struct Container;

impl Container {
    /// Create the container's process: `clone(2)` into the spec's namespaces, exec the
    /// init, send it the spec. The init sets the container up while the caller puts
    /// [`Pending::pid`] in its cgroup and sets up networking; then call
    /// [`Pending::start`].
    ///
    /// `spec.root.path` must be the absolute path of the prepared rootfs (or, with
    /// [`SpawnOptions::rootfs_mounts`], of the directory they are mounted on); the spec
    /// must ask for a mount namespace.
    pub fn spawn(spec: &Spec, opts: SpawnOptions) -> Result<Pending, Error> {
        let process = spec.process().as_ref().ok_or(Error::InvalidSpec {
            reason: "spec has no process",
        })?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::InvalidSpec {
                reason: "the process has no command (process.args is empty)",
            });
        }
        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .ok_or(Error::InvalidSpec {
                reason: "spec has no root",
            })?;
        if !rootfs.is_absolute() {
            return Err(Error::InvalidSpec {
                reason: "root.path must be absolute",
            });
        }
        if !rootfs.is_dir() {
            return Err(Error::Path {
                op: "rootfs",
                path: rootfs,
                source: io::ErrorKind::NotFound.into(),
            });
        }
        check_rootfs_mounts(&opts.rootfs_mounts)?;
        let plan = crate::nsplan::NamespacePlan::new(spec)?;
        let terminal = process.terminal().unwrap_or(false);

        // With a terminal, the init's own streams are /dev/null until it makes the pty
        // its streams: nothing of the caller's is ever in the container's view.
        let (stdin, stdout, stderr) = if terminal {
            (Stdio::Null, Stdio::Null, Stdio::Null)
        } else {
            (opts.stdin, opts.stdout, opts.stderr)
        };
        // The mappings of a new user namespace are written before the init binary is
        // executed: an exec by an unmapped uid would drop the namespace root's
        // capabilities.
        let write_maps = |pid: i32| crate::nsplan::write_id_maps(pid, spec);
        let before_exec: Option<&dyn Fn(i32) -> io::Result<()>> = if plan.new_user_namespace {
            Some(&write_maps)
        } else {
            None
        };
        let launched = plan.in_pid_namespace(|| {
            launch_init(
                plan.clone_flags,
                &opts.init_exe,
                &opts.init_args,
                opts.exe_protection,
                [stdin, stdout, stderr],
                opts.preserve_fds,
                before_exec,
            )
        })?;
        let [stdin, stdout, stderr] = launched.stdio;
        let mut pending = Pending {
            pid: launched.pid,
            ch: launched.ch,
            reaped: false,
            ready: None,
            stdin,
            stdout,
            stderr,
        };
        let hook_state = opts.hook_state.map(|mut state| {
            state.set_pid(Some(pending.pid));
            state
        });
        pending
            .ch
            .send_run(RunConfig {
                spec: spec.clone(),
                rootfs,
                reaper: opts.reaper,
                rootfs_mounts: opts.rootfs_mounts,
                user: opts.user,
                trace: opts.trace,
                hook_state,
                shm_from: opts.shm_from,
            })
            .map_err(|e| pending.died_or(e, "receiving its configuration"))?;
        Ok(pending)
    }
}

/// Refuse rootfs mounts the init could not perform, before creating anything.
fn check_rootfs_mounts(mounts: &[Mount]) -> Result<(), Error> {
    for m in mounts {
        if !m.destination().is_absolute() {
            return Err(Error::InvalidSpec {
                reason: "rootfs mount destinations must be absolute (/ is root.path)",
            });
        }
        let bind = m
            .options()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o == "bind" || o == "rbind");
        if !bind && m.typ().as_deref().is_none_or(str::is_empty) {
            return Err(Error::InvalidSpec {
                reason: "a rootfs mount has no type",
            });
        }
    }
    Ok(())
}

/// A container whose init is setting up and waits for [`Pending::start`].
///
/// Dropping it without starting kills and reaps the init.
#[derive(Debug)]
pub struct Pending {
    pub(crate) pid: i32,
    pub(crate) ch: ParentChannel,
    pub(crate) reaped: bool,
    /// What the init reported once ready, when [`Pending::wait_ready`] was called.
    pub(crate) ready: Option<ReadyReport>,
    /// The caller's end of the container's stdin, with [`Stdio::Piped`].
    pub stdin: Option<File>,
    /// The caller's end of the container's stdout, with [`Stdio::Piped`].
    pub stdout: Option<File>,
    /// The caller's end of the container's stderr, with [`Stdio::Piped`].
    pub stderr: Option<File>,
}

impl Pending {
    /// Host pid of the container's init (PID 1 inside): put it in the container's cgroup
    /// and move network interfaces into `/proc/<pid>/ns/net` before [`Pending::start`].
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// For a caller whose own setup failed between [`Container::spawn`] and
    /// [`Pending::start`] (joining the cgroup, the network): if the init had already
    /// failed (an unknown user, a missing lowerdir...), which is why the caller's step
    /// failed, its typed error; `None` while it was alive. The init is killed and reaped
    /// either way.
    pub fn failure(mut self) -> Option<Error> {
        use rustix::process::{WaitId, WaitIdOptions};
        let pid = rustix::process::Pid::from_raw(self.pid)?;
        let exited = rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        )
        .ok()
        .flatten()
        .is_some();
        // The init closes its end of the channel (exit_files) before it leaves its
        // namespaces and long before it is a zombie: a caller whose step failed
        // because the init's namespaces are gone must see that as an exit too.
        if !exited && !self.ch.0.peer_closed() {
            return None;
        }
        match self.ch.wait_ready() {
            Err(e @ (StepError::Init(_) | StepError::Exec(_))) => {
                Some(self.step_failed(e, "it was ready"))
            }
            _ => None,
        }
    }

    /// Wait for the init to finish its setup, give the go-ahead, and return once the
    /// user's command has really been executed, or with its typed exec error.
    pub fn start(mut self) -> Result<Running, Error> {
        let ReadyReport {
            console,
            warnings,
            mut phases,
        } = self.take_ready()?;
        let trace = !phases.is_empty();
        let mut mark = |name: &str| {
            if trace {
                phases.push(crate::Phase {
                    name: name.to_owned(),
                    at_ns: crate::monotonic_ns(),
                });
            }
        };
        mark("parent: init ready");
        if let Err(e) = self.ch.go_ahead() {
            return Err(self.died_or(e, "the go-ahead"));
        }
        match self.ch.wait_exec() {
            Ok(ExecOutcome::Executed) => {}
            Ok(ExecOutcome::ExecFailed(f)) => {
                self.reap();
                return Err(Error::Exec(f));
            }
            Ok(ExecOutcome::Failed(f)) => {
                self.reap();
                return Err(Error::Init(f));
            }
            Err(e) => return Err(self.died_or(e, "executing the command")),
        }
        mark("parent: command executed (channel closed on exec)");
        self.reaped = true; // ownership of the process moves to Running
        Ok(Running {
            pid: self.pid,
            status: None,
            pty_master: console,
            warnings,
            phases,
            stdin: self.stdin.take(),
            stdout: self.stdout.take(),
            stderr: self.stderr.take(),
        })
    }

    pub(crate) fn step_failed(&mut self, e: StepError, step: &'static str) -> Error {
        match e {
            StepError::Init(f) => {
                self.reap();
                Error::Init(f)
            }
            StepError::Exec(f) => {
                self.reap();
                Error::Exec(f)
            }
            StepError::Closed => {
                let status = self.reap();
                Error::Protocol(ProtocolError::Died { step, status })
            }
            StepError::Protocol(p) => self.died_or(p, step),
        }
    }

    /// A channel error: if the init is gone, say how it ended.
    pub(crate) fn died_or(&mut self, e: ProtocolError, step: &'static str) -> Error {
        let status = self.reap();
        match e {
            ProtocolError::Io(_) => Error::Protocol(ProtocolError::Died { step, status }),
            other => Error::Protocol(other),
        }
    }

    /// Kill and reap the init; returns how it ended, for error messages.
    pub(crate) fn reap(&mut self) -> String {
        if self.reaped {
            return "already reaped".into();
        }
        self.reaped = true;
        let _ = sys::kill(self.pid, libc::SIGKILL);
        match wait_pid(self.pid) {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown: {e}"),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.reaped {
            self.reap();
        }
    }
}

/// A container whose command is running.
///
/// Call [`Running::wait`] to reap it; dropping a `Running` leaves the process running.
#[derive(Debug)]
pub struct Running {
    pid: i32,
    status: Option<ExitStatus>,
    pty_master: Option<OwnedFd>,
    warnings: Vec<String>,
    phases: Vec<crate::Phase>,
    /// The caller's end of the container's stdin, with [`Stdio::Piped`].
    pub stdin: Option<File>,
    /// The caller's end of the container's stdout, with [`Stdio::Piped`].
    pub stdout: Option<File>,
    /// The caller's end of the container's stderr, with [`Stdio::Piped`].
    pub stderr: Option<File>,
}

impl Running {
    pub(crate) fn new(pid: i32, report: ReadyReport, stdio: [Option<File>; 3]) -> Self {
        let [stdin, stdout, stderr] = stdio;
        Self {
            pid,
            status: None,
            pty_master: report.console,
            warnings: report.warnings,
            phases: report.phases,
            stdin,
            stdout,
            stderr,
        }
    }

    /// Host pid of the container's PID 1 (of the joined process, for `exec`).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// What the init adjusted (rlimits clamped to the host's hard limits...), to print
    /// as warnings.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// When each of the init's setup steps ended, with [`SpawnOptions::trace`].
    pub fn phases(&self) -> &[crate::Phase] {
        &self.phases
    }

    /// The master end of the container's terminal (when `process.terminal`), for
    /// [`PtyProxy`](crate::PtyProxy).
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// Borrow the terminal's master end.
    pub fn pty_master(&self) -> Option<BorrowedFd<'_>> {
        self.pty_master.as_ref().map(|f| f.as_fd())
    }

    /// Send a signal to the container's PID 1. (A PID 1 without a handler ignores
    /// SIGTERM and SIGINT, as in docker; SIGKILL always works.)
    pub fn signal(&self, sig: i32) -> Result<(), Error> {
        if self.status.is_some() {
            return Err(Error::Sys {
                op: "signal",
                source: io::Error::from_raw_os_error(libc::ESRCH),
            });
        }
        sys::kill(self.pid, sig).map_err(Error::sys("kill"))
    }

    /// Wait for the container's PID 1 to exit.
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        let s = wait_pid(self.pid).map_err(Error::sys("waitpid"))?;
        self.status = Some(s);
        Ok(s)
    }
}
