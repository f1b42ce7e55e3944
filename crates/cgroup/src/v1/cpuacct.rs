//! v1 `cpuacct`: CPU usage of the cgroup.

use std::path::Path;

use crate::CpuStats;
use crate::error::Result;
use crate::fs::{read_keyed_optional, read_u64, read_u64_optional};

/// Usage from `cpuacct.usage` (ns); user and system time from `cpuacct.usage_user` and
/// `cpuacct.usage_sys` (ns, Linux 4.7+) or else `cpuacct.stat` (clock ticks).
pub(crate) fn stats(dir: &Path) -> Result<CpuStats> {
    let usage_ns = read_u64(dir, "cpuacct.usage")?;
    let mut user_ns = read_u64_optional(dir, "cpuacct.usage_user")?;
    let mut system_ns = read_u64_optional(dir, "cpuacct.usage_sys")?;
    if user_ns.is_none() || system_ns.is_none() {
        if let Some(stat) = read_keyed_optional(dir, "cpuacct.stat")? {
            let ns_per_tick = 1_000_000_000 / rustix::param::clock_ticks_per_second().max(1);
            user_ns = stat.get("user").map(|t| t.saturating_mul(ns_per_tick));
            system_ns = stat.get("system").map(|t| t.saturating_mul(ns_per_tick));
        }
    }
    Ok(CpuStats {
        usage_ns,
        user_ns,
        system_ns,
        ..CpuStats::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::set_fixture;

    #[test]
    fn usage_in_nanoseconds() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, "cpuacct.usage", "5000000\n");
        set_fixture(dir, "cpuacct.usage_user", "3000000\n");
        set_fixture(dir, "cpuacct.usage_sys", "2000000\n");
        let s = stats(dir).unwrap();
        assert_eq!(
            (s.usage_ns, s.user_ns, s.system_ns),
            (5_000_000, Some(3_000_000), Some(2_000_000))
        );
    }

    #[test]
    fn old_kernels_report_ticks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, "cpuacct.usage", "5000000\n");
        set_fixture(dir, "cpuacct.stat", "user 3\nsystem 2\n");
        let s = stats(dir).unwrap();
        let tick = 1_000_000_000 / rustix::param::clock_ticks_per_second();
        assert_eq!((s.user_ns, s.system_ns), (Some(3 * tick), Some(2 * tick)));
    }

    #[test]
    fn missing_usage_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            stats(tmp.path()).unwrap_err().kind(),
            crate::ErrorKind::NotFound
        );
    }
}
