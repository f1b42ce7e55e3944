//! A private mount and network namespace for the peers that would otherwise change
//! host-wide state: podman (its netavark backend turns on `net.ipv4.ip_forward` and adds
//! iptables tables and a `podman0` bridge; it keeps state in `/run/containers`,
//! `/run/runc`, `/run/netns`, `/etc/containers/networks` and `/var/lib/containers`
//! whatever `--root` says) and crun 1.8 (which refuses this machine's hybrid cgroup layout
//! while `/sys/fs/cgroup/unified` holds a controller).
//!
//! A holder process (`sleep infinity`, our child) owns the namespaces. In its mount
//! namespace (private propagation, so nothing leaks to the host) `/run` and
//! `/var/lib/containers` are empty tmpfs mounts, `/etc/containers` is a private copy, and
//! the cgroup2 mount at `/sys/fs/cgroup/unified` is detached (cgroup directories are still
//! created in the host's v1 hierarchies, under the benchmark's own prefix). Its network
//! namespace has only `lo`. Commands join either both namespaces or only the mount
//! namespace ([`Jail::enter`]); everything vanishes when the last process in them exits.

use super::quiet;
use anyhow::{Context, Result, bail};
use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The namespaces' holder; killed (our own child, by PID) and reaped on drop.
pub(crate) struct Jail {
    holder: Child,
    mnt: File,
    net: File,
}

impl Jail {
    /// Starts the holder; `dir` (the benchmark's private directory) receives the copy of
    /// `/etc/containers`.
    pub(crate) fn start(dir: &Path) -> Result<Jail> {
        let etc = dir.join("jail-etc-containers");
        std::fs::create_dir_all(&etc).with_context(|| format!("creating {}", etc.display()))?;
        if Path::new("/etc/containers").is_dir() {
            quiet(
                Command::new("cp")
                    .args(["-a", "/etc/containers/."])
                    .arg(&etc),
            )?;
            let networks = etc.join("networks");
            if networks.exists() {
                std::fs::remove_dir_all(&networks)
                    .with_context(|| format!("removing {}", networks.display()))?;
            }
        }
        let etc = CString::new(etc.as_os_str().as_bytes())
            .with_context(|| format!("{} holds a NUL byte", etc.display()))?;
        // Without /var/lib/containers (podman not run yet on this machine) its parent gets
        // the tmpfs, so that podman cannot create the directory on the host.
        let var_lib: &'static CStr = if Path::new("/var/lib/containers").is_dir() {
            c"/var/lib/containers"
        } else {
            c"/var/lib"
        };
        let mut cmd = Command::new("sleep");
        cmd.arg("infinity")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: the closure runs in the forked child before exec and makes only raw
        // system calls (unshare, mount, umount2), which are async-signal-safe; it allocates
        // nothing (the paths are prepared above and moved in).
        unsafe {
            cmd.pre_exec(move || {
                check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET))?;
                check(libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                // Absent on pure v1 and pure v2 machines: nothing to detach there.
                libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH);
                for target in [c"/run", var_lib] {
                    check(libc::mount(
                        c"tmpfs".as_ptr(),
                        target.as_ptr(),
                        c"tmpfs".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV,
                        c"mode=755".as_ptr().cast(),
                    ))?;
                }
                check(libc::mount(
                    etc.as_ptr(),
                    c"/etc/containers".as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
                Ok(())
            })
        };
        let holder = cmd
            .spawn()
            .context("starting the namespace holder for podman and crun")?;
        let pid = holder.id();
        let open = |ns: &str| {
            File::open(format!("/proc/{pid}/ns/{ns}"))
                .with_context(|| format!("opening the holder's {ns} namespace"))
        };
        // From here on, dropping the jail kills the holder.
        let mut jail = Jail {
            mnt: open("mnt")?,
            net: open("net")?,
            holder,
        };
        if let Ok(Some(status)) = jail.holder.try_wait() {
            bail!("the namespace holder exited at once: {status}");
        }
        let mut lo = Command::new("ip");
        lo.args(["link", "set", "lo", "up"]);
        jail.enter(&mut lo, true);
        quiet(&mut lo).context("bringing up lo in the private network namespace")?;
        Ok(jail)
    }

    /// Makes `cmd` join the jail's mount namespace and, with `net`, its network namespace
    /// (without it, the host's: a pull reaches the registry on the host's 127.0.0.1). The
    /// command must be spawned while the jail is alive.
    pub(crate) fn enter(&self, cmd: &mut Command, net: bool) {
        let mnt = self.mnt.as_raw_fd();
        let net = net.then(|| self.net.as_raw_fd());
        // SAFETY: the closure runs in the forked child before exec and makes only setns
        // calls on file descriptors the parent holds open for the jail's lifetime (the
        // child inherits them; they are close-on-exec); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(fd) = net {
                    check(libc::setns(fd, libc::CLONE_NEWNET))?;
                }
                check(libc::setns(mnt, libc::CLONE_NEWNS))?;
                Ok(())
            })
        };
    }

    /// Runs `f` on a thread that joined the jail's network namespace (a socket keeps the
    /// namespace it was created in, so a stream made there can be used from anywhere).
    pub(crate) fn in_net<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let fd: RawFd = self.net.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: setns on an fd we hold open; CLONE_NEWNET changes only the
                // calling thread's network namespace, and this thread ends after `f`.
                check(unsafe { libc::setns(fd, libc::CLONE_NEWNET) })
                    .context("joining the private network namespace")?;
                f()
            })
            .join()
            .unwrap_or_else(|_| bail!("the thread in the private network namespace panicked"))
        })
    }
}

impl Drop for Jail {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn check(ret: libc::c_int) -> std::io::Result<()> {
    if ret == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}
