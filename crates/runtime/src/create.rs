//! `create` and `run`.
//!
//! Both load the bundle, reserve the container's state directory, create its cgroup,
//! spawn the init (isolate), put it in the cgroup, wait until its mounts and
//! `pivot_root` are done and run the `prestart` and `createRuntime` hooks. Then:
//!
//! - `create` makes the start gate (`exec.fifo`) and lets the init finish everything but
//!   the `execve` ([`isolate::Pending::start_gated`]); it records the state, sends the
//!   pty to `--console-socket`, writes `--pid-file` and exits, leaving the init waiting;
//! - `run` lets the init execute at once, records the state, runs the `poststart` hooks
//!   and (unless detached) waits for the process, proxying its terminal and forwarding
//!   signals, then deletes the container.
//!
//! Any failure before the end undoes what was made (init killed, cgroup and state
//! directory removed).

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use cgroup::{AnyManager, CgroupFs};
use isolate::{Container as Isolate, Pending, SpawnOptions, StartGate, Stdio};
use oci_spec::runtime::ContainerState;

use crate::bundle::{self, Lsm};
use crate::cgroups;
use crate::console::send_console;
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{self, Container, Record, StateRoot};

/// The options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The container ID.
    pub id: String,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Where to write the init's pid.
    pub pid_file: Option<PathBuf>,
    /// Where to send the pty master (`process.terminal`).
    pub console_socket: Option<PathBuf>,
    /// Descriptors 3, 4, ... passed to the container's process.
    pub preserve_fds: u32,
    /// `--systemd-cgroup`.
    pub systemd_cgroup: bool,
    /// `run --detach`: return once the process runs.
    pub detach: bool,
}

/// Everything made before the container exists, undone on drop unless disarmed.
struct Setup {
    dir: PathBuf,
    _lock: fsutil::FileLock,
    record: Record,
    cgroup: Option<AnyManager>,
    pending: Option<Pending>,
    /// An init that no `Pending` owns any more (gated or started): killed on failure.
    init_pid: Option<i32>,
    armed: bool,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        drop(self.pending.take());
        if let Some(pid) = self.init_pid {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap_or(rustix::process::Pid::INIT),
                rustix::process::Signal::KILL,
            );
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty());
            }
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.kill_all();
            let _ = cg.remove();
        }
        let _ = fsutil::remove_tree(&self.dir);
    }
}

/// The container's process up to the go-ahead (shared by `create` and `run`).
fn prepare(root: &StateRoot, opts: &CreateOptions, warnings: &mut Vec<String>) -> Result<Setup> {
    let bundle = bundle::load(&opts.bundle)?;
    warnings.extend(bundle::check_support(&bundle.spec, Lsm::detect())?);
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    check_console(terminal, opts)?;
    let (dir, lock) = root.reserve(&opts.id)?;
    let mut spec = bundle.spec.clone();
    let mut setup = Setup {
        dir: dir.clone(),
        _lock: lock,
        record: Record {
            id: opts.id.clone(),
            pid: 0,
            pid_start: 0,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: state::now_rfc3339(),
            cgroup: None,
            config: spec.clone(),
        },
        cgroup: None,
        pending: None,
        init_pid: None,
        armed: true,
    };
    let path = cgroups::cgroup_path(&spec, &opts.id, opts.systemd_cgroup)?;
    let fs = CgroupFs::detect()?;
    let manager = fs.manager(&path);
    let created = manager.create(&cgroups::resources(&spec));
    setup.cgroup = Some(manager);
    warnings.extend(created?.iter().map(ToString::to_string));
    cgroups::rewrite_cgroup_mounts(&mut spec, &fs, &path);
    setup.record.cgroup = Some(path.as_path().to_string_lossy().into_owned());
    setup.record.config = spec.clone();

    let mut spawn = SpawnOptions::new(["mydocker-runc", "init"]);
    spawn.stdin = Stdio::Inherit;
    spawn.stdout = Stdio::Inherit;
    spawn.stderr = Stdio::Inherit;
    spawn.preserve_fds = opts.preserve_fds;
    spawn.hook_state = Some(state::hook_state(&setup.record, ContainerState::Creating));
    let mut pending = Isolate::spawn(&spec, spawn)?;
    setup.record.pid = pending.pid();
    if let Some(cg) = &setup.cgroup {
        if let Err(e) = cg.add_task(pending.pid() as u32) {
            // The init may have failed first (and that is the error to show).
            return Err(pending.failure().map_or(Error::from(e), Error::from));
        }
    }
    pending.wait_ready()?;
    setup.record.pid_start = state::proc_start_time(pending.pid()).unwrap_or(0);
    // runc and crun pass `created` to these (the conformance suite checks it).
    let hook_state = state::hook_state(&setup.record, ContainerState::Created);
    hooks::run_fatal("prestart", hooks::prestart(&spec), &hook_state)?;
    hooks::run_fatal("createRuntime", hooks::create_runtime(&spec), &hook_state)?;
    setup.pending = Some(pending);
    Ok(setup)
}

/// runc's rules: a terminal of a detached container needs a console socket, and a
/// console socket needs a terminal.
fn check_console(terminal: bool, opts: &CreateOptions) -> Result<()> {
    match (terminal, &opts.console_socket) {
        (false, Some(_)) => Err(Error::InvalidInput(
            "cannot use a console socket: process.terminal is false".into(),
        )),
        (true, None) if opts.detach => Err(Error::InvalidInput(
            "cannot allocate a terminal for a detached container without --console-socket".into(),
        )),
        _ => Ok(()),
    }
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = if path.is_relative() {
        std::env::current_dir()
            .map_err(Error::sys("getcwd"))?
            .join(path)
    } else {
        path.to_path_buf()
    };
    fsutil::write_atomic_unsynced(&path, pid.to_string().as_bytes())?;
    Ok(())
}

/// `create`: the container exists, its init waits on the start gate. Returns warnings.
pub fn create(root: &StateRoot, opts: &CreateOptions) -> Result<Vec<String>> {
    let opts = CreateOptions {
        detach: true,
        ..opts.clone()
    };
    let mut warnings = Vec::new();
    let mut setup = prepare(root, &opts, &mut warnings)?;
    let Some(pending) = setup.pending.take() else {
        return Err(Error::Config("internal: no init".into()));
    };
    let gate = StartGate::create(&root.fifo(&opts.id))?;
    let mut created = pending.start_gated(gate)?;
    setup.init_pid = Some(created.pid());
    warnings.extend(created.warnings().iter().cloned());
    Container::save(&setup.record, &setup.dir)?;
    if let (Some(socket), Some(master)) = (&opts.console_socket, created.take_pty_master()) {
        send_console(socket, master.as_fd())?;
    }
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, created.pid())?;
    }
    setup.armed = false;
    Ok(warnings)
}

/// A container started by `run`, until it exits.
#[derive(Debug)]
pub struct RunHandle {
    running: isolate::Running,
    container: Container,
    proxy: Option<isolate::PtyProxy>,
}

/// `run`: create and start at once. Returns the handle (to [`RunHandle::wait`] unless
/// detached) and warnings.
pub fn run(root: &StateRoot, opts: &CreateOptions) -> Result<(RunHandle, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut setup = prepare(root, opts, &mut warnings)?;
    let Some(pending) = setup.pending.take() else {
        return Err(Error::Config("internal: no init".into()));
    };
    let mut running = pending.start()?;
    setup.init_pid = Some(running.pid());
    warnings.extend(running.warnings().iter().cloned());
    let container = Container::save(&setup.record, &setup.dir)?;
    let master = running.take_pty_master();
    let proxy = match (master, &opts.console_socket) {
        (Some(m), Some(socket)) => {
            send_console(socket, m.as_fd())?;
            None
        }
        (Some(m), None) => Some(isolate::PtyProxy::start(m).map_err(Error::sys("terminal proxy"))?),
        (None, _) => None,
    };
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, running.pid())?;
    }
    setup.armed = false;
    let state = container.hook_state(ContainerState::Running);
    warnings.extend(hooks::run_warn(
        "poststart",
        hooks::poststart(&container.record.config),
        &state,
    ));
    Ok((
        RunHandle {
            running,
            container,
            proxy,
        },
        warnings,
    ))
}

impl RunHandle {
    /// Host pid of the container's init.
    pub fn pid(&self) -> i32 {
        self.running.pid()
    }

    /// Waits for the container's process, then deletes the container. Returns its exit
    /// code (128+N when killed by signal N) and warnings from the deletion.
    pub fn wait(mut self) -> Result<(i32, Vec<String>)> {
        let status = self.running.wait()?;
        if let Some(p) = self.proxy.take() {
            let _ = p.wait();
        }
        let warnings = crate::ops::destroy(&self.container);
        Ok((status.code(), warnings))
    }
}
