//! Parent side: creating the container process ([`Container::spawn`]), letting it go
//! ([`Pending::start`]) and waiting for it ([`Running::wait`]).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::process::{Pid, WaitOptions};

use crate::channel::{
    self, Channel, ExecOutcome, ParentChannel, ReadyReport, RunConfig, StepError,
};
use crate::error::{Error, ProtocolError};
use crate::exe::{self, ExeProtection};
use crate::init::INIT_FD_ENV;
use crate::sys::{self, CStringArray, ChildExec};

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

    fn from_wait(status: rustix::process::WaitStatus) -> Option<Self> {
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
    /// `spec.root.path` must be the absolute path of the prepared rootfs; the spec must
    /// ask for a mount namespace.
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
        let flags = clone_flags(spec)?;
        let terminal = process.terminal().unwrap_or(false);

        // With a terminal, the init's own streams are /dev/null until it makes the pty
        // its streams: nothing of the caller's is ever in the container's view.
        let (stdin, stdout, stderr) = if terminal {
            (Stdio::Null, Stdio::Null, Stdio::Null)
        } else {
            (opts.stdin, opts.stdout, opts.stderr)
        };
        let launched = launch_init(
            flags,
            &opts.init_exe,
            &opts.init_args,
            opts.exe_protection,
            [stdin, stdout, stderr],
        )?;
        let [stdin, stdout, stderr] = launched.stdio;
        let mut pending = Pending {
            pid: launched.pid,
            ch: launched.ch,
            reaped: false,
            stdin,
            stdout,
            stderr,
        };
        pending
            .ch
            .send_run(RunConfig {
                spec: spec.clone(),
                rootfs,
                reaper: opts.reaper,
            })
            .map_err(|e| pending.died_or(e, "receiving its configuration"))?;
        Ok(pending)
    }
}

/// A freshly started init: its pid, the channel, the caller's pipe ends.
pub(crate) struct Launched {
    pub(crate) pid: i32,
    pub(crate) ch: ParentChannel,
    pub(crate) stdio: [Option<File>; 3],
}

/// `clone` with `flags` and `execveat` the protected init binary in the child; returns
/// once the init binary runs (or with why it could not be executed).
pub(crate) fn launch_init(
    flags: i32,
    init_exe: &Path,
    init_args: &[String],
    protection: ExeProtection,
    stdio: [Stdio; 3],
) -> Result<Launched, Error> {
    let exe =
        exe::protect(init_exe, protection).map_err(Error::path("protect init binary", init_exe))?;
    let (parent_sock, child_sock) = channel::pair().map_err(Error::sys("socketpair"))?;
    let child_sock = above_stdio(child_sock)?;
    let (err_r, err_w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::Sys {
            op: "pipe",
            source: e.into(),
        })?;
    let [stdin, stdout, stderr] = stdio;
    let stdin = prepare_stdio(stdin, true)?;
    let stdout = prepare_stdio(stdout, false)?;
    let stderr = prepare_stdio(stderr, false)?;

    let mut args = init_args.to_vec();
    if args.is_empty() {
        args.push("mydocker-init".into());
    }
    let argv = CStringArray::new(
        args.iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|_| Error::InvalidSpec {
                reason: "NUL byte in init_args",
            })?,
    );
    let env = format!("{INIT_FD_ENV}={}", child_sock.as_raw_fd());
    let envp = CStringArray::new(vec![CString::new(env).map_err(|_| Error::InvalidSpec {
        reason: "NUL byte in environment",
    })?]);

    let child = ChildExec {
        exe: exe.as_fd(),
        argv: &argv,
        envp: &envp,
        stdio: [stdin.child_raw(), stdout.child_raw(), stderr.child_raw()],
        keep: child_sock.as_raw_fd(),
        err_pipe: err_w.as_raw_fd(),
    };
    let pid = sys::clone_and_exec(flags, &child).map_err(Error::sys("clone"))?;
    drop(child_sock);
    drop(err_w);
    drop(exe);

    // The error pipe closes (EOF) when execveat succeeded, or carries its errno.
    let mut buf = [0u8; 4];
    let n = read_full(&mut File::from(err_r), &mut buf).map_err(Error::sys("read exec status"))?;
    if n == 4 {
        let errno = i32::from_ne_bytes(buf);
        let _ = wait_pid(pid);
        return Err(Error::InitExec {
            exe: init_exe.to_path_buf(),
            source: io::Error::from_raw_os_error(errno),
        });
    }
    Ok(Launched {
        pid,
        ch: ParentChannel(Channel::new(parent_sock)),
        stdio: [stdin.parent, stdout.parent, stderr.parent],
    })
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The namespaces to create with `clone`. The cgroup namespace is unshared by the init
/// once it is in its cgroup; namespaces given by path are joined by the init.
fn clone_flags(spec: &Spec) -> Result<i32, Error> {
    let nss = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut flags = 0;
    let mut mount = false;
    for ns in &nss {
        let t = ns.typ();
        if ns.path().is_some() {
            if !matches!(
                t,
                LinuxNamespaceType::Network | LinuxNamespaceType::Ipc | LinuxNamespaceType::Uts
            ) {
                return Err(Error::Unsupported {
                    what: format!("joining an existing {t} namespace"),
                });
            }
            continue;
        }
        flags |= match t {
            LinuxNamespaceType::Mount => {
                mount = true;
                libc::CLONE_NEWNS
            }
            LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
            LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
            LinuxNamespaceType::Network => libc::CLONE_NEWNET,
            LinuxNamespaceType::Cgroup => 0,
            LinuxNamespaceType::User | LinuxNamespaceType::Time => {
                return Err(Error::Unsupported {
                    what: format!("a new {t} namespace"),
                });
            }
        };
    }
    if !mount {
        return Err(Error::InvalidSpec {
            reason: "a mount namespace is required",
        });
    }
    Ok(flags)
}

/// Make sure a descriptor the child keeps is not 0, 1 or 2 (dup2 onto those would
/// clobber it).
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Error> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| Error::Sys {
        op: "fcntl(F_DUPFD_CLOEXEC)",
        source: e.into(),
    })
}

struct PreparedStdio {
    /// The descriptor the child installs (kept alive until after clone).
    child: Option<OwnedFd>,
    /// The caller's end of a pipe.
    parent: Option<File>,
}

impl PreparedStdio {
    fn child_raw(&self) -> Option<RawFd> {
        self.child.as_ref().map(|f| f.as_raw_fd())
    }
}

fn prepare_stdio(s: Stdio, is_stdin: bool) -> Result<PreparedStdio, Error> {
    let pipe_err = |e: rustix::io::Errno| Error::Sys {
        op: "pipe",
        source: e.into(),
    };
    Ok(match s {
        Stdio::Inherit => PreparedStdio {
            child: None,
            parent: None,
        },
        Stdio::Null => {
            let f = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| Error::Path {
                op: "open",
                path: "/dev/null".into(),
                source: e.into(),
            })?;
            PreparedStdio {
                child: Some(above_stdio(f)?),
                parent: None,
            }
        }
        Stdio::Piped => {
            let (r, w) =
                rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(pipe_err)?;
            let (child, parent) = if is_stdin { (r, w) } else { (w, r) };
            PreparedStdio {
                child: Some(above_stdio(child)?),
                parent: Some(File::from(parent)),
            }
        }
        Stdio::Fd(fd) => PreparedStdio {
            child: Some(above_stdio(fd)?),
            parent: None,
        },
    })
}

pub(crate) fn wait_pid(pid: i32) -> io::Result<ExitStatus> {
    let p = Pid::from_raw(pid).ok_or(io::ErrorKind::InvalidInput)?;
    loop {
        match rustix::process::waitpid(Some(p), WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(s) = ExitStatus::from_wait(status) {
                    return Ok(s);
                }
            }
            Ok(None) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A container whose init is setting up and waits for [`Pending::start`].
///
/// Dropping it without starting kills and reaps the init.
#[derive(Debug)]
pub struct Pending {
    pid: i32,
    ch: ParentChannel,
    reaped: bool,
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

    /// Wait for the init to finish its setup, give the go-ahead, and return once the
    /// user's command has really been executed, or with its typed exec error.
    pub fn start(mut self) -> Result<Running, Error> {
        let report = match self.ch.wait_ready() {
            Ok(r) => r,
            Err(e) => return Err(self.step_failed(e, "it was ready")),
        };
        let ReadyReport { console, warnings } = report;
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
        self.reaped = true; // ownership of the process moves to Running
        Ok(Running {
            pid: self.pid,
            status: None,
            pty_master: console,
            warnings,
            stdin: self.stdin.take(),
            stdout: self.stdout.take(),
            stderr: self.stderr.take(),
        })
    }

    fn step_failed(&mut self, e: StepError, step: &'static str) -> Error {
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
    fn died_or(&mut self, e: ProtocolError, step: &'static str) -> Error {
        let status = self.reap();
        match e {
            ProtocolError::Io(_) => Error::Protocol(ProtocolError::Died { step, status }),
            other => Error::Protocol(other),
        }
    }

    /// Kill and reap the init; returns how it ended, for error messages.
    fn reap(&mut self) -> String {
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
