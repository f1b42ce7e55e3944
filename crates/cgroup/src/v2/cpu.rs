//! v2 `cpu`: `cpu.weight` (from shares), `cpu.max` (quota and period), `cpu.max.burst`,
//! `cpu.idle`; usage and throttling from `cpu.stat`.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V2Controller;
use crate::error::{Error, Result};
use crate::fs::{exists, read_file, read_keyed_optional, write_file};
use crate::resources::shares_to_weight;
use crate::{Controller, CpuStats, Warning};

pub(crate) struct Cpu;

const WEIGHT: &str = "cpu.weight";
const MAX: &str = "cpu.max";
const BURST: &str = "cpu.max.burst";
const IDLE: &str = "cpu.idle";

impl V2Controller for Cpu {
    const CONTROLLER: Controller = Controller::Cpu;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        let Some(cpu) = resources.cpu() else {
            return Ok(warnings);
        };
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            write_file(dir, WEIGHT, &shares_to_weight(shares).to_string())?;
        }
        let quota = match cpu.quota() {
            Some(q) if q > 0 => Some(q.to_string()),
            Some(q) if q < 0 => Some("max".to_string()),
            _ => None,
        };
        match (quota, cpu.period().filter(|p| *p > 0)) {
            (Some(quota), Some(period)) => write_file(dir, MAX, &format!("{quota} {period}"))?,
            // The kernel keeps the period when only the quota is written.
            (Some(quota), None) => write_file(dir, MAX, &quota)?,
            (None, Some(period)) => {
                // Keep the current quota: "max PERIOD" would lift it.
                let current = read_file(dir, MAX)?;
                let quota = current
                    .split_whitespace()
                    .next()
                    .ok_or_else(|| Error::Parse {
                        path: dir.join(MAX),
                        content: current.clone(),
                    })?;
                write_file(dir, MAX, &format!("{quota} {period}"))?;
            }
            (None, None) => {}
        }
        if let Some(burst) = cpu.burst() {
            if exists(dir, BURST) {
                write_file(dir, BURST, &burst.to_string())?;
            } else {
                warnings.push(Warning::Ignored {
                    resource: "cpu burst",
                    reason: "the kernel has no cpu.max.burst (Linux 5.14+)",
                });
            }
        }
        if let Some(idle) = cpu.idle() {
            if !(0..=1).contains(&idle) {
                return Err(Error::InvalidResource {
                    resource: "cpu idle",
                    value: idle.to_string(),
                    reason: "must be 0 or 1",
                });
            }
            if exists(dir, IDLE) {
                write_file(dir, IDLE, &idle.to_string())?;
            } else {
                warnings.push(Warning::Ignored {
                    resource: "cpu idle",
                    reason: "the kernel has no cpu.idle (Linux 5.15+)",
                });
            }
        }
        if cpu.realtime_runtime().is_some() || cpu.realtime_period().is_some() {
            warnings.push(Warning::Ignored {
                resource: "realtime cpu runtime/period",
                reason: "cgroup v2 has no realtime scheduling limits",
            });
        }
        Ok(warnings)
    }
}

/// CPU usage and throttling from `cpu.stat` (microseconds there), `None` if absent.
pub(crate) fn stats(dir: &Path) -> Result<Option<CpuStats>> {
    let Some(stat) = read_keyed_optional(dir, "cpu.stat")? else {
        return Ok(None);
    };
    let usec = |k: &str| stat.get(k).map(|v| v.saturating_mul(1000));
    let count = |k: &str| stat.get(k).copied().unwrap_or(0);
    Ok(Some(CpuStats {
        usage_ns: usec("usage_usec").unwrap_or(0),
        user_ns: usec("user_usec"),
        system_ns: usec("system_usec"),
        periods: count("nr_periods"),
        throttled_periods: count("nr_throttled"),
        throttled_ns: usec("throttled_usec").unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{cpu_resources, set_fixture};

    fn fixture() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        set_fixture(tmp.path(), WEIGHT, "100\n");
        set_fixture(tmp.path(), MAX, "max 100000\n");
        tmp
    }

    #[test]
    fn shares_become_weight_and_quota_cpu_max() {
        let tmp = fixture();
        let dir = tmp.path();
        Cpu::apply(&cpu_resources(Some(1024), Some(50_000), Some(100_000)), dir).unwrap();
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "100");
        assert_eq!(read_file(dir, MAX).unwrap(), "50000 100000");
        Cpu::apply(&cpu_resources(Some(2), Some(-1), None), dir).unwrap();
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "1");
        assert_eq!(read_file(dir, MAX).unwrap(), "max");
    }

    #[test]
    fn period_alone_keeps_the_quota() {
        let tmp = fixture();
        let dir = tmp.path();
        set_fixture(dir, MAX, "25000 100000\n");
        Cpu::apply(&cpu_resources(None, None, Some(50_000)), dir).unwrap();
        assert_eq!(read_file(dir, MAX).unwrap(), "25000 50000");
    }

    #[test]
    fn stats_convert_microseconds() {
        let tmp = tempfile::tempdir().unwrap();
        set_fixture(
            tmp.path(),
            "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\nthrottled_usec 30\n",
        );
        let s = stats(tmp.path()).unwrap().unwrap();
        assert_eq!(s.usage_ns, 1_500_000);
        assert_eq!((s.user_ns, s.system_ns), (Some(1_000_000), Some(500_000)));
        assert_eq!(
            (s.periods, s.throttled_periods, s.throttled_ns),
            (7, 2, 30_000)
        );
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(stats(empty.path()).unwrap(), None);
    }
}
