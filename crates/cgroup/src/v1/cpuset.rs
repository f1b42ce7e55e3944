//! v1 `cpuset`: CPUs and memory nodes. A v1 cpuset starts empty, and a task cannot join a
//! cpuset without CPUs or memory nodes, so every level we create is first given its
//! parent's sets.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V1Controller;
use crate::error::Result;
use crate::fs::{read_file, write_file};
use crate::{Controller, Warning};

pub(crate) struct Cpuset;

const CPUS: &str = "cpuset.cpus";
const MEMS: &str = "cpuset.mems";

impl V1Controller for Cpuset {
    const CONTROLLER: Controller = Controller::Cpuset;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        let Some(cpu) = resources.cpu() else {
            return Ok(Vec::new());
        };
        // Memory nodes first: the kernel checks both against the parent, in any order.
        for (file, value) in [(MEMS, cpu.mems()), (CPUS, cpu.cpus())] {
            if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                write_file(dir, file, value)?;
            }
        }
        Ok(Vec::new())
    }
}

/// Copies `parent`'s CPUs and memory nodes into `dir` where `dir`'s are empty.
pub(crate) fn inherit_from_parent(dir: &Path, parent: &Path) -> Result<()> {
    for file in [CPUS, MEMS] {
        if read_file(dir, file)?.trim().is_empty() {
            let inherited = read_file(parent, file)?;
            write_file(dir, file, inherited.trim())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::set_fixture;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxResourcesBuilder};

    #[test]
    fn empty_sets_are_inherited_and_set_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let (parent, dir) = (tmp.path().join("p"), tmp.path().join("p/c"));
        set_fixture(&parent, CPUS, "0-3\n");
        set_fixture(&parent, MEMS, "0\n");
        set_fixture(&dir, CPUS, "\n");
        set_fixture(&dir, MEMS, "\n");
        inherit_from_parent(&dir, &parent).unwrap();
        assert_eq!(read_file(&dir, CPUS).unwrap(), "0-3");
        assert_eq!(read_file(&dir, MEMS).unwrap(), "0");
        set_fixture(&dir, CPUS, "1\n");
        inherit_from_parent(&dir, &parent).unwrap();
        assert_eq!(read_file(&dir, CPUS).unwrap(), "1\n");
    }

    #[test]
    fn requested_sets_are_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, CPUS, "0-3");
        set_fixture(dir, MEMS, "0");
        let r = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().cpus("1,3").build().unwrap())
            .build()
            .unwrap();
        Cpuset::apply(&r, dir).unwrap();
        assert_eq!(read_file(dir, CPUS).unwrap(), "1,3");
        assert_eq!(read_file(dir, MEMS).unwrap(), "0");
    }
}
