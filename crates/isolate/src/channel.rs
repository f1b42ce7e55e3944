//! The typed parent/init protocol over a Unix socketpair.
//!
//! Frames are a little-endian `u32` length followed by a JSON [`Message`]; a file
//! descriptor (the terminal's master) travels with its frame as `SCM_RIGHTS`.
//!
//! The run protocol, step by step:
//!
//! | parent ([`ParentChannel`])   | init ([`InitChannel`])                          |
//! |------------------------------|-------------------------------------------------|
//! | `send_run(config)`           | `recv_config()`                                 |
//! |                              | mounts, pivot, limits; `console(master)`, `warn` |
//! | `wait_ready()`               | `ready()`                                       |
//! | cgroup, network; `go_ahead()`| `wait_go_ahead()`                               |
//! | `wait_exec()`                | security, `execve` (the socket closes on exec) or `exec_failed()` |
//!
//! An OCI runtime's `create` sends `go_ahead_gated(gate)` instead of `go_ahead()`: the
//! init then goes through every step up to the `execve`, answers `gated()` (or a failure)
//! and blocks on the start gate (a FIFO, see `crate::gate`); the parent
//! (`wait_gated()`) may exit, and a later `start` releases the init.
//!
//! Any init step may answer `Failed` instead; the init then exits with 125.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Mount, Process, Spec};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

use crate::error::{ExecFailure, InitFailure, ProtocolError};
use crate::user::UserRequest;

/// Frames larger than this are refused (a spec is a few kilobytes).
const MAX_FRAME: usize = 16 << 20;

/// What the init must do to run a new container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunConfig {
    pub(crate) spec: Spec,
    /// Absolute path of the prepared rootfs.
    pub(crate) rootfs: PathBuf,
    /// Run a reaping init as PID 1 (`--init`).
    pub(crate) reaper: bool,
    /// Mounts that assemble the rootfs at `rootfs`, inside the container's namespace.
    #[serde(default)]
    pub(crate) rootfs_mounts: Vec<Mount>,
    /// A user to resolve from the container's own /etc/passwd and /etc/group.
    #[serde(default)]
    pub(crate) user: Option<UserRequest>,
    /// Report the setup's steps with their times ([`Message::Phases`]).
    #[serde(default)]
    pub(crate) trace: bool,
    /// Run the spec's `createContainer` and `startContainer` hooks with this state.
    #[serde(default)]
    pub(crate) hook_state: Option<oci_spec::runtime::State>,
    /// A mount namespace whose /dev/shm is shared as the container's.
    #[serde(default)]
    pub(crate) shm_from: Option<PathBuf>,
}

/// What the init must do to join a running container (`exec`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ExecConfig {
    /// Host pid of a process of the container (its init).
    pub(crate) target_pid: i32,
    /// The namespaces to join, in this order.
    pub(crate) namespaces: Vec<LinuxNamespaceType>,
    /// `cgroup.procs` files to write our pid to before joining.
    pub(crate) cgroup_procs: Vec<PathBuf>,
    /// The process to run.
    pub(crate) process: Process,
    /// The container's seccomp profile.
    pub(crate) seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// A user to resolve from the container's own /etc/passwd and /etc/group.
    #[serde(default)]
    pub(crate) user: Option<UserRequest>,
}

/// One frame of the protocol.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Message {
    /// Parent → init: set up and run a container.
    Run(Box<RunConfig>),
    /// Parent → init: join a running container.
    Exec(Box<ExecConfig>),
    /// Parent → init: cgroup and network are ready, go on.
    Start,
    /// Parent → init: go on, but wait on the start gate (fd attached) before `execve`.
    StartGated,
    /// Init → parent: everything is ready; waiting on the start gate.
    Gated,
    /// Init → parent: the terminal's master end (fd attached).
    Console,
    /// Init → parent: something was adjusted (an rlimit clamped...).
    Warning(String),
    /// Init → parent: when each setup step ended (with `RunConfig::trace`).
    Phases(Vec<crate::Phase>),
    /// Init → parent: setup done, waiting for [`Message::Start`].
    Ready,
    /// Init → parent: the process that joined the container has this host pid.
    Joined(i32),
    /// Init → parent: setup failed.
    Failed(InitFailure),
    /// Init → parent: the user's command could not be executed.
    ExecFailed(ExecFailure),
}

impl Message {
    fn name(&self) -> &'static str {
        match self {
            Message::Run(_) => "Run",
            Message::Exec(_) => "Exec",
            Message::Start => "Start",
            Message::StartGated => "StartGated",
            Message::Gated => "Gated",
            Message::Console => "Console",
            Message::Warning(_) => "Warning",
            Message::Phases(_) => "Phases",
            Message::Ready => "Ready",
            Message::Joined(_) => "Joined",
            Message::Failed(_) => "Failed",
            Message::ExecFailed(_) => "ExecFailed",
        }
    }
}

/// A framed, typed, bidirectional channel.
#[derive(Debug)]
pub(crate) struct Channel {
    sock: UnixStream,
}

impl Channel {
    pub(crate) fn new(fd: OwnedFd) -> Self {
        Self {
            sock: UnixStream::from(fd),
        }
    }

    /// Whether the other end has closed its side (its process has exited or is
    /// exiting); messages it sent before remain readable. Never blocks.
    pub(crate) fn peer_closed(&self) -> bool {
        use rustix::event::{PollFd, PollFlags};
        let mut fds = [PollFd::new(&self.sock, PollFlags::RDHUP)];
        let timeout = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(n) if n > 0 => fds[0]
                .revents()
                .intersects(PollFlags::RDHUP | PollFlags::HUP),
            _ => false,
        }
    }

    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Send one message, with an optional descriptor.
    pub(crate) fn send(
        &self,
        msg: &Message,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<(), ProtocolError> {
        let body = serde_json::to_vec(msg)?;
        if body.len() > MAX_FRAME {
            return Err(ProtocolError::TooLarge(body.len()));
        }
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        let fds = fd.map(|f| [f]);
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if let Some(fds) = &fds {
            control.push(SendAncillaryMessage::ScmRights(fds));
        }
        let sent = loop {
            let iov = [IoSlice::new(&frame)];
            match rustix::net::sendmsg(&self.sock, &iov, &mut control, SendFlags::NOSIGNAL) {
                Ok(n) => break n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(ProtocolError::Io(e.into())),
            }
        };
        // A stream socket may take part of a large frame: write the rest plainly (the
        // descriptor, if any, went with the first byte).
        if sent < frame.len() {
            (&self.sock).write_all(&frame[sent..])?;
        }
        Ok(())
    }

    /// Receive one message and the descriptor that came with it; `None` on a clean EOF.
    pub(crate) fn recv(&self) -> Result<Option<(Message, Option<OwnedFd>)>, ProtocolError> {
        let mut header = [0u8; 4];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = loop {
            let mut iov = [IoSliceMut::new(&mut header)];
            match rustix::net::recvmsg(&self.sock, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
            {
                Ok(r) => break r.bytes,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(ProtocolError::Io(e.into())),
            }
        };
        let mut fd = None;
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = msg {
                for f in fds {
                    // Keep the first, drop (close) any unexpected extra.
                    if fd.is_none() {
                        fd = Some(f);
                    }
                }
            }
        }
        if got == 0 {
            return Ok(None);
        }
        if got < header.len() {
            (&self.sock).read_exact(&mut header[got..])?;
        }
        let len = u32::from_le_bytes(header) as usize;
        if len > MAX_FRAME {
            return Err(ProtocolError::TooLarge(len));
        }
        let mut body = vec![0u8; len];
        (&self.sock).read_exact(&mut body)?;
        let msg = serde_json::from_slice(&body)?;
        Ok(Some((msg, fd)))
    }
}

/// What the init reported before it became ready.
#[derive(Debug, Default)]
pub(crate) struct ReadyReport {
    pub(crate) console: Option<OwnedFd>,
    pub(crate) warnings: Vec<String>,
    pub(crate) phases: Vec<crate::Phase>,
}

/// How the exec step ended, seen from the parent.
#[derive(Debug)]
pub(crate) enum ExecOutcome {
    /// The channel closed: the command replaced the init (close-on-exec).
    Executed,
    /// The command could not be executed.
    ExecFailed(ExecFailure),
    /// A security step failed.
    Failed(InitFailure),
}

/// Parent side of the protocol.
#[derive(Debug)]
pub(crate) struct ParentChannel(pub(crate) Channel);

/// A failure the parent got instead of the step's answer.
#[derive(Debug)]
pub(crate) enum StepError {
    /// The init reported a failure.
    Init(InitFailure),
    /// The init could not exec the user's command.
    Exec(ExecFailure),
    /// The channel closed before the step's answer.
    Closed,
    /// The channel broke.
    Protocol(ProtocolError),
}

impl From<ProtocolError> for StepError {
    fn from(e: ProtocolError) -> Self {
        StepError::Protocol(e)
    }
}

impl ParentChannel {
    pub(crate) fn send_run(&self, cfg: RunConfig) -> Result<(), ProtocolError> {
        self.0.send(&Message::Run(Box::new(cfg)), None)
    }

    pub(crate) fn send_exec(&self, cfg: ExecConfig) -> Result<(), ProtocolError> {
        self.0.send(&Message::Exec(Box::new(cfg)), None)
    }

    /// `exec`: collect the joined pid (from the intermediate init), the console and
    /// warnings (from the joined process, possibly before the pid) until the command runs
    /// (EOF) or fails.
    pub(crate) fn wait_exec_collect(
        &self,
    ) -> Result<(ExecOutcome, Option<i32>, ReadyReport), ProtocolError> {
        let mut report = ReadyReport::default();
        let mut joined = None;
        loop {
            let outcome = match self.0.recv()? {
                None => ExecOutcome::Executed,
                Some((Message::Joined(pid), _)) => {
                    joined = Some(pid);
                    continue;
                }
                Some((Message::Console, fd)) => {
                    report.console = Some(fd.ok_or(ProtocolError::MissingFd("Console"))?);
                    continue;
                }
                Some((Message::Warning(w), _)) => {
                    report.warnings.push(w);
                    continue;
                }
                Some((Message::ExecFailed(f), _)) => ExecOutcome::ExecFailed(f),
                Some((Message::Failed(f), _)) => ExecOutcome::Failed(f),
                Some((other, _)) => {
                    return Err(ProtocolError::Unexpected {
                        expected: "exec",
                        got: other.name(),
                    });
                }
            };
            return Ok((outcome, joined, report));
        }
    }

    /// Collect console and warnings until `Ready`.
    pub(crate) fn wait_ready(&self) -> Result<ReadyReport, StepError> {
        let mut report = ReadyReport::default();
        loop {
            match self.0.recv()? {
                None => return Err(StepError::Closed),
                Some((Message::Ready, _)) => return Ok(report),
                Some((Message::Console, fd)) => {
                    report.console = Some(fd.ok_or(ProtocolError::MissingFd("Console"))?);
                }
                Some((Message::Warning(w), _)) => report.warnings.push(w),
                Some((Message::Phases(p), _)) => report.phases = p,
                Some((Message::Failed(f), _)) => return Err(StepError::Init(f)),
                Some((Message::ExecFailed(f), _)) => return Err(StepError::Exec(f)),
                Some((other, _)) => {
                    return Err(StepError::Protocol(ProtocolError::Unexpected {
                        expected: "Ready",
                        got: other.name(),
                    }));
                }
            }
        }
    }

    pub(crate) fn go_ahead(&self) -> Result<(), ProtocolError> {
        self.0.send(&Message::Start, None)
    }

    /// The go-ahead of a runtime's `create`: the init waits on `gate` before `execve`.
    pub(crate) fn go_ahead_gated(&self, gate: BorrowedFd<'_>) -> Result<(), ProtocolError> {
        self.0.send(&Message::StartGated, Some(gate))
    }

    /// After the gated go-ahead: the warnings until `Gated`, or why the init failed.
    pub(crate) fn wait_gated(&self) -> Result<Vec<String>, StepError> {
        let mut warnings = Vec::new();
        loop {
            match self.0.recv()? {
                None => return Err(StepError::Closed),
                Some((Message::Gated, _)) => return Ok(warnings),
                Some((Message::Warning(w), _)) => warnings.push(w),
                Some((Message::Failed(f), _)) => return Err(StepError::Init(f)),
                Some((Message::ExecFailed(f), _)) => return Err(StepError::Exec(f)),
                Some((other, _)) => {
                    return Err(StepError::Protocol(ProtocolError::Unexpected {
                        expected: "Gated",
                        got: other.name(),
                    }));
                }
            }
        }
    }

    /// After the go-ahead: EOF means the command was executed.
    pub(crate) fn wait_exec(&self) -> Result<ExecOutcome, ProtocolError> {
        loop {
            match self.0.recv()? {
                None => return Ok(ExecOutcome::Executed),
                Some((Message::ExecFailed(f), _)) => return Ok(ExecOutcome::ExecFailed(f)),
                Some((Message::Failed(f), _)) => return Ok(ExecOutcome::Failed(f)),
                Some((Message::Warning(_), _)) => continue,
                Some((other, _)) => {
                    return Err(ProtocolError::Unexpected {
                        expected: "exec",
                        got: other.name(),
                    });
                }
            }
        }
    }
}

/// Init side of the protocol.
#[derive(Debug)]
pub(crate) struct InitChannel(pub(crate) Channel);

/// The configuration the init received.
#[derive(Debug)]
pub(crate) enum InitConfig {
    Run(Box<RunConfig>),
    Exec(Box<ExecConfig>),
}

impl InitChannel {
    pub(crate) fn recv_config(&self) -> Result<InitConfig, ProtocolError> {
        match self.0.recv()? {
            Some((Message::Run(c), _)) => Ok(InitConfig::Run(c)),
            Some((Message::Exec(c), _)) => Ok(InitConfig::Exec(c)),
            Some((other, _)) => Err(ProtocolError::Unexpected {
                expected: "Run or Exec",
                got: other.name(),
            }),
            None => Err(ProtocolError::Io(io::ErrorKind::UnexpectedEof.into())),
        }
    }

    pub(crate) fn console(&self, master: BorrowedFd<'_>) -> Result<(), ProtocolError> {
        self.0.send(&Message::Console, Some(master))
    }

    pub(crate) fn warn(&self, warning: String) -> Result<(), ProtocolError> {
        self.0.send(&Message::Warning(warning), None)
    }

    pub(crate) fn phases(&self, phases: Vec<crate::Phase>) -> Result<(), ProtocolError> {
        self.0.send(&Message::Phases(phases), None)
    }

    pub(crate) fn ready(&self) -> Result<(), ProtocolError> {
        self.0.send(&Message::Ready, None)
    }

    pub(crate) fn joined(&self, pid: i32) -> Result<(), ProtocolError> {
        self.0.send(&Message::Joined(pid), None)
    }

    /// Block until the parent says go; an EOF (the parent died) is an error. With a
    /// gated go-ahead, returns the start gate.
    pub(crate) fn wait_go_ahead(&self) -> Result<Option<OwnedFd>, ProtocolError> {
        match self.0.recv()? {
            Some((Message::Start, _)) => Ok(None),
            Some((Message::StartGated, fd)) => {
                fd.map(Some).ok_or(ProtocolError::MissingFd("StartGated"))
            }
            Some((other, _)) => Err(ProtocolError::Unexpected {
                expected: "Start",
                got: other.name(),
            }),
            None => Err(ProtocolError::Io(io::ErrorKind::UnexpectedEof.into())),
        }
    }

    /// Everything is set up; the init now waits on the start gate.
    pub(crate) fn gated(&self) -> Result<(), ProtocolError> {
        self.0.send(&Message::Gated, None)
    }

    pub(crate) fn failed(&self, failure: InitFailure) -> Result<(), ProtocolError> {
        self.0.send(&Message::Failed(failure), None)
    }

    pub(crate) fn exec_failed(&self, failure: ExecFailure) -> Result<(), ProtocolError> {
        self.0.send(&Message::ExecFailed(failure), None)
    }
}

/// A connected pair: (parent end, init end), both close-on-exec.
pub(crate) fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (a, b) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Stage;
    use std::io::Seek;

    #[test]
    fn frames_round_trip_with_a_descriptor() {
        let (a, b) = pair().unwrap();
        let parent = ParentChannel(Channel::new(a));
        let init = InitChannel(Channel::new(b));
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"console").unwrap();
        init.warn("clamped".into()).unwrap();
        init.console(file.as_fd()).unwrap();
        init.ready().unwrap();
        let report = parent.wait_ready().unwrap();
        assert_eq!(report.warnings, vec!["clamped".to_string()]);
        let mut got = std::fs::File::from(report.console.unwrap());
        got.rewind().unwrap();
        let mut s = String::new();
        got.read_to_string(&mut s).unwrap();
        assert_eq!(s, "console");
    }

    #[test]
    fn failures_and_eof_are_typed() {
        let (a, b) = pair().unwrap();
        let parent = ParentChannel(Channel::new(a));
        let init = InitChannel(Channel::new(b));
        init.failed(InitFailure::new(Stage::Mount, "nope").at("/proc"))
            .unwrap();
        match parent.wait_ready() {
            Err(StepError::Init(f)) => {
                assert_eq!(f.stage, Stage::Mount);
                assert_eq!(f.path.as_deref(), Some(std::path::Path::new("/proc")));
            }
            other => panic!("unexpected {other:?}"),
        }
        drop(init);
        assert!(matches!(parent.wait_exec().unwrap(), ExecOutcome::Executed));
    }

    #[test]
    fn large_frames_survive_partial_writes() {
        let (a, b) = pair().unwrap();
        let parent = Channel::new(a);
        let init = Channel::new(b);
        let big = "x".repeat(1 << 20);
        let t = std::thread::spawn(move || {
            parent.send(&Message::Warning(big), None).unwrap();
        });
        match init.recv().unwrap() {
            Some((Message::Warning(w), None)) => assert_eq!(w.len(), 1 << 20),
            other => panic!("unexpected {other:?}"),
        }
        t.join().unwrap();
    }
}
