//! cgroup v1, v2 and hybrid detection, and one manager trait with v1 and v2
//! implementations for the cpu, cpuset, memory, pids, freezer, blkio (v2's io) and (v1)
//! devices controllers.
//!
//! [`CgroupFs::detect`] finds out how cgroups are mounted ([`Layout::V1`], [`Layout::V2`] or
//! [`Layout::Hybrid`], which is driven as v1). [`CgroupFs::manager`] then gives the
//! [`CgroupManager`] of one container's cgroup, as a boxed [`AnyManager`], so callers need
//! no generics. Resources come in the OCI runtime vocabulary,
//! [`oci_spec::runtime::LinuxResources`]; Docker's flags map onto it as `--cpus` to
//! quota/period, `--cpu-shares` to shares, `-m` to the memory limit and `--memory-swap` to
//! the memory+swap total.
//!
//! The library never prints: what the user should hear about (a missing controller that
//! was not needed, a setting this kernel ignores) comes back as [`Warning`]s, and every
//! failure is an [`Error`] naming the cgroup file it concerns.
//!
//! ```no_run
//! use cgroup::{CgroupFs, CgroupPath, DEFAULT_PARENT};
//! use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResourcesBuilder};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let resources = LinuxResourcesBuilder::default()
//!     .memory(LinuxMemoryBuilder::default().limit(200i64 << 20).build()?)
//!     .build()?;
//! let cgroup = CgroupFs::detect()?.manager(&CgroupPath::under(DEFAULT_PARENT, "0123abcd")?);
//! for warning in cgroup.create(&resources)? {
//!     eprintln!("WARNING: {warning}");
//! }
//! let child = std::process::Command::new("sleep").arg("1").spawn()?;
//! cgroup.add_task(child.id())?;
//! println!("{:?}", cgroup.stats()?.memory);
//! // ... wait for the container to exit ...
//! if cgroup.oom_killed()? {
//!     eprintln!("the container was OOM-killed");
//! }
//! cgroup.remove()?;
//! # Ok(())
//! # }
//! ```

mod error;
mod fs;
mod layout;
mod manager;
mod path;
mod pids;
mod resources;
mod sys;
mod v1;
mod v2;

#[cfg(test)]
mod suite;
#[cfg(test)]
mod testutil;

pub use error::{Error, ErrorKind, Result};
pub use layout::{CgroupFs, Controller, DEFAULT_ROOT, Layout};
pub use manager::{
    AnyManager, CgroupManager, CpuStats, FreezerState, MemoryStats, PidsStats, Stats, Warning,
};
pub use path::{CgroupPath, DEFAULT_PARENT};

/// Enforces device access rules on the cgroup v2 directory `dir` with an eBPF program
/// (cgroup v2 has no `devices` controller); replaces the rules set before. The v2
/// manager does this for its cgroups; this is for a cgroup v2 directory managed
/// otherwise (the unified hierarchy of a hybrid host, a runtime's own cgroup).
///
/// # Errors
/// [`Error::Bpf`] when the program cannot be loaded or attached.
pub fn apply_device_rules_v2(
    dir: &std::path::Path,
    rules: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> Result<()> {
    v2::apply_device_rules(dir, rules)
}
