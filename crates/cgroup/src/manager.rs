//! The manager trait and the values it returns.

use std::fmt;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;

use crate::error::Result;
use crate::{CgroupPath, Controller, Layout};

/// A manager behind a box, as [`crate::CgroupFs::manager`] returns it: the CLI holds this
/// without knowing whether the system is v1 or v2.
pub type AnyManager = Box<dyn CgroupManager>;

/// One container's cgroup, on every hierarchy it needs.
///
/// # Lifecycle
///
/// 1. [`create`](Self::create) the cgroup with the container's resources before the
///    container's command runs, and show the returned [`Warning`]s to the user;
/// 2. [`add_task`](Self::add_task) the container's init (its children follow it);
/// 3. while it runs: [`stats`](Self::stats), [`pids`](Self::pids),
///    [`freeze`](Self::freeze)/[`thaw`](Self::thaw) for `pause`/`unpause`,
///    [`apply`](Self::apply) for `update`;
/// 4. once it exited: [`oom_killed`](Self::oom_killed) to tell an OOM kill from another
///    SIGKILL (before removal: the counters vanish with the cgroup);
/// 5. [`remove`](Self::remove) it ([`kill_all`](Self::kill_all) first if processes may
///    remain, e.g. without a PID namespace).
///
/// A manager holds only paths: another process (`mydocker stats`, `exec`, `rm`) gets the
/// same cgroup by building a manager with the same [`CgroupPath`].
pub trait CgroupManager: fmt::Debug + Send + Sync {
    /// The layout this manager drives ([`Layout::Hybrid`] is driven like v1).
    fn layout(&self) -> Layout;

    /// The cgroup's path relative to the hierarchies' roots.
    fn cgroup_path(&self) -> &CgroupPath;

    /// The cgroup's directories: one per v1 hierarchy used, or the one v2 directory.
    fn paths(&self) -> Vec<PathBuf>;

    /// Creates the cgroup (and its parents) and applies `resources`.
    ///
    /// A controller that is missing is an error naming it when `resources` asks it for a
    /// limit, and a [`Warning`] otherwise. Creating an existing cgroup applies the
    /// resources again.
    fn create(&self, resources: &LinuxResources) -> Result<Vec<Warning>>;

    /// Applies `resources` to the existing cgroup (`docker update`). Fields left unset
    /// keep their current value.
    fn apply(&self, resources: &LinuxResources) -> Result<Vec<Warning>>;

    /// Moves the process `pid` (and so its future children) into the cgroup.
    fn add_task(&self, pid: u32) -> Result<()>;

    /// The processes in the cgroup and its descendants, sorted.
    fn pids(&self) -> Result<Vec<u32>>;

    /// Freezes every process of the cgroup and waits (bounded) until the kernel reports
    /// the cgroup frozen. On timeout the cgroup is thawed again and an error returned.
    fn freeze(&self) -> Result<()>;

    /// Thaws the cgroup and waits (bounded) until the kernel reports it thawed.
    fn thaw(&self) -> Result<()>;

    /// The freezer's current state.
    fn freezer_state(&self) -> Result<FreezerState>;

    /// CPU, memory and pids usage. A section is `None` when its controller is missing.
    fn stats(&self) -> Result<Stats>;

    /// Whether the kernel's OOM killer killed a process of this cgroup. v1 reads
    /// `memory.oom_control`'s `oom_kill` counter (kernel 4.13+), falling back to
    /// `memory.failcnt` (the limit was hit) on older kernels; v2 reads `memory.events`.
    fn oom_killed(&self) -> Result<bool>;

    /// Sends SIGKILL to every process of the cgroup (v2's `cgroup.kill` when the kernel
    /// has it; otherwise frozen first so nothing can fork in between, then thawed).
    fn kill_all(&self) -> Result<()>;

    /// Removes the cgroup from every hierarchy, descendants first. A cgroup that is already
    /// gone counts as removed; `EBUSY` from processes still exiting is retried for a
    /// bounded time. Parents (such as `mydocker`) are left in place.
    fn remove(&self) -> Result<()>;
}

/// Something the caller asked for, or may expect, that this system does not do. The
/// library never prints: the CLI shows these as Docker shows its warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A controller is not available. No limit was asked of it, but something will not
    /// work: `consequence` says what.
    ControllerMissing {
        /// The controller.
        controller: Controller,
        /// What will not work, e.g. `pause and unpause will not work`.
        consequence: &'static str,
    },
    /// A requested setting cannot be honoured here and was ignored.
    Ignored {
        /// The setting, e.g. `memory swap limit`.
        resource: &'static str,
        /// Why it was ignored.
        reason: &'static str,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ControllerMissing {
                controller,
                consequence,
            } => write!(
                f,
                "the {controller} cgroup controller is not available: {consequence}"
            ),
            Self::Ignored { resource, reason } => write!(f, "{resource} ignored: {reason}"),
        }
    }
}

/// The freezer's state, with the kernel's v1 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FreezerState {
    /// Running normally.
    Thawed,
    /// Freezing was asked for and is in progress.
    Freezing,
    /// Every process is frozen.
    Frozen,
}

impl fmt::Display for FreezerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Thawed => "THAWED",
            Self::Freezing => "FREEZING",
            Self::Frozen => "FROZEN",
        })
    }
}

/// Resource usage of a cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// CPU time (`None` without CPU accounting).
    pub cpu: Option<CpuStats>,
    /// Memory (`None` without the memory controller).
    pub memory: Option<MemoryStats>,
    /// Processes (`None` without the pids controller).
    pub pids: Option<PidsStats>,
}

/// CPU time of a cgroup, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuStats {
    /// Total CPU time consumed.
    pub usage_ns: u64,
    /// Time in user mode, when the kernel reports it.
    pub user_ns: Option<u64>,
    /// Time in kernel mode, when the kernel reports it.
    pub system_ns: Option<u64>,
    /// Enforcement periods elapsed (0 without a quota).
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Total time throttled.
    pub throttled_ns: u64,
}

/// Memory use of a cgroup, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Current usage (page cache included, as the kernel counts it).
    pub usage: u64,
    /// Peak usage, when the kernel reports it.
    pub max_usage: Option<u64>,
    /// The limit; `None` means unlimited.
    pub limit: Option<u64>,
    /// Inactive file cache: Docker shows `usage - inactive_file` as MEM USAGE.
    pub inactive_file: Option<u64>,
    /// OOM kills in the cgroup, when the kernel counts them.
    pub oom_kills: Option<u64>,
}

/// Process count of a cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PidsStats {
    /// Processes (and threads) in the cgroup now.
    pub current: u64,
    /// The limit; `None` means unlimited.
    pub limit: Option<u64>,
}

/// What a missing `controller` means for `resources`: an error when they ask it for
/// something, else a warning saying what will not work (none for `blkio`, which only
/// sets limits).
pub(crate) fn missing_controller(
    controller: Controller,
    resources: &LinuxResources,
) -> Result<Option<Warning>> {
    if let Some(resource) = crate::resources::requested(controller, resources) {
        return Err(crate::Error::ControllerMissing {
            controller,
            resource,
        });
    }
    let consequence = match controller {
        // Nothing is reported from it: without a request, nothing is lost.
        Controller::Blkio => return Ok(None),
        Controller::Cpu => "CPU shares and quotas cannot be set",
        Controller::Cpuacct => "CPU usage will not be reported",
        Controller::Cpuset => "CPUs and memory nodes cannot be pinned",
        Controller::Memory => "memory usage and OOM kills will not be reported",
        Controller::Pids => "process counts will not be reported",
        Controller::Freezer => "pause and unpause will not work",
        Controller::Devices => "device access rules cannot be set",
    };
    Ok(Some(Warning::ControllerMissing {
        controller,
        consequence,
    }))
}

/// The text written to `cgroup.procs` for `pid`. Pid 0 would move the writer itself.
pub(crate) fn pid_data(pid: u32) -> Result<String> {
    if pid == 0 || i32::try_from(pid).is_err() {
        return Err(crate::Error::InvalidPid { pid });
    }
    Ok(pid.to_string())
}

/// Rounds of "list the processes, SIGKILL them" before leaving the rest to `remove`.
const KILL_ROUNDS: u32 = 20;

/// SIGKILLs every process of the cgroup, freezing it around each round when it can so
/// that nothing forks between listing and killing. Stops when the cgroup is empty or
/// after [`KILL_ROUNDS`]; processes that are still exiting are waited for by `remove`.
pub(crate) fn kill_all_processes(manager: &dyn CgroupManager, can_freeze: bool) -> Result<()> {
    let backoff = crate::fs::Backoff::DEFAULT;
    for round in 0..KILL_ROUNDS {
        let frozen = can_freeze && manager.freeze().is_ok();
        let killed = manager.pids().and_then(|pids| {
            for pid in &pids {
                crate::sys::kill(*pid)?;
            }
            Ok(pids.len())
        });
        if frozen {
            manager.thaw()?;
        }
        if killed? == 0 {
            return Ok(());
        }
        backoff.sleep(round);
    }
    Ok(())
}
