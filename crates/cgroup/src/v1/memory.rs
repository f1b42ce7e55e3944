//! v1 `memory`: limit, memory+swap limit, soft limit, swappiness, OOM killer switch;
//! usage statistics and OOM kill detection.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V1Controller;
use crate::error::{Error, Result};
use crate::fs::{
    exists, parse_v1_limit, read_file, read_keyed_optional, read_u64, read_u64_optional, write_file,
};
use crate::resources::MemoryRequest;
use crate::{Controller, MemoryStats, Warning};

pub(crate) struct Memory;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";
const SOFT_LIMIT: &str = "memory.soft_limit_in_bytes";
const SWAPPINESS: &str = "memory.swappiness";
const OOM_CONTROL: &str = "memory.oom_control";

impl V1Controller for Memory {
    const CONTROLLER: Controller = Controller::Memory;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        let Some(memory) = resources.memory() else {
            return Ok(warnings);
        };
        let request = MemoryRequest::from_spec(memory)?;
        let has_memsw = exists(dir, MEMSW_LIMIT);
        let mut memsw = request.memory_and_swap;
        if memsw.is_some() && !has_memsw {
            warnings.push(Warning::Ignored {
                resource: "memory+swap limit",
                reason: "the kernel does not account swap (boot with swapaccount=1); memory is limited without swap",
            });
            memsw = None;
        }
        // Unlimited memory means unlimited memory+swap too, or the kernel refuses the
        // memory limit as larger than memory+swap.
        if request.limit == Some(-1) && memsw.is_none() && has_memsw {
            memsw = Some(-1);
        }
        set_limits(dir, request.limit, memsw)?;
        if let Some(reservation) = request.reservation {
            write_file(dir, SOFT_LIMIT, &reservation.to_string())?;
        }
        if let Some(swappiness) = memory.swappiness() {
            if swappiness > 100 {
                return Err(Error::InvalidResource {
                    resource: "memory swappiness",
                    value: swappiness.to_string(),
                    reason: "must be between 0 and 100",
                });
            }
            write_file(dir, SWAPPINESS, &swappiness.to_string())?;
        }
        if let Some(disable) = memory.disable_oom_killer() {
            write_file(dir, OOM_CONTROL, if disable { "1" } else { "0" })?;
        }
        if memory.kernel().is_some() || memory.kernel_tcp().is_some() {
            warnings.push(Warning::Ignored {
                resource: "kernel memory limit",
                reason: "kernel memory limits are deprecated by the kernel and not supported",
            });
        }
        Ok(warnings)
    }
}

/// The kernel keeps `limit <= memory+swap` at every instant, so which file goes first
/// depends on whether memory+swap grows: growing, it goes first; shrinking, it goes last.
fn set_limits(dir: &Path, limit: Option<i64>, memsw: Option<i64>) -> Result<()> {
    match (limit, memsw) {
        (None, None) => Ok(()),
        (Some(limit), None) => write_file(dir, LIMIT, &limit.to_string()),
        (None, Some(memsw)) => write_file(dir, MEMSW_LIMIT, &memsw.to_string()),
        (Some(limit), Some(memsw)) => {
            let current = parse_v1_limit(&dir.join(MEMSW_LIMIT), &read_file(dir, MEMSW_LIMIT)?)?;
            let grows = match (memsw, current) {
                (-1, _) => true,
                (_, None) => false,
                (new, Some(current)) => u64::try_from(new).is_ok_and(|n| n > current),
            };
            if grows {
                write_file(dir, MEMSW_LIMIT, &memsw.to_string())?;
                write_file(dir, LIMIT, &limit.to_string())
            } else {
                write_file(dir, LIMIT, &limit.to_string())?;
                write_file(dir, MEMSW_LIMIT, &memsw.to_string())
            }
        }
    }
}

/// Usage, peak, limit, inactive file cache and OOM kills.
pub(crate) fn stats(dir: &Path) -> Result<MemoryStats> {
    let usage = read_u64(dir, "memory.usage_in_bytes")?;
    let max_usage = read_u64_optional(dir, "memory.max_usage_in_bytes")?;
    let limit = parse_v1_limit(&dir.join(LIMIT), &read_file(dir, LIMIT)?)?;
    let inactive_file = read_keyed_optional(dir, "memory.stat")?
        .and_then(|s| s.get("total_inactive_file").copied());
    let oom_kills = read_keyed_optional(dir, OOM_CONTROL)?.and_then(|s| s.get("oom_kill").copied());
    Ok(MemoryStats {
        usage,
        max_usage,
        limit,
        inactive_file,
        oom_kills,
    })
}

/// Whether the OOM killer killed a task of the cgroup: the `oom_kill` counter of
/// `memory.oom_control` (Linux 4.13+), else whether the limit was ever hit (`memory.failcnt`).
pub(crate) fn oom_killed(dir: &Path) -> Result<bool> {
    if let Some(kills) =
        read_keyed_optional(dir, OOM_CONTROL)?.and_then(|s| s.get("oom_kill").copied())
    {
        return Ok(kills > 0);
    }
    Ok(read_u64_optional(dir, "memory.failcnt")?.is_some_and(|n| n > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{memory_resources, set_fixture};

    const UNLIMITED: &str = "9223372036854771712\n";
    const M: i64 = 1 << 20;

    fn fixture(memsw: bool) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, LIMIT, UNLIMITED);
        set_fixture(dir, SOFT_LIMIT, UNLIMITED);
        set_fixture(dir, SWAPPINESS, "60");
        set_fixture(
            dir,
            OOM_CONTROL,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        );
        if memsw {
            set_fixture(dir, MEMSW_LIMIT, UNLIMITED);
        }
        tmp
    }

    #[test]
    fn limit_and_swap_are_written() {
        let tmp = fixture(true);
        let dir = tmp.path();
        let w = Memory::apply(&memory_resources(Some(32 * M), Some(64 * M)), dir).unwrap();
        assert!(w.is_empty());
        assert_eq!(read_file(dir, LIMIT).unwrap(), (32 * M).to_string());
        assert_eq!(read_file(dir, MEMSW_LIMIT).unwrap(), (64 * M).to_string());
    }

    #[test]
    fn swap_without_swap_accounting_is_a_warning() {
        let tmp = fixture(false);
        let dir = tmp.path();
        let w = Memory::apply(&memory_resources(Some(32 * M), Some(64 * M)), dir).unwrap();
        assert!(matches!(
            w.as_slice(),
            [Warning::Ignored {
                resource: "memory+swap limit",
                ..
            }]
        ));
        assert_eq!(read_file(dir, LIMIT).unwrap(), (32 * M).to_string());
    }

    #[test]
    fn unlimited_memory_unlimits_swap_too() {
        let tmp = fixture(true);
        let dir = tmp.path();
        set_fixture(dir, MEMSW_LIMIT, "67108864");
        Memory::apply(&memory_resources(Some(-1), None), dir).unwrap();
        assert_eq!(read_file(dir, LIMIT).unwrap(), "-1");
        assert_eq!(read_file(dir, MEMSW_LIMIT).unwrap(), "-1");
    }

    #[test]
    fn order_of_writes_keeps_limit_below_memsw() {
        // Shrinking below the current memsw: both are written.
        let tmp = fixture(true);
        let dir = tmp.path();
        set_fixture(dir, MEMSW_LIMIT, "134217728");
        set_limits(dir, Some(16 * M), Some(32 * M)).unwrap();
        assert_eq!(read_file(dir, LIMIT).unwrap(), (16 * M).to_string());
        assert_eq!(read_file(dir, MEMSW_LIMIT).unwrap(), (32 * M).to_string());
        // Growing past the current memsw: memsw goes first; a missing limit file then
        // fails after memsw was written.
        std::fs::remove_file(dir.join(LIMIT)).unwrap();
        let err = set_limits(dir, Some(64 * M), Some(128 * M)).unwrap_err();
        assert!(err.to_string().contains(LIMIT), "{err}");
        assert_eq!(read_file(dir, MEMSW_LIMIT).unwrap(), (128 * M).to_string());
        // Shrinking with a missing limit file fails before memsw is touched.
        let err = set_limits(dir, Some(16 * M), Some(32 * M)).unwrap_err();
        assert!(err.to_string().contains(LIMIT), "{err}");
        assert_eq!(read_file(dir, MEMSW_LIMIT).unwrap(), (128 * M).to_string());
    }

    #[test]
    fn swappiness_and_oom_switch() {
        let tmp = fixture(true);
        let dir = tmp.path();
        let mut r = memory_resources(None, None);
        let mut memory = r.memory().unwrap();
        memory.set_swappiness(Some(0));
        memory.set_disable_oom_killer(Some(true));
        r.set_memory(Some(memory));
        Memory::apply(&r, dir).unwrap();
        assert_eq!(read_file(dir, SWAPPINESS).unwrap(), "0");
        assert_eq!(read_file(dir, OOM_CONTROL).unwrap(), "1");
        let mut memory = r.memory().unwrap();
        memory.set_swappiness(Some(101));
        r.set_memory(Some(memory));
        assert_eq!(
            Memory::apply(&r, dir).unwrap_err().kind(),
            crate::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn stats_and_oom_detection() {
        let tmp = fixture(true);
        let dir = tmp.path();
        set_fixture(dir, LIMIT, "33554432\n");
        set_fixture(dir, "memory.usage_in_bytes", "1048576\n");
        set_fixture(dir, "memory.max_usage_in_bytes", "33554432\n");
        set_fixture(dir, "memory.stat", "cache 4096\ntotal_inactive_file 8192\n");
        set_fixture(
            dir,
            OOM_CONTROL,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        );
        let s = stats(dir).unwrap();
        assert_eq!(
            (s.usage, s.max_usage, s.limit, s.inactive_file, s.oom_kills),
            (1 << 20, Some(1 << 25), Some(1 << 25), Some(8192), Some(1))
        );
        assert!(oom_killed(dir).unwrap());
        set_fixture(
            dir,
            OOM_CONTROL,
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        );
        assert!(!oom_killed(dir).unwrap());
        // Before Linux 4.13 there is no counter: hitting the limit is the best hint.
        set_fixture(dir, OOM_CONTROL, "oom_kill_disable 0\nunder_oom 0\n");
        set_fixture(dir, "memory.failcnt", "0\n");
        assert!(!oom_killed(dir).unwrap());
        set_fixture(dir, "memory.failcnt", "3\n");
        assert!(oom_killed(dir).unwrap());
        set_fixture(dir, LIMIT, UNLIMITED);
        assert_eq!(stats(dir).unwrap().limit, None);
    }
}
