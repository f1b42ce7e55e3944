//! Starting the init binary in new namespaces: `clone(2)` into them, then `execveat` of
//! the protected init binary with the channel and the standard streams in place (shared
//! by [`Container::spawn`](crate::Container::spawn) and
//! [`Container::exec`](crate::Container::exec)), and reaping.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::process::{Pid, WaitOptions};

use crate::channel::{self, Channel, ParentChannel};
use crate::error::Error;
use crate::exe::{self, ExeProtection};
use crate::init::INIT_FD_ENV;
use crate::spawn::{ExitStatus, Stdio};
use crate::sys::{self, CStringArray, ChildExec};

/// A freshly started init: its pid, the channel, the caller's pipe ends.
pub(crate) struct Launched {
    pub(crate) pid: i32,
    pub(crate) ch: ParentChannel,
    pub(crate) stdio: [Option<File>; 3],
}

/// `clone` with `flags` and `execveat` the protected init binary in the child; returns
/// once the init binary runs (or with why it could not be executed). With `pid_ns`, the
/// child is created in that existing PID namespace (which only applies to children).
pub(crate) fn launch_init(
    flags: i32,
    pid_ns: Option<&Path>,
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
    let pid = match pid_ns {
        None => sys::clone_and_exec(flags, &child).map_err(Error::sys("clone"))?,
        Some(path) => clone_in_pid_ns(path, flags, &child)?,
    };
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

/// Clones `child` into the PID namespace at `path`: this thread's namespace for
/// children is set to it for the clone and set back to its own right after.
fn clone_in_pid_ns(path: &Path, flags: i32, child: &ChildExec<'_>) -> Result<i32, Error> {
    let open = |p: &Path| {
        rustix::fs::open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::path("open pid namespace", p)(e.into()))
    };
    let own = open(Path::new("/proc/thread-self/ns/pid_for_children"))?;
    let target = open(path)?;
    sys::setns(target.as_fd(), libc::CLONE_NEWPID)
        .map_err(Error::path("join pid namespace", path))?;
    let cloned = sys::clone_and_exec(flags, child).map_err(Error::sys("clone"));
    sys::setns(own.as_fd(), libc::CLONE_NEWPID).map_err(Error::sys("restore pid namespace"))?;
    cloned
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
