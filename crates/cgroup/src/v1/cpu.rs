//! v1 `cpu`: shares, CFS bandwidth (quota/period/burst), idle; throttling statistics.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V1Controller;
use crate::error::{Error, Result};
use crate::fs::{exists, read_keyed_optional, write_file};
use crate::{Controller, Warning};

pub(crate) struct Cpu;

const SHARES: &str = "cpu.shares";
const QUOTA: &str = "cpu.cfs_quota_us";
const PERIOD: &str = "cpu.cfs_period_us";
const BURST: &str = "cpu.cfs_burst_us";
const IDLE: &str = "cpu.idle";

impl V1Controller for Cpu {
    const CONTROLLER: Controller = Controller::Cpu;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        let Some(cpu) = resources.cpu() else {
            return Ok(warnings);
        };
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            write_file(dir, SHARES, &shares.to_string())?;
        }
        let quota = match cpu.quota() {
            Some(q) if q > 0 => Some(q.to_string()),
            Some(q) if q < 0 => Some("-1".to_string()),
            _ => None,
        };
        match (cpu.period().filter(|p| *p > 0), quota) {
            (Some(period), quota) => {
                let period = period.to_string();
                match (write_file(dir, PERIOD, &period), &quota) {
                    (Ok(()), Some(q)) => write_file(dir, QUOTA, q)?,
                    (Ok(()), None) => {}
                    // The kernel refuses a period that the current quota makes invalid; the
                    // new quota first then makes the period acceptable.
                    (Err(e), Some(q)) if e.kind() == crate::ErrorKind::InvalidInput => {
                        write_file(dir, QUOTA, q)?;
                        write_file(dir, PERIOD, &period)?;
                    }
                    (Err(e), _) => return Err(e),
                }
            }
            (None, Some(q)) => write_file(dir, QUOTA, &q)?,
            (None, None) => {}
        }
        if let Some(burst) = cpu.burst() {
            if exists(dir, BURST) {
                write_file(dir, BURST, &burst.to_string())?;
            } else {
                warnings.push(Warning::Ignored {
                    resource: "cpu burst",
                    reason: "the kernel has no cpu.cfs_burst_us (Linux 5.14+)",
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
                reason: "realtime scheduling limits are not supported",
            });
        }
        Ok(warnings)
    }
}

/// Throttling counters from `cpu.stat`: (periods, throttled periods, throttled ns).
pub(crate) fn throttling(dir: &Path) -> Result<(u64, u64, u64)> {
    let Some(stat) = read_keyed_optional(dir, "cpu.stat")? else {
        return Ok((0, 0, 0));
    };
    let get = |k: &str| stat.get(k).copied().unwrap_or(0);
    Ok((
        get("nr_periods"),
        get("nr_throttled"),
        get("throttled_time"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::read_file;
    use crate::testutil::{cpu_resources, set_fixture};

    #[test]
    fn shares_quota_and_period_are_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for (f, v) in [(SHARES, "1024"), (QUOTA, "-1"), (PERIOD, "100000")] {
            set_fixture(dir, f, v);
        }
        let w = Cpu::apply(&cpu_resources(Some(512), Some(50_000), Some(250_000)), dir).unwrap();
        assert!(w.is_empty());
        assert_eq!(read_file(dir, SHARES).unwrap(), "512");
        assert_eq!(read_file(dir, QUOTA).unwrap(), "50000");
        assert_eq!(read_file(dir, PERIOD).unwrap(), "250000");
    }

    #[test]
    fn negative_quota_means_unlimited_and_unset_fields_are_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for (f, v) in [(SHARES, "1024"), (QUOTA, "50000"), (PERIOD, "100000")] {
            set_fixture(dir, f, v);
        }
        Cpu::apply(&cpu_resources(None, Some(-1), None), dir).unwrap();
        assert_eq!(read_file(dir, QUOTA).unwrap(), "-1");
        assert_eq!(read_file(dir, SHARES).unwrap(), "1024");
        assert_eq!(read_file(dir, PERIOD).unwrap(), "100000");
    }

    #[test]
    fn missing_burst_file_is_a_warning_and_missing_quota_file_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let r = oci_spec::runtime::LinuxResourcesBuilder::default()
            .cpu(
                oci_spec::runtime::LinuxCpuBuilder::default()
                    .burst(1000u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let w = Cpu::apply(&r, dir).unwrap();
        assert!(matches!(
            w.as_slice(),
            [Warning::Ignored {
                resource: "cpu burst",
                ..
            }]
        ));
        let err = Cpu::apply(&cpu_resources(None, Some(20_000), None), dir).unwrap_err();
        assert!(err.to_string().contains(QUOTA), "{err}");
    }

    #[test]
    fn throttling_is_read_from_cpu_stat() {
        let tmp = tempfile::tempdir().unwrap();
        set_fixture(
            tmp.path(),
            "cpu.stat",
            "nr_periods 10\nnr_throttled 4\nthrottled_time 123456\nnr_bursts 0\n",
        );
        assert_eq!(throttling(tmp.path()).unwrap(), (10, 4, 123_456));
    }
}
