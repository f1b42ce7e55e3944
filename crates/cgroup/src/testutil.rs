//! Helpers of the unit tests: fixture files in temp dirs and resource requests. The fake
//! cgroupfs trees of whole layouts are the suite's (`crate::suite`).

use std::fs;
use std::path::Path;

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

/// Writes `dir/name` (creating `dir`), as the kernel would have it.
pub(crate) fn set_fixture(dir: &Path, name: &str, value: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), value).unwrap();
}

pub(crate) fn cpu_resources(
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
) -> LinuxResources {
    let mut cpu = LinuxCpuBuilder::default();
    if let Some(s) = shares {
        cpu = cpu.shares(s);
    }
    if let Some(q) = quota {
        cpu = cpu.quota(q);
    }
    if let Some(p) = period {
        cpu = cpu.period(p);
    }
    LinuxResourcesBuilder::default()
        .cpu(cpu.build().unwrap())
        .build()
        .unwrap()
}

pub(crate) fn memory_resources(limit: Option<i64>, swap: Option<i64>) -> LinuxResources {
    let mut memory = LinuxMemoryBuilder::default();
    if let Some(l) = limit {
        memory = memory.limit(l);
    }
    if let Some(s) = swap {
        memory = memory.swap(s);
    }
    LinuxResourcesBuilder::default()
        .memory(memory.build().unwrap())
        .build()
        .unwrap()
}

pub(crate) fn pids_resources(limit: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(limit).build().unwrap())
        .build()
        .unwrap()
}
