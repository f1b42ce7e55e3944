//! `exec`: joining the namespaces and cgroup of a running container.
//!
//! This init (a child of the caller, in the host's namespaces) opens the target's
//! namespace files while the host's /proc is still its /proc, moves itself into the
//! container's cgroups, `setns`es into each namespace (user first, mount last), then
//! forks with `CLONE_PARENT`: the new process is in the container's PID namespace (which
//! only applies to children) and is a child of the caller, who can wait for it. This
//! init reports that pid and exits; the new process applies the container's process
//! settings and executes the command exactly like the run path does.

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;
use rustix::fs::{Mode, OFlags};

use super::root::RootDir;
use super::{Abort, dev, process, user};
use crate::channel::{ExecConfig, InitChannel};
use crate::error::{InitFailure, Stage};
use crate::security::Security;
use crate::sys::{self, Forked};

fn ns_file(t: LinuxNamespaceType) -> Option<(&'static str, i32)> {
    Some(match t {
        LinuxNamespaceType::User => ("user", libc::CLONE_NEWUSER),
        LinuxNamespaceType::Cgroup => ("cgroup", libc::CLONE_NEWCGROUP),
        LinuxNamespaceType::Ipc => ("ipc", libc::CLONE_NEWIPC),
        LinuxNamespaceType::Uts => ("uts", libc::CLONE_NEWUTS),
        LinuxNamespaceType::Network => ("net", libc::CLONE_NEWNET),
        LinuxNamespaceType::Pid => ("pid", libc::CLONE_NEWPID),
        LinuxNamespaceType::Mount => ("mnt", libc::CLONE_NEWNS),
        LinuxNamespaceType::Time => return None,
    })
}

/// The order namespaces are entered in: the user namespace first (it grants the rights
/// for the others), the mount namespace last (it changes what paths mean).
const ORDER: [LinuxNamespaceType; 7] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Mount,
];

pub(super) fn join(ch: &InitChannel, cfg: &ExecConfig) -> Result<Infallible, Abort> {
    let err = |what: &str, e: std::io::Error| InitFailure::os(Stage::Join, what, &e);
    sys::block_signals().map_err(|e| err("block signals", e))?;
    rustix::process::umask(Mode::empty());

    // 1. Open every namespace first: after the first setns, /proc may not be ours.
    let mut nss: Vec<(OwnedFd, i32, &str)> = Vec::new();
    for t in ORDER {
        if !cfg.namespaces.contains(&t) {
            continue;
        }
        let Some((name, flag)) = ns_file(t) else {
            return Err(
                InitFailure::new(Stage::Join, format!("cannot join a {t} namespace")).into(),
            );
        };
        let path = format!("/proc/{}/ns/{name}", cfg.target_pid);
        let fd = rustix::fs::open(
            path.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err(&format!("open {path}"), e.into()))?;
        nss.push((fd, flag, name));
    }

    // 2. The container's cgroups: our children inherit them.
    let me = rustix::process::getpid().as_raw_nonzero().get().to_string();
    for procs in &cfg.cgroup_procs {
        std::fs::write(procs, &me)
            .map_err(|e| err(&format!("join cgroup {}", procs.display()), e))?;
    }

    // 3. The namespaces.
    for (fd, flag, name) in &nss {
        sys::setns(fd.as_fd(), *flag).map_err(|e| err(&format!("setns {name}"), e))?;
    }
    drop(nss);

    // 4. Fork into the PID namespace, as a child of the caller. The child waits until
    // the pid is reported (a byte on `sync`), so the caller always learns it before
    // anything else the child says, and can reap it; without the byte it gives up.
    let (sync_r, sync_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| err("pipe", e.into()))?;
    match sys::fork(true).map_err(|e| err("fork", e))? {
        Forked::Parent(pid) => {
            ch.joined(pid)
                .map_err(|e| InitFailure::new(Stage::Join, format!("report the pid: {e}")))?;
            rustix::io::write(&sync_w, b"j").map_err(|e| err("release the child", e.into()))?;
            sys::exit_now(0);
        }
        Forked::Child => {
            drop(sync_w);
            let mut byte = [0u8; 1];
            let released = loop {
                match rustix::io::read(&sync_r, &mut byte) {
                    Err(rustix::io::Errno::INTR) => continue,
                    Ok(1) => break true,
                    _ => break false,
                }
            };
            drop(sync_r);
            if !released {
                // The caller was not told about us: do not run anything.
                sys::exit_now(125);
            }
            run_process(ch, cfg)
        }
    }
}

/// In the container: a session of its own, the process's settings, then exec.
fn run_process(ch: &InitChannel, cfg: &ExecConfig) -> Result<Infallible, Abort> {
    // Its own session inside the container (the intermediate's is in the host's PID
    // namespace): no controlling terminal but the container's pty of `-t`.
    rustix::process::setsid().map_err(|e| InitFailure::os(Stage::Join, "setsid", &e.into()))?;
    // The mount namespace's root is now the container's root.
    let root =
        RootDir::open(Path::new("/")).map_err(|e| InitFailure::os(Stage::Join, "open /", &e))?;
    let process = user::resolve_process(&cfg.process, cfg.user.as_ref(), &root)?;
    if process.terminal().unwrap_or(false) {
        let size = process.console_size().map(|b| (b.height(), b.width()));
        let console = dev::open_pty(&root, size)?;
        ch.console(console.master.as_fd())
            .map_err(|e| InitFailure::new(Stage::Console, format!("send the terminal: {e}")))?;
        drop(console.master);
        super::attach_terminal(console.slave, process.user().uid(), process.user().gid())?;
    }
    drop(root);
    super::apply_rlimits(ch, &process)?;
    let command = process::Command::new(&process)?;
    let mut security = Security::prepare(&process, cfg.seccomp.as_ref())?;
    super::finish_and_exec(
        ch,
        &process,
        &command,
        &mut security,
        super::Finish::default(),
    )
}
