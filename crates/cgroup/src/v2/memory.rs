//! v2 `memory`: `memory.max`, `memory.swap.max` (swap alone, so Docker's memory+swap is
//! converted), `memory.low`; usage and OOM kills from `memory.current`, `memory.stat` and
//! `memory.events`.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V2Controller;
use crate::error::Result;
use crate::fs::{
    exists, parse_max, read_file, read_keyed_optional, read_u64, read_u64_optional, write_file,
};
use crate::resources::MemoryRequest;
use crate::{Controller, MemoryStats, Warning};

pub(crate) struct Memory;

const MAX: &str = "memory.max";
const SWAP_MAX: &str = "memory.swap.max";
const LOW: &str = "memory.low";
const EVENTS: &str = "memory.events";

fn max_or(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

impl V2Controller for Memory {
    const CONTROLLER: Controller = Controller::Memory;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        let Some(memory) = resources.memory() else {
            return Ok(warnings);
        };
        let request = MemoryRequest::from_spec(memory)?;
        if let Some(swap) = request.v2_swap_max() {
            if exists(dir, SWAP_MAX) {
                write_file(
                    dir,
                    SWAP_MAX,
                    &swap.map_or_else(|| "max".to_string(), |s| s.to_string()),
                )?;
            } else {
                warnings.push(Warning::Ignored {
                    resource: "memory+swap limit",
                    reason: "the kernel does not account swap (no memory.swap.max); memory is limited without swap",
                });
            }
        }
        if let Some(limit) = request.limit {
            write_file(dir, MAX, &max_or(limit))?;
        }
        if let Some(reservation) = request.reservation {
            write_file(dir, LOW, &max_or(reservation))?;
        }
        if memory.swappiness().is_some() {
            warnings.push(Warning::Ignored {
                resource: "memory swappiness",
                reason: "cgroup v2 has no per-cgroup swappiness",
            });
        }
        if memory.disable_oom_killer() == Some(true) {
            warnings.push(Warning::Ignored {
                resource: "OOM killer disabling",
                reason: "cgroup v2 cannot disable the OOM killer",
            });
        }
        if memory.kernel().is_some() || memory.kernel_tcp().is_some() {
            warnings.push(Warning::Ignored {
                resource: "kernel memory limit",
                reason: "cgroup v2 has no separate kernel memory limit",
            });
        }
        Ok(warnings)
    }
}

/// Usage, peak (Linux 5.19+), limit, inactive file cache and OOM kills.
pub(crate) fn stats(dir: &Path) -> Result<MemoryStats> {
    Ok(MemoryStats {
        usage: read_u64(dir, "memory.current")?,
        max_usage: read_u64_optional(dir, "memory.peak")?,
        limit: parse_max(&dir.join(MAX), &read_file(dir, MAX)?)?,
        inactive_file: read_keyed_optional(dir, "memory.stat")?
            .and_then(|s| s.get("inactive_file").copied()),
        oom_kills: read_keyed_optional(dir, EVENTS)?.and_then(|s| s.get("oom_kill").copied()),
    })
}

/// Whether `memory.events` counts an OOM kill.
pub(crate) fn oom_killed(dir: &Path) -> Result<bool> {
    Ok(read_keyed_optional(dir, EVENTS)?
        .and_then(|s| s.get("oom_kill").copied())
        .is_some_and(|n| n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{memory_resources, set_fixture};

    const M: i64 = 1 << 20;

    fn fixture(swap: bool) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        set_fixture(tmp.path(), MAX, "max\n");
        set_fixture(tmp.path(), LOW, "0\n");
        if swap {
            set_fixture(tmp.path(), SWAP_MAX, "max\n");
        }
        tmp
    }

    #[test]
    fn docker_memory_swap_becomes_swap_alone() {
        let tmp = fixture(true);
        let dir = tmp.path();
        let w = Memory::apply(&memory_resources(Some(32 * M), Some(96 * M)), dir).unwrap();
        assert!(w.is_empty());
        assert_eq!(read_file(dir, MAX).unwrap(), (32 * M).to_string());
        assert_eq!(read_file(dir, SWAP_MAX).unwrap(), (64 * M).to_string());
        Memory::apply(&memory_resources(Some(32 * M), Some(32 * M)), dir).unwrap();
        assert_eq!(read_file(dir, SWAP_MAX).unwrap(), "0");
        Memory::apply(&memory_resources(Some(-1), Some(-1)), dir).unwrap();
        assert_eq!(read_file(dir, MAX).unwrap(), "max");
        assert_eq!(read_file(dir, SWAP_MAX).unwrap(), "max");
    }

    #[test]
    fn no_swap_accounting_is_a_warning() {
        let tmp = fixture(false);
        let w = Memory::apply(&memory_resources(Some(32 * M), Some(64 * M)), tmp.path()).unwrap();
        assert!(matches!(
            w.as_slice(),
            [Warning::Ignored {
                resource: "memory+swap limit",
                ..
            }]
        ));
        assert_eq!(read_file(tmp.path(), MAX).unwrap(), (32 * M).to_string());
    }

    #[test]
    fn v1_only_settings_are_warnings() {
        let tmp = fixture(true);
        let mut r = memory_resources(None, None);
        let mut memory = r.memory().unwrap();
        memory.set_swappiness(Some(10));
        memory.set_disable_oom_killer(Some(true));
        r.set_memory(Some(memory));
        let w = Memory::apply(&r, tmp.path()).unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn stats_and_oom_kills() {
        let tmp = fixture(true);
        let dir = tmp.path();
        set_fixture(dir, MAX, "33554432\n");
        set_fixture(dir, "memory.current", "4096\n");
        set_fixture(
            dir,
            "memory.stat",
            "anon 0\nfile 4096\ninactive_file 1024\n",
        );
        set_fixture(
            dir,
            EVENTS,
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\noom_group_kill 0\n",
        );
        let s = stats(dir).unwrap();
        assert_eq!(
            (s.usage, s.max_usage, s.limit, s.inactive_file, s.oom_kills),
            (4096, None, Some(1 << 25), Some(1024), Some(0))
        );
        assert!(!oom_killed(dir).unwrap());
        set_fixture(dir, EVENTS, "low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n");
        assert!(oom_killed(dir).unwrap());
        set_fixture(dir, MAX, "max\n");
        assert_eq!(stats(dir).unwrap().limit, None);
    }
}
