//! The cgroup v2 (unified) manager: one directory, with the controllers it needs enabled
//! in every ancestor's `cgroup.subtree_control`.

mod cpu;
mod devices;

pub(crate) use devices::apply as apply_device_rules;
mod cpuset;
mod freezer;
mod io;
mod memory;
mod pids;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::fs::{self, Backoff};
use crate::manager::{kill_all_processes, missing_controller, pid_data};
use crate::{CgroupManager, CgroupPath, Controller, FreezerState, Layout, Stats, Warning};

/// A v2 controller: a stateless unit that applies its part of the resources to the
/// cgroup directory.
pub(crate) trait V2Controller {
    /// The controller that must be enabled for the files to exist.
    const CONTROLLER: Controller;
    /// Writes this controller's settings from `resources` into `dir`.
    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>>;
}

type ApplyFn = fn(&LinuxResources, &Path) -> Result<Vec<Warning>>;

/// The controllers that take settings, in the order they are applied. These are also the
/// controllers enabled in the ancestors' `cgroup.subtree_control`.
const SETTERS: [(Controller, ApplyFn); 5] = [
    (cpu::Cpu::CONTROLLER, cpu::Cpu::apply),
    (cpuset::Cpuset::CONTROLLER, cpuset::Cpuset::apply),
    (memory::Memory::CONTROLLER, memory::Memory::apply),
    (pids::Pids::CONTROLLER, pids::Pids::apply),
    (io::Io::CONTROLLER, io::Io::apply),
];

const CONTROLLERS: &str = "cgroup.controllers";
const SUBTREE_CONTROL: &str = "cgroup.subtree_control";

/// The v2 manager of one cgroup.
#[derive(Debug, Clone)]
pub(crate) struct V2Manager {
    root: PathBuf,
    path: CgroupPath,
    dir: PathBuf,
    backoff: Backoff,
}

/// The controllers named in a `cgroup.controllers` or `cgroup.subtree_control` file.
fn read_controllers(dir: &Path, file: &str) -> Result<BTreeSet<Controller>> {
    Ok(fs::read_file(dir, file)?
        .split_whitespace()
        .filter_map(|name| Controller::from_name(name.trim_start_matches('+')))
        .collect())
}

impl V2Manager {
    pub(crate) fn new(root: &Path, path: &CgroupPath) -> V2Manager {
        V2Manager {
            root: root.to_path_buf(),
            path: path.clone(),
            dir: root.join(path.as_path()),
            backoff: Backoff::DEFAULT,
        }
    }

    /// Creates each level below the root, enabling at every ancestor the controllers we
    /// use that the ancestor offers. A controller the root does not offer is an error if
    /// `resources` asks for it; otherwise it is left out (and `apply` warns about it).
    /// Returns whether the leaf was new.
    fn create_dirs(&self, resources: &LinuxResources) -> Result<bool> {
        let offered = read_controllers(&self.root, CONTROLLERS)?;
        let mut wanted = BTreeSet::new();
        for (controller, _) in SETTERS {
            if offered.contains(&controller) {
                wanted.insert(controller);
            } else {
                // Fails for requested controllers; the warning comes from `apply`.
                missing_controller(controller, resources)?;
            }
        }
        let mut level = self.root.clone();
        let mut created = false;
        for relative in self.path.ancestors_and_self() {
            let offered_here = read_controllers(&level, CONTROLLERS)?;
            let enabled = read_controllers(&level, SUBTREE_CONTROL)?;
            let to_enable: Vec<String> = wanted
                .iter()
                .filter(|c| offered_here.contains(c) && !enabled.contains(c))
                .map(|c| format!("+{}", c.v2_name()))
                .collect();
            if !to_enable.is_empty() {
                fs::write_file(&level, SUBTREE_CONTROL, &to_enable.join(" "))?;
            }
            level = self.root.join(relative);
            created = fs::create_dir(&level)?;
        }
        Ok(created)
    }

    /// An existing cgroup without `cgroup.freeze` is on a kernel older than 5.2.
    fn require_freezer(&self, needed_for: &'static str) -> Result<()> {
        if self.dir.is_dir() && !fs::exists(&self.dir, "cgroup.freeze") {
            return Err(Error::ControllerMissing {
                controller: Controller::Freezer,
                resource: needed_for,
            });
        }
        Ok(())
    }

    /// Errors and warnings for controllers missing from the cgroup, and the ones present.
    fn check_controllers(
        &self,
        resources: &LinuxResources,
    ) -> Result<(BTreeSet<Controller>, Vec<Warning>)> {
        let available = read_controllers(&self.dir, CONTROLLERS)?;
        let mut warnings = Vec::new();
        for (controller, _) in SETTERS {
            if !available.contains(&controller) {
                warnings.extend(missing_controller(controller, resources)?);
            }
        }
        if !fs::exists(&self.dir, "cgroup.freeze") {
            warnings.extend(missing_controller(Controller::Freezer, resources)?);
        }
        Ok((available, warnings))
    }
}

impl CgroupManager for V2Manager {
    fn layout(&self) -> Layout {
        Layout::V2
    }

    fn cgroup_path(&self) -> &CgroupPath {
        &self.path
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn create(&self, resources: &LinuxResources) -> Result<Vec<Warning>> {
        let mut created = false;
        let result = fs::retry_vanished_parent(|| self.create_dirs(resources)).and_then(|c| {
            created = c;
            self.apply(resources)
        });
        if result.is_err() && created {
            // Best effort: the original error is what the caller needs to see.
            let _ = self.remove();
        }
        result
    }

    fn apply(&self, resources: &LinuxResources) -> Result<Vec<Warning>> {
        let (available, mut warnings) = self.check_controllers(resources)?;
        for (controller, apply) in SETTERS {
            if available.contains(&controller) {
                warnings.extend(apply(resources, &self.dir)?);
            }
        }
        if let Some(rules) = resources.devices().as_ref().filter(|d| !d.is_empty()) {
            devices::apply(&self.dir, rules)?;
        }
        Ok(warnings)
    }

    fn add_task(&self, pid: u32) -> Result<()> {
        fs::write_file(&self.dir, "cgroup.procs", &pid_data(pid)?)
    }

    fn pids(&self) -> Result<Vec<u32>> {
        fs::pids_recursive(&self.dir)
    }

    fn freeze(&self) -> Result<()> {
        self.require_freezer("pausing")?;
        freezer::freeze(&self.dir, self.backoff)
    }

    fn thaw(&self) -> Result<()> {
        self.require_freezer("unpausing")?;
        freezer::thaw(&self.dir, self.backoff)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        self.require_freezer("the freezer state")?;
        freezer::state(&self.dir)
    }

    fn stats(&self) -> Result<Stats> {
        let available = read_controllers(&self.dir, CONTROLLERS)?;
        let memory = if available.contains(&Controller::Memory) {
            Some(memory::stats(&self.dir)?)
        } else {
            None
        };
        let pids = if available.contains(&Controller::Pids) {
            Some(crate::pids::stats(&self.dir)?)
        } else {
            None
        };
        Ok(Stats {
            cpu: cpu::stats(&self.dir)?,
            memory,
            pids,
        })
    }

    fn oom_killed(&self) -> Result<bool> {
        memory::oom_killed(&self.dir)
    }

    fn kill_all(&self) -> Result<()> {
        if fs::exists(&self.dir, "cgroup.kill") {
            // Linux 5.14+: the kernel kills the whole subtree, forks included.
            return fs::write_file(&self.dir, "cgroup.kill", "1");
        }
        kill_all_processes(self, fs::exists(&self.dir, "cgroup.freeze"))
    }

    fn remove(&self) -> Result<()> {
        fs::remove_cgroup_tree(&self.dir, self.backoff)
    }
}

/// What only v2 does; the behaviour every layout shares is tested by `crate::suite`.
#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxResources;

    use crate::fs::read_file;
    use crate::testutil::set_fixture;
    use crate::{CgroupFs, CgroupPath};

    /// A v2 tree offering every controller we use, with `mydocker/ctr` made.
    fn fake(root: &std::path::Path) -> CgroupFs {
        let offered = "cpuset cpu memory pids\n";
        set_fixture(root, "cgroup.controllers", offered);
        set_fixture(root, "cgroup.subtree_control", "");
        for level in ["mydocker", "mydocker/ctr"] {
            let dir = root.join(level);
            set_fixture(&dir, "cgroup.controllers", offered);
            set_fixture(&dir, "cgroup.subtree_control", "");
            set_fixture(&dir, "cgroup.freeze", "0\n");
        }
        CgroupFs::v2(root.to_path_buf())
    }

    fn path() -> CgroupPath {
        CgroupPath::under("mydocker", "ctr").unwrap()
    }

    #[test]
    fn already_enabled_controllers_are_not_written_again() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let cgroup = fake(root).manager(&path());
        set_fixture(root, "cgroup.subtree_control", "cpuset cpu memory pids\n");
        set_fixture(
            &root.join("mydocker"),
            "cgroup.subtree_control",
            "cpu memory\n",
        );
        cgroup.create(&LinuxResources::default()).unwrap();
        assert_eq!(
            read_file(root, "cgroup.subtree_control").unwrap(),
            "cpuset cpu memory pids\n"
        );
        assert_eq!(
            read_file(&root.join("mydocker"), "cgroup.subtree_control").unwrap(),
            "+cpuset +pids"
        );
    }
}
