//! Turning a resolved OCI runtime spec and a rootfs into a running, isolated process.
//!
//! # Process model
//!
//! [`Container::spawn`] `clone(2)`s a child into new UTS, PID, mount, IPC and network
//! namespaces (those the spec lists). The child does nothing but `execveat` the init
//! binary (by default `/proc/self/exe`, protected against writes from the container, see
//! [`ExeProtection`]) with the caller's `init_args`: everything it needs was allocated
//! before `clone`, so this is correct even in a multi-threaded caller. The init binary's
//! `main` calls [`init_main`], which receives the spec over a socketpair, then, inside
//! the namespaces:
//!
//! 1. makes the mount tree rslave (or `linux.rootfsPropagation`); performs the mounts
//!    that assemble the rootfs ([`SpawnOptions::rootfs_mounts`], see below), which the
//!    host therefore never sees; binds the rootfs;
//! 2. mounts `spec.mounts` with the new mount API onto targets resolved *inside* the
//!    rootfs without following symlinks out of it (hostile images), checks that /proc is
//!    a procfs, creates /dev's devices and symlinks;
//! 3. resolves [`SpawnOptions::user`] (a name) from the container's own /etc/passwd and
//!    /etc/group; allocates the pty and /dev/console for a terminal; creates the working
//!    directory;
//! 4. `pivot_root`s and detaches the old root; writes sysctls, masks
//!    `linux.maskedPaths`, makes `linux.readonlyPaths` (and `root.readonly`) read-only;
//! 5. sets hostname, rlimits (clamped to the host's hard limit, with a warning);
//! 6. reports *ready* and waits for the parent's go-ahead;
//! 7. unshares the cgroup namespace if asked; applies seccomp, capabilities, user,
//!    `no_new_privs` (see the `security` module for the order), enters the cwd, closes
//!    every descriptor but 0, 1, 2, and `execve`s the command (with `$PATH` lookup).
//!
//! Exec failures come back typed ([`ExecFailure`]: exit code 127 not found, 126 not
//! executable), setup failures as [`InitFailure`] (exit code 125).
//!
//! # Integration (what `mydocker run` does)
//!
//! The binary dispatches to [`init_main`] first thing in `main` when called as init:
//!
//! ```no_run
//! // First thing in the binary's `main`:
//! if std::env::args().nth(1).as_deref() == Some("init") {
//!     isolate::init_main();
//! }
//! // ... the CLI ...
//! ```
//!
//! The CLI builds the spec: [`spec::docker_spec`] gives docker's mounts, masked and
//! read-only paths and namespaces; the CLI sets `root.path` (absolute: the rootfs, or
//! the empty directory the rootfs mounts go on), `process.args` (entrypoint + cmd),
//! `env` (with `PATH` and `HOSTNAME`), `cwd`, `terminal` and `consoleSize` for `-t`,
//! `hostname`, the bind mounts of volumes and of the container's own `/etc/hosts`,
//! `/etc/hostname`, `/etc/resolv.conf` files (as `bind` mounts with `rbind`/`ro`
//! options), `--tmpfs` mounts, `root.readonly` for `--read-only`, rlimits, and the
//! capabilities and seccomp profile (docker's defaults, from the `caps` and `seccomp`
//! modules).
//!
//! ```no_run
//! use isolate::{Container, SpawnOptions, Stdio, spec};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut spec = spec::docker_spec("/var/lib/mydocker/containers/abc/rootfs", &["sh", "-c", "echo hi"]);
//! spec.set_hostname(Some("abc123def456".into()));
//! let mut opts = SpawnOptions::new(["mydocker", "init"]);
//! opts.stdin = Stdio::Null;
//! let pending = Container::spawn(&spec, opts)?;
//! // Between spawn and start: put pending.pid() into the container's cgroup
//! // (cgroup.procs), move the veth into /proc/<pid>/ns/net and configure it.
//! let mut running = pending.start()?; // Err(e) => exit with e.exit_code() (125/126/127)
//! for w in running.warnings() {
//!     eprintln!("WARNING: {w}");
//! }
//! let forwarder = isolate::SignalForwarder::start(running.pid())?;
//! let status = running.wait()?;
//! drop(forwarder);
//! std::process::exit(status.code()); // 128+N when killed by signal N
//! # }
//! ```
//!
//! # Rootfs mounts and user names
//!
//! A storage driver describes a container's rootfs as mounts (an `overlay` of layers, a
//! `bind` of a copied tree, an `aufs` union): pass them as
//! [`SpawnOptions::rootfs_mounts`] and an empty directory as `root.path`. The init
//! mounts them inside the container's mount namespace (a destination of `/` is
//! `root.path`; `mount(2)` with the options as data, the `lowerdir` list compacted when
//! it would not fit a page), so they vanish with the container and the caller has
//! nothing to unmount; a failure is an [`InitFailure`] of [`Stage::Rootfs`].
//!
//! A user given by name (docker's `-u`, the image's `User`) is passed unresolved as
//! [`SpawnOptions::user`] (or [`ExecOptions::user`]): the init reads the container's
//! /etc/passwd and /etc/group inside its root and sets `process.user` (uid, gid,
//! supplementary groups) and `HOME` (unless the environment has one), as docker does at
//! start. Unknown names fail with docker's message, as an [`InitFailure`] of
//! [`Stage::User`] (exit code 125). The rules themselves are pure functions in [`user`].
//!
//! ```no_run
//! use isolate::{Container, SpawnOptions, UserRequest, spec};
//! use oci_spec::runtime::Mount;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = "/var/lib/mydocker/containers/abc";
//! let mut overlay = Mount::default();
//! overlay.set_destination("/".into());
//! overlay.set_typ(Some("overlay".into()));
//! overlay.set_source(Some("overlay".into()));
//! overlay.set_options(Some(vec![
//!     "lowerdir=/var/lib/mydocker/layers/overlay/l2:/var/lib/mydocker/layers/overlay/l1".into(),
//!     format!("upperdir={dir}/diff"),
//!     format!("workdir={dir}/work"),
//! ]));
//! let spec = spec::docker_spec(format!("{dir}/merged"), &["id"]);
//! let mut opts = SpawnOptions::new(["mydocker", "init"]);
//! opts.rootfs_mounts = vec![overlay];
//! opts.user = Some(UserRequest::parse("nobody:nogroup")?);
//! let status = Container::spawn(&spec, opts)?.start()?.wait()?;
//! # let _ = status; Ok(()) }
//! ```
//!
//! For `-t`, set `process.terminal` (and `consoleSize` from the host terminal, e.g.
//! [`rustix::termios::tcgetwinsize`] on stdin): the pty is allocated inside the
//! container's devpts, sized before the command starts, and its master comes back
//! through [`Running::take_pty_master`]; run a [`PtyProxy`] on it (raw mode on the
//! user's terminal, restored on drop; copying; SIGWINCH) while waiting:
//!
//! ```no_run
//! # fn demo(mut running: isolate::Running) -> Result<(), Box<dyn std::error::Error>> {
//! let proxy = match running.take_pty_master() {
//!     Some(master) => Some(isolate::PtyProxy::start(master)?),
//!     None => None,
//! };
//! let status = running.wait()?;
//! if let Some(p) = proxy {
//!     p.wait()?; // drains the output; the terminal mode is restored
//! }
//! # let _ = status; Ok(()) }
//! ```
//!
//! For `--init`, set [`SpawnOptions::reaper`]: PID 1 is then our binary in a reaping,
//! signal-forwarding loop, and the command is PID 2.
//!
//! cgroups: the CLI creates the container's cgroup before [`Container::spawn`] and
//! writes [`Pending::pid`] to its `cgroup.procs` before [`Pending::start`]. To show the
//! container its own cgroup at /sys/fs/cgroup (docker's read-only cgroup mount), pass
//! `bind` mounts of the cgroup directories (a `tmpfs` at /sys/fs/cgroup, then a
//! read-only [`spec::bind_mount`] of each v1 hierarchy's container directory, or of the
//! v2 directory). Mounts of type `cgroup`/`cgroup2` are not performed: the init skips
//! them with a warning. For a cgroup namespace (cgroup v2), add it to
//! `linux.namespaces`: the init unshares it after the go-ahead.
//!
//! `exec`: [`Container::exec`] with the container's PID 1 pid, its process settings
//! (args, env, cwd, user, capabilities), its seccomp profile and its `cgroup.procs`
//! files in [`ExecOptions::cgroup_procs`]. The returned [`Running`] is the caller's child:
//! always `wait()` it (an unreaped child in the container's PID namespace keeps the
//! container's PID 1 from finishing its exit).
//!
//! Kernel: Linux 5.12 or later (new mount API, `mount_setattr`, `close_range`), run as
//! root.

pub mod caps;
mod channel;
mod created;
mod error;
mod exe;
mod exec;
mod gate;
pub mod hooks;
mod init;
mod launch;
mod mountopt;
mod nsplan;
mod phases;
pub mod seccomp;
mod security;
mod signals;
mod spawn;
pub mod spec;
mod sys;
mod tty;
pub mod user;

pub use created::Created;
pub use error::{
    Error, ErrorKind, ExecFailure, ExecFailureReason, InitFailure, ProtocolError, Stage,
};
pub use exe::ExeProtection;
pub use exec::ExecOptions;
pub use gate::{GateError, StartGate};
pub use init::init_main;
pub use phases::{Phase, monotonic_ns};
pub use signals::SignalForwarder;
pub use spawn::{Container, ExitStatus, Pending, Running, SpawnOptions, Stdio};
pub use tty::{PtyProxy, RawModeGuard};
pub use user::UserRequest;
