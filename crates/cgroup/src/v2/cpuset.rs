//! v2 `cpuset`: `cpuset.cpus` and `cpuset.mems` (empty means "the parent's", unlike v1).

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V2Controller;
use crate::error::Result;
use crate::fs::write_file;
use crate::{Controller, Warning};

pub(crate) struct Cpuset;

impl V2Controller for Cpuset {
    const CONTROLLER: Controller = Controller::Cpuset;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        if let Some(cpu) = resources.cpu() {
            for (file, value) in [("cpuset.mems", cpu.mems()), ("cpuset.cpus", cpu.cpus())] {
                if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                    write_file(dir, file, value)?;
                }
            }
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::read_file;
    use crate::testutil::set_fixture;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxResourcesBuilder};

    #[test]
    fn sets_are_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, "cpuset.cpus", "");
        set_fixture(dir, "cpuset.mems", "");
        let r = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .cpus("0")
                    .mems("0")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        Cpuset::apply(&r, dir).unwrap();
        assert_eq!(read_file(dir, "cpuset.cpus").unwrap(), "0");
        assert_eq!(read_file(dir, "cpuset.mems").unwrap(), "0");
    }
}
