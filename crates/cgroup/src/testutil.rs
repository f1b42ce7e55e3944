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

/// Resources with only `block_io`.
pub(crate) fn block_io_resources(
    block_io: oci_spec::runtime::LinuxBlockIoBuilder,
) -> LinuxResources {
    oci_spec::runtime::LinuxResourcesBuilder::default()
        .block_io(block_io.build().unwrap())
        .build()
        .unwrap()
}

/// A throttle entry of device `major:minor`.
pub(crate) fn throttle(
    major: i64,
    minor: i64,
    rate: u64,
) -> oci_spec::runtime::LinuxThrottleDevice {
    oci_spec::runtime::LinuxThrottleDeviceBuilder::default()
        .major(major)
        .minor(minor)
        .rate(rate)
        .build()
        .unwrap()
}

/// A weight entry of device `major:minor`.
pub(crate) fn weight_device(
    major: i64,
    minor: i64,
    weight: u16,
) -> oci_spec::runtime::LinuxWeightDevice {
    oci_spec::runtime::LinuxWeightDeviceBuilder::default()
        .major(major)
        .minor(minor)
        .weight(weight)
        .build()
        .unwrap()
}
