//! The cgroup v1 (and hybrid) manager: one directory per hierarchy, at the same relative
//! path in each.

mod blkio;
mod cpu;
mod cpuacct;
mod cpuset;
mod devices;
mod freezer;
mod memory;
mod pids;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use crate::fs::{self, Backoff};
use crate::manager::{kill_all_processes, missing_controller};
use crate::{CgroupManager, CgroupPath, Controller, FreezerState, Layout, Stats, Warning};

/// A v1 controller: a stateless unit that applies its part of the resources to one
/// cgroup directory.
pub(crate) trait V1Controller {
    /// The controller whose hierarchy holds the directory.
    const CONTROLLER: Controller;
    /// Writes this controller's settings from `resources` into `dir`.
    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>>;
}

type ApplyFn = fn(&LinuxResources, &Path) -> Result<Vec<Warning>>;

/// The controllers that take settings, in the order they are applied.
const SETTERS: [(Controller, ApplyFn); 6] = [
    (cpu::Cpu::CONTROLLER, cpu::Cpu::apply),
    (cpuset::Cpuset::CONTROLLER, cpuset::Cpuset::apply),
    (memory::Memory::CONTROLLER, memory::Memory::apply),
    (pids::Pids::CONTROLLER, pids::Pids::apply),
    (devices::Devices::CONTROLLER, devices::Devices::apply),
    (blkio::Blkio::CONTROLLER, blkio::Blkio::apply),
];

/// Which hierarchy to read the member processes from, best first.
const PROCS_FROM: [Controller; 8] = [
    Controller::Pids,
    Controller::Freezer,
    Controller::Memory,
    Controller::Cpu,
    Controller::Cpuacct,
    Controller::Cpuset,
    Controller::Devices,
    Controller::Blkio,
];

/// The v1 manager of one cgroup.
#[derive(Debug, Clone)]
pub(crate) struct V1Manager {
    path: CgroupPath,
    layout: Layout,
    mounts: BTreeMap<Controller, PathBuf>,
    backoff: Backoff,
}

impl V1Manager {
    pub(crate) fn new(
        mounts: BTreeMap<Controller, PathBuf>,
        path: &CgroupPath,
        layout: Layout,
    ) -> V1Manager {
        V1Manager {
            path: path.clone(),
            layout,
            mounts,
            backoff: Backoff::DEFAULT,
        }
    }

    /// The cgroup's directory in `controller`'s hierarchy.
    fn dir(&self, controller: Controller) -> Option<PathBuf> {
        self.mounts
            .get(&controller)
            .map(|mount| mount.join(self.path.as_path()))
    }

    fn require(&self, controller: Controller, needed_for: &'static str) -> Result<PathBuf> {
        self.dir(controller).ok_or(Error::ControllerMissing {
            controller,
            resource: needed_for,
        })
    }

    /// The distinct hierarchies (mount points) and the controllers each holds.
    fn hierarchies(&self) -> BTreeMap<&Path, Vec<Controller>> {
        let mut map: BTreeMap<&Path, Vec<Controller>> = BTreeMap::new();
        for (controller, mount) in &self.mounts {
            map.entry(mount.as_path()).or_default().push(*controller);
        }
        map
    }

    /// Errors for requested controllers that are missing, warnings for the others.
    fn check_controllers(&self, resources: &LinuxResources) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        for controller in Controller::ALL {
            if !self.mounts.contains_key(&controller) {
                warnings.extend(missing_controller(controller, resources)?);
            }
        }
        Ok(warnings)
    }

    fn apply_settings(&self, resources: &LinuxResources) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        for (controller, apply) in SETTERS {
            if let Some(dir) = self.dir(controller) {
                warnings.extend(apply(resources, &dir)?);
            }
        }
        Ok(warnings)
    }

    /// Creates the cgroup's directory in every hierarchy, each level of a cpuset hierarchy
    /// given its parent's CPUs and memory nodes. Returns whether any leaf was new.
    fn create_dirs(&self) -> Result<bool> {
        let mut created_leaf = false;
        let levels = self.path.ancestors_and_self();
        for (mount, controllers) in self.hierarchies() {
            let mut parent = mount.to_path_buf();
            for (i, level) in levels.iter().enumerate() {
                let dir = mount.join(level);
                let created = fs::create_dir(&dir)?;
                if i + 1 == levels.len() {
                    created_leaf |= created;
                }
                if controllers.contains(&Controller::Cpuset) {
                    cpuset::inherit_from_parent(&dir, &parent)?;
                }
                parent = dir;
            }
        }
        Ok(created_leaf)
    }
}

impl CgroupManager for V1Manager {
    fn layout(&self) -> Layout {
        self.layout
    }

    fn cgroup_path(&self) -> &CgroupPath {
        &self.path
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.hierarchies()
            .keys()
            .map(|mount| mount.join(self.path.as_path()))
            .collect()
    }

    fn create(&self, resources: &LinuxResources) -> Result<Vec<Warning>> {
        let mut warnings = self.check_controllers(resources)?;
        let mut created = false;
        let result = fs::retry_vanished_parent(|| self.create_dirs()).and_then(|c| {
            created = c;
            self.apply_settings(resources)
        });
        match result {
            Ok(w) => {
                warnings.extend(w);
                Ok(warnings)
            }
            Err(e) => {
                if created {
                    // Best effort: the original error is what the caller needs to see.
                    let _ = self.remove();
                }
                Err(e)
            }
        }
    }

    fn apply(&self, resources: &LinuxResources) -> Result<Vec<Warning>> {
        let mut warnings = self.check_controllers(resources)?;
        warnings.extend(self.apply_settings(resources)?);
        Ok(warnings)
    }

    fn add_task(&self, pid: u32) -> Result<()> {
        let data = crate::manager::pid_data(pid)?;
        for dir in self.paths() {
            fs::write_file(&dir, "cgroup.procs", &data)?;
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<u32>> {
        match PROCS_FROM.into_iter().find_map(|c| self.dir(c)) {
            Some(dir) => fs::pids_recursive(&dir),
            None => Ok(Vec::new()),
        }
    }

    fn freeze(&self) -> Result<()> {
        freezer::freeze(&self.require(Controller::Freezer, "pausing")?, self.backoff)
    }

    fn thaw(&self) -> Result<()> {
        freezer::thaw(
            &self.require(Controller::Freezer, "unpausing")?,
            self.backoff,
        )
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        freezer::state(&self.require(Controller::Freezer, "the freezer state")?)
    }

    fn stats(&self) -> Result<Stats> {
        let cpu = match self.dir(Controller::Cpuacct) {
            Some(dir) => {
                let mut stats = cpuacct::stats(&dir)?;
                if let Some(cpu_dir) = self.dir(Controller::Cpu) {
                    (stats.periods, stats.throttled_periods, stats.throttled_ns) =
                        cpu::throttling(&cpu_dir)?;
                }
                Some(stats)
            }
            None => None,
        };
        let memory = self
            .dir(Controller::Memory)
            .map(|d| memory::stats(&d))
            .transpose()?;
        let pids = self
            .dir(Controller::Pids)
            .map(|d| pids::stats(&d))
            .transpose()?;
        Ok(Stats { cpu, memory, pids })
    }

    fn oom_killed(&self) -> Result<bool> {
        match self.dir(Controller::Memory) {
            Some(dir) => memory::oom_killed(&dir),
            None => Ok(false),
        }
    }

    fn kill_all(&self) -> Result<()> {
        kill_all_processes(self, self.mounts.contains_key(&Controller::Freezer))
    }

    fn remove(&self) -> Result<()> {
        let mut first_error = None;
        for dir in self.paths() {
            if let Err(e) = fs::remove_cgroup_tree(&dir, self.backoff) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// What only v1 does; the behaviour every layout shares is tested by `crate::suite`.
#[cfg(test)]
mod tests {
    use crate::{CgroupFs, CgroupPath, Controller};

    #[test]
    fn comounted_hierarchies_get_one_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let mount = tmp.path().join("cpu,cpuacct");
        std::fs::create_dir_all(&mount).unwrap();
        let fs = CgroupFs::v1([
            (Controller::Cpu, mount.clone()),
            (Controller::Cpuacct, mount.clone()),
        ]);
        let cgroup = fs.manager(&CgroupPath::under("mydocker", "ctr").unwrap());
        assert_eq!(cgroup.paths(), vec![mount.join("mydocker/ctr")]);
    }
}
