//! The container's init: the code that runs inside the new namespaces, started by
//! `execveat` of the init binary, configured over the channel.
//!
//! [`init_main`] is what the binary calls when invoked as init (`mydocker init`).

mod cgroupfs;
mod dev;
mod join;
mod mounts;
mod ns;
pub(crate) mod process;
mod reaper;
mod root;
mod rootfs;
mod user;

use std::convert::Infallible;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use oci_spec::runtime::{
    ContainerState, Hook, Linux, LinuxNamespaceType, Mount, Process, Spec, State,
};
use rustix::fs::Mode;

use crate::channel::{Channel, InitChannel, InitConfig, RunConfig};
use crate::error::{ExecFailure, InitFailure, Stage};
use crate::phases::Marks;
use crate::security::Security;
use crate::sys;
use root::{Create, RootDir, Symlinks};

/// Environment variable carrying the number of the init's end of the socketpair.
pub(crate) const INIT_FD_ENV: &str = "_MYDOCKER_INIT_FD";

/// Environment variable carrying how many descriptors after 2 the container's process
/// inherits ([`SpawnOptions::preserve_fds`](crate::SpawnOptions::preserve_fds)).
pub(crate) const PRESERVE_FDS_ENV: &str = "_MYDOCKER_INIT_PRESERVE_FDS";

/// The descriptor number the init keeps its channel at (after the preserved ones).
const CHANNEL_FD: RawFd = 3;

/// Descriptors 3 .. 3+N passed through to the user's command (set once, at start).
static PRESERVED_FDS: AtomicU32 = AtomicU32::new(0);

/// The first descriptor number that is not passed through to the user's command.
fn first_unpreserved() -> u32 {
    3 + PRESERVED_FDS.load(Ordering::Relaxed)
}

/// Why the init stops before (or instead of) executing the user's command.
#[derive(Debug)]
pub(crate) enum Abort {
    /// A setup step failed: reported as `Failed`, exit 125.
    Setup(InitFailure),
    /// The user's command could not be executed: reported as `ExecFailed`, exit 126/127.
    Exec(ExecFailure),
}

impl From<InitFailure> for Abort {
    fn from(f: InitFailure) -> Self {
        Abort::Setup(f)
    }
}

/// Entry point of the container's init. Call it from `main` when the binary is invoked
/// as the init (`init_args` of [`SpawnOptions`](crate::SpawnOptions)); it never returns.
///
/// It reads its configuration from the parent over the inherited channel, sets up the
/// container and replaces itself with the user's command; on failure it reports a typed
/// error to the parent and exits with docker's code (125, or 126/127 for exec errors).
/// Invoked by hand (without the channel), it prints an error and exits 125.
pub fn init_main() -> ! {
    let code = match start() {
        Ok(never) => match never {},
        Err(code) => code,
    };
    sys::exit_now(code)
}

fn start() -> Result<Infallible, i32> {
    let started_ns = crate::monotonic_ns();
    // Until the user's command replaces this binary (execve makes it dumpable again),
    // nothing in the container may look into it: a non-dumpable process's /proc entries
    // (exe, fd, environ, mem) and ptrace need CAP_SYS_PTRACE, which containers lack. This
    // covers the init before its exec, an `exec`'d process before its exec, and the
    // reaping PID 1 of `--init` for the container's whole life.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        by_hand(format_args!("prctl(PR_SET_DUMPABLE): {e}"));
        return Err(125);
    }
    let Some(fd) = std::env::var(INIT_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
    else {
        by_hand(format_args!(
            "this mode is started by mydocker itself ({INIT_FD_ENV} is not set)"
        ));
        return Err(125);
    };
    if fd < 0 {
        by_hand(format_args!("bad {INIT_FD_ENV}"));
        return Err(125);
    }
    let preserved = std::env::var(PRESERVE_FDS_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0)
        .min(1 << 16);
    PRESERVED_FDS.store(preserved, Ordering::Relaxed);
    // Move the channel to a fixed number and close everything else the parent may have
    // let through (descriptors without close-on-exec): nothing of the caller's reaches
    // the container, not even this init's own table, which a reaping init keeps open for
    // the container's whole life.
    let sock = match take_channel(fd) {
        Ok(s) => s,
        Err(e) => {
            by_hand(format_args!("channel: {e}"));
            return Err(125);
        }
    };
    let ch = InitChannel(Channel::new(sock));
    let result = match ch.recv_config() {
        Ok(InitConfig::Run(cfg)) => run(&ch, &cfg, started_ns),
        Ok(InitConfig::Exec(cfg)) => join::join(&ch, &cfg),
        Err(e) => Err(Abort::Setup(InitFailure::new(Stage::Config, e.to_string()))),
    };
    match result {
        Ok(never) => match never {},
        Err(Abort::Setup(f)) => {
            // If even the report fails the parent is gone; the exit code remains.
            let _ = ch.failed(f);
            Err(125)
        }
        Err(Abort::Exec(f)) => {
            let code = f.exit_code();
            let _ = ch.exec_failed(f);
            Err(code)
        }
    }
}

/// The library's only output: the init was started by hand (or its channel is broken),
/// so there is nobody to report to but the terminal.
#[allow(
    clippy::print_stderr,
    reason = "without its channel, the init has no other way to say why it stops"
)]
fn by_hand(message: std::fmt::Arguments<'_>) {
    eprintln!("mydocker init: {message}");
}

fn take_channel(fd: RawFd) -> std::io::Result<OwnedFd> {
    // Above the descriptors passed through to the command, which stay where they are.
    let target = CHANNEL_FD + PRESERVED_FDS.load(Ordering::Relaxed) as RawFd;
    let sock = sys::take_inherited_channel(fd);
    let sock = if fd == target {
        rustix::io::fcntl_setfd(&sock, rustix::io::FdFlags::CLOEXEC)?;
        sock
    } else {
        let moved = sys::dup_to(sock.as_fd(), target)?;
        drop(sock);
        moved
    };
    sys::close_from(target as u32 + 1)?;
    Ok(sock)
}

pub(crate) fn has_namespace(spec: &Spec, t: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
}

/// Set up a new container and execute its command.
fn run(ch: &InitChannel, cfg: &RunConfig, started_ns: u64) -> Result<Infallible, Abort> {
    let mut marks = Marks::new(cfg.trace, started_ns);
    marks.mark("init: configuration received");
    let spec = &cfg.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| InitFailure::new(Stage::Config, "spec has no process"))?;
    let linux = spec.linux().clone().unwrap_or_default();
    rustix::process::umask(Mode::empty());
    sys::block_signals().map_err(|e| InitFailure::os(Stage::Config, "block signals", &e))?;

    ns::enter(spec)?;
    // Without a mount namespace of its own (the OCI spec's "inherit the runtime's"),
    // nothing may be mounted: that would be the host's mount table. The container is
    // then only chrooted into its rootfs, as runc does.
    let own_mounts = has_namespace(spec, LinuxNamespaceType::Mount);
    let (root, deferred) = if own_mounts {
        mounts::set_root_propagation(linux.rootfs_propagation().as_deref())?;
        // Only now: what is mounted from here on stays in the container's namespace.
        rootfs::mount_rootfs(&cfg.rootfs, &cfg.rootfs_mounts)?;
        let root = mounts::bind_rootfs(&cfg.rootfs)?;
        marks.mark("init: rootfs mounted");
        let deferred = mount_spec_mounts(&root, spec, &linux)?;
        if let Some(ns) = &cfg.shm_from {
            mounts::share_shm(&root, ns)?;
        }
        marks.mark("init: spec mounts, /dev");
        (root, deferred)
    } else {
        host_mounts_check(cfg, spec, &linux, process)?;
        let root = RootDir::open(&cfg.rootfs)
            .map_err(|e| InitFailure::os(Stage::Rootfs, "open rootfs", &e).at(&cfg.rootfs))?;
        (root, spec.mounts().clone().unwrap_or_default())
    };
    // In the container's mount namespace, before pivot_root, paths of the runtime's view.
    if let Some(state) = &cfg.hook_state {
        run_hooks(
            hooks_of(spec, |h| h.create_container()),
            state,
            ContainerState::Creating,
        )?;
    }
    // The image's /etc/passwd and /etc/group, as the container's mounts show them.
    let process = user::resolve_process(process, cfg.user.as_ref(), &root)?;
    let console = open_console(ch, &root, &process)?;
    if own_mounts {
        finish_root(root, spec, &linux, process.cwd())?;
    } else {
        chroot_root(root, process.cwd())?;
    }
    marks.mark("init: masked paths, pivot_root");

    set_hostname(spec)?;
    apply_rlimits(ch, &process)?;
    if let Some(adj) = process.oom_score_adj() {
        process::set_oom_score_adj(adj)?;
    }
    if let Some(slave) = console {
        attach_terminal(slave, process.user().uid(), process.user().gid())?;
    }
    let command = process::Command::new(&process)?;
    let mut security = Security::prepare(&process, linux.seccomp().as_ref())?;
    marks.mark("init: hostname, rlimits, command, seccomp compiled");
    if let Some(phases) = marks.take() {
        ch.phases(phases)
            .map_err(|e| InitFailure::new(Stage::Config, format!("report phases: {e}")))?;
    }

    ch.ready()
        .map_err(|e| InitFailure::new(Stage::Config, format!("report ready: {e}")))?;
    let gate = ch
        .wait_go_ahead()
        .map_err(|e| InitFailure::new(Stage::Config, format!("waiting for the go-ahead: {e}")))?;

    // Placed in its cgroup by now: a cgroup namespace rooted there can be made.
    ns::enter_cgroup(spec)?;
    for m in deferred.iter().filter(|_| !own_mounts) {
        ch.warn(format!(
            "mount on {} skipped: the container has no mount namespace of its own",
            m.destination().display()
        ))
        .map_err(|e| InitFailure::new(Stage::Mount, format!("report warning: {e}")))?;
    }
    for m in deferred.iter().filter(|_| own_mounts) {
        cgroupfs::mount_v2(m)?;
    }

    let finish = Finish {
        reaper: cfg.reaper,
        gate,
        start_hooks: cfg
            .hook_state
            .as_ref()
            .map(|state| (hooks_of(spec, |h| h.start_container()), state)),
    };
    finish_and_exec(ch, &process, &command, &mut security, finish)
}

/// The hooks of one kind in the spec.
fn hooks_of(
    spec: &Spec,
    kind: impl Fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>,
) -> &[Hook] {
    spec.hooks()
        .as_ref()
        .and_then(|h| kind(h).as_deref())
        .unwrap_or_default()
}

/// Run `hooks` in order with `state` (in `status`); the first failure stops the start.
fn run_hooks(hooks: &[Hook], state: &State, status: ContainerState) -> Result<(), InitFailure> {
    if hooks.is_empty() {
        return Ok(());
    }
    let mut state = state.clone();
    state.set_status(status);
    for hook in hooks {
        crate::hooks::run(hook, &state)
            .map_err(|e| InitFailure::new(Stage::Hooks, e.to_string()))?;
    }
    Ok(())
}

/// Mount `spec.mounts` inside the root (and /dev's content when /dev is ours); returns
/// the cgroup mounts of a cgroup v2 host, made after the go-ahead.
fn mount_spec_mounts(
    root: &RootDir,
    spec: &Spec,
    linux: &Linux,
) -> Result<Vec<Mount>, InitFailure> {
    let mut deferred = Vec::new();
    let spec_mounts = spec.mounts().as_deref().unwrap_or_default();
    for m in spec_mounts {
        if mounts::is_cgroup(m) {
            if cgroupfs::host_is_v2() {
                deferred.push(m.clone());
            } else {
                cgroupfs::mount_v1(root, m, linux.cgroups_path().as_deref())?;
            }
        } else {
            mounts::mount_one(root, m)?;
        }
    }
    let dev_is_ours = spec_mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && !mounts::is_bind(m));
    if dev_is_ours {
        dev::setup_dev(root, linux.devices().as_deref().unwrap_or_default())?;
    }
    Ok(deferred)
}

/// With `process.terminal`: a pty of the container's devpts, its master sent to the
/// parent, /dev/console bound to it; returns the slave end.
fn open_console(
    ch: &InitChannel,
    root: &RootDir,
    process: &Process,
) -> Result<Option<OwnedFd>, InitFailure> {
    if !process.terminal().unwrap_or(false) {
        return Ok(None);
    }
    let size = process.console_size().map(|b| (b.height(), b.width()));
    let c = dev::open_pty(root, size)?;
    dev::bind_console(root, &c)?;
    ch.console(c.master.as_fd())
        .map_err(|e| InitFailure::new(Stage::Console, format!("send the terminal: {e}")))?;
    Ok(Some(c.slave))
}

/// The workdir, sysctls, masked and read-only paths, then `pivot_root` into `root` and
/// the read-only root and propagation it asks for.
fn finish_root(root: RootDir, spec: &Spec, linux: &Linux, cwd: &Path) -> Result<(), InitFailure> {
    // The workdir is created (as root, 0755, like docker) before the pivot; it is
    // entered later as the final user.
    root.resolve(cwd, Create::Dir, Symlinks::FollowInRoot)
        .map_err(|e| InitFailure::os(Stage::Cwd, "create", &e).at(cwd))?;
    let mut sysctls: Vec<(String, String)> = linux
        .sysctl()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    sysctls.sort();
    mounts::write_sysctls(&root, &sysctls)?;
    let devnull = mounts::open_host_devnull()?;
    mounts::mask_paths(
        &root,
        linux.masked_paths().as_deref().unwrap_or_default(),
        &devnull,
    )?;
    drop(devnull);
    mounts::readonly_paths(&root, linux.readonly_paths().as_deref().unwrap_or_default())?;
    // Everything above is resolved through `root`; the pivot only changes what "/" is.
    mounts::pivot(&root)?;
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        mounts::readonly_root()?;
    }
    mounts::finish_root_propagation(linux.rootfs_propagation().as_deref())
}

/// What a container without a mount namespace cannot have: rootfs mounts, a terminal
/// (its pty would be the host's devpts), sysctls, masked or read-only paths, a read-only
/// root (each of them a change to the host).
fn host_mounts_check(
    cfg: &RunConfig,
    spec: &Spec,
    linux: &Linux,
    process: &Process,
) -> Result<(), InitFailure> {
    let refuse = |what: &str| {
        Err(InitFailure::new(
            Stage::Config,
            format!("{what} needs a mount namespace (linux.namespaces has no \"mount\")"),
        ))
    };
    if !cfg.rootfs_mounts.is_empty() {
        return refuse("a rootfs made of mounts");
    }
    if process.terminal().unwrap_or(false) {
        return refuse("a terminal");
    }
    if linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()) {
        return refuse("linux.sysctl");
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        return refuse("root.readonly");
    }
    Ok(())
}

/// The root of a container without a mount namespace: `chroot` into the rootfs (after
/// creating the working directory in it).
fn chroot_root(root: RootDir, cwd: &Path) -> Result<(), InitFailure> {
    root.resolve(cwd, Create::Dir, Symlinks::FollowInRoot)
        .map_err(|e| InitFailure::os(Stage::Cwd, "create", &e).at(cwd))?;
    let err = |what: &str, e: rustix::io::Errno| InitFailure::os(Stage::PivotRoot, what, &e.into());
    rustix::process::fchdir(root.as_fd()).map_err(|e| err("chdir rootfs", e))?;
    rustix::process::chroot(".").map_err(|e| err("chroot", e))?;
    rustix::process::chdir("/").map_err(|e| err("chdir /", e))
}

/// `process.rlimits`, each clamp reported to the parent as a warning.
pub(crate) fn apply_rlimits(ch: &InitChannel, process: &Process) -> Result<(), InitFailure> {
    for w in process::apply_rlimits(process.rlimits().as_deref().unwrap_or_default())? {
        ch.warn(w)
            .map_err(|e| InitFailure::new(Stage::Limits, format!("report warning: {e}")))?;
    }
    Ok(())
}

/// How [`finish_and_exec`] ends.
#[derive(Debug, Default)]
pub(crate) struct Finish<'a> {
    /// Run the reaping init as PID 1 (`--init`).
    pub(crate) reaper: bool,
    /// Wait on this start gate (an OCI runtime's `create`) before executing.
    pub(crate) gate: Option<OwnedFd>,
    /// `startContainer` hooks to run after the gate, with their state.
    pub(crate) start_hooks: Option<(&'a [Hook], &'a State)>,
}

/// The last steps, shared with `exec`: security, user, cwd, the start gate if any, then
/// `execve`.
pub(crate) fn finish_and_exec(
    ch: &InitChannel,
    process: &oci_spec::runtime::Process,
    command: &process::Command,
    security: &mut Security,
    finish: Finish<'_>,
) -> Result<Infallible, Abort> {
    // Nothing but 0, 1, 2 (and the descriptors passed through) survives the exec,
    // whatever was opened since start. Done before a seccomp filter may be installed
    // (older profiles do not list close_range).
    sys::cloexec_from(first_unpreserved())
        .map_err(|e| InitFailure::os(Stage::Command, "close_range", &e))?;
    let mut gate_until_exec = None;
    security.before_user_change()?;
    process::switch_user(process)?;
    security.after_user_change()?;
    process::enter_cwd(process.cwd())?;
    rustix::process::umask(Mode::from_raw_mode(process.user().umask().unwrap_or(0o022)));
    if let Some(gate) = finish.gate {
        // What runc checks before its exec FIFO: a missing command fails `create`.
        command.check_exists().map_err(Abort::Exec)?;
        ch.gated()
            .map_err(|e| InitFailure::new(Stage::Config, format!("report the gate: {e}")))?;
        // The parent may be gone from here on: nobody hears about failures but the exit
        // status.
        crate::gate::wait(&gate)
            .map_err(|e| InitFailure::os(Stage::Config, "wait on the start gate", &e))?;
        if let Some((hooks, state)) = finish.start_hooks {
            run_hooks(hooks, state, ContainerState::Created)?;
        }
        // Kept open until the exec closes it (close-on-exec): `StartGate::release`
        // waits for that, so that `start` returns once the command runs.
        gate_until_exec = Some(gate);
    }
    security.finish()?;
    if finish.reaper {
        drop(gate_until_exec);
        return reaper::run(ch, command, process.terminal().unwrap_or(false));
    }
    sys::reset_signals();
    Err(Abort::Exec(command.exec()))
}

fn set_hostname(spec: &Spec) -> Result<(), InitFailure> {
    let new_uts = has_namespace(spec, LinuxNamespaceType::Uts);
    for (value, is_host) in [(spec.hostname(), true), (spec.domainname(), false)] {
        let Some(name) = value.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if !new_uts {
            return Err(InitFailure::new(
                Stage::Hostname,
                "setting a hostname needs a UTS namespace",
            ));
        }
        let res = if is_host {
            rustix::system::sethostname(name.as_bytes())
        } else {
            rustix::system::setdomainname(name.as_bytes())
        };
        res.map_err(|e| InitFailure::os(Stage::Hostname, name, &e.into()))?;
    }
    Ok(())
}

/// Make the pty slave our controlling terminal and standard streams. The caller leads a
/// session without a terminal (the init since its clone, an exec'd process since its
/// `setsid` after the fork).
pub(crate) fn attach_terminal(slave: OwnedFd, uid: u32, gid: u32) -> Result<(), InitFailure> {
    let err = |what: &str, e: rustix::io::Errno| InitFailure::os(Stage::Console, what, &e.into());
    rustix::process::ioctl_tiocsctty(&slave).map_err(|e| err("TIOCSCTTY", e))?;
    rustix::fs::fchown(
        &slave,
        Some(rustix::fs::Uid::from_raw(uid)),
        Some(rustix::fs::Gid::from_raw(gid)),
    )
    .map_err(|e| err("chown the terminal", e))?;
    rustix::stdio::dup2_stdin(&slave).map_err(|e| err("dup2 stdin", e))?;
    rustix::stdio::dup2_stdout(&slave).map_err(|e| err("dup2 stdout", e))?;
    rustix::stdio::dup2_stderr(&slave).map_err(|e| err("dup2 stderr", e))?;
    Ok(())
}
