//! cgroup resources and rlimits from the options.

use oci_spec::runtime::{
    LinuxBlockIo, LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
    LinuxResources, LinuxResourcesBuilder, LinuxThrottleDevice, LinuxThrottleDeviceBuilder,
    LinuxWeightDeviceBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};

use crate::error::{Error, Result, invalid};
use crate::options::{CreateOptions, cpus_to_quota};

/// Docker refuses memory limits below this.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// cgroup resources from `--cpus`, `--cpu-period`, `--cpu-quota`, `--cpu-shares`,
/// `--cpuset-*`, `-m`, `--memory-swap`, `--memory-reservation`, `--memory-swappiness`,
/// `--oom-kill-disable`, `--pids-limit`.
///
/// # Errors
/// Docker's messages for out-of-range values.
pub fn resources(opts: &CreateOptions, online_cpus: usize) -> Result<LinuxResources> {
    let mut res = LinuxResourcesBuilder::default();
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    if let Some(c) = opts.cpus {
        let (quota, period) = cpus_to_quota(c, online_cpus)?;
        cpu = cpu.quota(quota).period(period);
        any_cpu = true;
    }
    if opts.cpus.is_some() && opts.cpu_period.is_some_and(|p| p > 0) {
        invalid!("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    if opts.cpus.is_some() && opts.cpu_quota.is_some_and(|q| q > 0) {
        invalid!("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    }
    if let Some(p) = opts.cpu_period.filter(|p| *p != 0) {
        if !(1000..=1_000_000).contains(&p) {
            invalid!(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
            );
        }
        cpu = cpu.period(p as u64);
        any_cpu = true;
    }
    if let Some(q) = opts.cpu_quota.filter(|q| *q != 0) {
        if q > 0 && q < 1000 {
            invalid!("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        }
        cpu = cpu.quota(q);
        any_cpu = true;
    }
    if let Some(s) = opts.cpu_shares {
        if s != 0 && s < 2 {
            invalid!("invalid --cpu-shares {s}: minimum is 2");
        }
        if s != 0 {
            cpu = cpu.shares(s);
            any_cpu = true;
        }
    }
    if let Some(c) = &opts.cpuset_cpus {
        cpu = cpu.cpus(c.clone());
        any_cpu = true;
    }
    if let Some(m) = &opts.cpuset_mems {
        cpu = cpu.mems(m.clone());
        any_cpu = true;
    }
    if any_cpu {
        res = res.cpu(cpu.build()?);
    }
    if let Some(mem) = memory(opts)? {
        res = res.memory(mem);
    }
    if let Some(p) = opts.pids_limit {
        let limit = if p <= 0 { -1 } else { p };
        res = res.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    if let Some(io) = block_io(opts)? {
        res = res.block_io(io);
    }
    Ok(res.build()?)
}

/// The major and minor numbers of block device `path` (`--blkio-weight-device` and
/// `--device-*-bps/iops` name devices by path).
fn block_device(path: &str) -> Result<(i64, i64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::Invalid(format!("invalid device {path}: {e}")))?;
    if !meta.file_type().is_block_device() {
        invalid!("{path} is not a block device");
    }
    Ok((
        i64::from(rustix::fs::major(meta.rdev())),
        i64::from(rustix::fs::minor(meta.rdev())),
    ))
}

/// `DEVICE:VALUE` with the value parsed by `value`.
fn device_value<T>(
    arg: &str,
    what: &str,
    value: impl Fn(&str) -> Option<T>,
) -> Result<((i64, i64), T)> {
    let (dev, v) = arg
        .rsplit_once(':')
        .ok_or_else(|| Error::Invalid(format!("bad format: {arg}")))?;
    if !dev.starts_with("/dev/") {
        invalid!("bad format for device path: {arg}");
    }
    let v = value(v).ok_or_else(|| Error::Invalid(format!("invalid {what} for device: {arg}")))?;
    Ok((block_device(dev)?, v))
}

/// Block I/O from `--blkio-weight`, `--blkio-weight-device` and `--device-read/write-
/// bps/iops` (docker's ranges: weights 10 to 1000, rates in bytes with units or IO counts).
fn block_io(opts: &CreateOptions) -> Result<Option<LinuxBlockIo>> {
    let weight_ok = |w: u16| (10..=1000).contains(&w);
    let mut io = LinuxBlockIoBuilder::default();
    let mut any = false;
    if let Some(w) = opts.blkio_weight {
        if !weight_ok(w) {
            invalid!("Range of blkio weight is from 10 to 1000");
        }
        io = io.weight(w);
        any = true;
    }
    let mut weights = Vec::new();
    for arg in &opts.blkio_weight_device {
        let ((major, minor), w) = device_value(arg, "weight", |v| v.parse::<u16>().ok())?;
        if !weight_ok(w) {
            invalid!("invalid weight for device: {arg}");
        }
        weights.push(
            LinuxWeightDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .weight(w)
                .build()?,
        );
    }
    if !weights.is_empty() {
        io = io.weight_device(weights);
        any = true;
    }
    let bytes = |v: &str| {
        crate::options::ram_in_bytes(v)
            .ok()
            .and_then(|b| u64::try_from(b).ok())
    };
    let count = |v: &str| v.parse::<u64>().ok();
    let throttles = |args: &[String], what: &str, parse: &dyn Fn(&str) -> Option<u64>| {
        args.iter()
            .map(|arg| {
                let ((major, minor), rate) = device_value(arg, what, parse)?;
                Ok(LinuxThrottleDeviceBuilder::default()
                    .major(major)
                    .minor(minor)
                    .rate(rate)
                    .build()?)
            })
            .collect::<Result<Vec<LinuxThrottleDevice>>>()
    };
    let rb = throttles(&opts.device_read_bps, "rate", &bytes)?;
    let wb = throttles(&opts.device_write_bps, "rate", &bytes)?;
    let ri = throttles(&opts.device_read_iops, "rate", &count)?;
    let wi = throttles(&opts.device_write_iops, "rate", &count)?;
    any |= !(rb.is_empty() && wb.is_empty() && ri.is_empty() && wi.is_empty());
    if !any {
        return Ok(None);
    }
    if !rb.is_empty() {
        io = io.throttle_read_bps_device(rb);
    }
    if !wb.is_empty() {
        io = io.throttle_write_bps_device(wb);
    }
    if !ri.is_empty() {
        io = io.throttle_read_iops_device(ri);
    }
    if !wi.is_empty() {
        io = io.throttle_write_iops_device(wi);
    }
    Ok(Some(io.build()?))
}

fn memory(opts: &CreateOptions) -> Result<Option<oci_spec::runtime::LinuxMemory>> {
    let limit = opts.memory.filter(|m| *m > 0);
    if let Some(m) = limit
        && m < MIN_MEMORY
    {
        invalid!("Minimum memory limit allowed is 6MB");
    }
    let swap = match opts.memory_swap {
        None => None,
        Some(-1) => Some(-1),
        Some(total) => match limit {
            None => invalid!(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
            ),
            Some(m) if total < m => {
                invalid!("Minimum memoryswap limit should be larger than memory limit, see usage")
            }
            Some(_) => Some(total),
        },
    };
    let reservation = opts.memory_reservation.filter(|r| *r > 0);
    if let Some(r) = reservation {
        if r < MIN_MEMORY {
            invalid!("Minimum memory reservation allowed is 6MB");
        }
        if limit.is_some_and(|m| m < r) {
            invalid!(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
            );
        }
    }
    // -1 (docker's CLI default) leaves the host's swappiness.
    let swappiness = match opts.memory_swappiness {
        None | Some(-1) => None,
        Some(v @ 0..=100) => Some(v as u64),
        Some(v) => invalid!("Invalid value: {v}, valid memory swappiness range is 0-100"),
    };
    if limit.is_none()
        && swap.is_none()
        && reservation.is_none()
        && swappiness.is_none()
        && !opts.oom_kill_disable
    {
        return Ok(None);
    }
    let mut mem = LinuxMemoryBuilder::default();
    if let Some(m) = limit {
        mem = mem.limit(m);
    }
    if let Some(s) = swap {
        mem = mem.swap(s);
    }
    if let Some(r) = reservation {
        mem = mem.reservation(r);
    }
    if let Some(v) = swappiness {
        mem = mem.swappiness(v);
    }
    if opts.oom_kill_disable {
        mem = mem.disable_oom_killer(true);
    }
    Ok(Some(mem.build()?))
}

/// Docker's default rlimits, lowered to what this host can set (so they never warn),
/// plus `--ulimit NAME=SOFT[:HARD]`. The runtime clamps explicit values above what the
/// host allows (with a warning) instead of failing.
///
/// # Errors
/// An unknown name or a malformed value (docker's messages).
pub fn rlimits(opts: &CreateOptions) -> Result<Vec<PosixRlimit>> {
    let mut limits = isolate::spec::host_default_rlimits();
    for u in &opts.ulimit {
        let bad = || Error::Invalid(format!("invalid ulimit argument: {u}"));
        let (name, values) = u.split_once('=').ok_or_else(bad)?;
        let (soft, hard) = values.split_once(':').unwrap_or((values, values));
        let num = |v: &str| -> Result<u64> {
            if v == "-1" || v == "unlimited" {
                return Ok(u64::MAX);
            }
            v.parse().map_err(|_| bad())
        };
        let (soft, hard) = (num(soft)?, num(hard)?);
        if soft > hard {
            invalid!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
        }
        let Some(typ) = rlimit_type(name) else {
            invalid!("invalid ulimit type: {name}");
        };
        limits.retain(|l| l.typ() != typ);
        limits.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(soft)
                .hard(hard)
                .build()?,
        );
    }
    Ok(limits)
}

fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    use PosixRlimitType::*;
    Some(match name {
        "core" => RlimitCore,
        "cpu" => RlimitCpu,
        "data" => RlimitData,
        "fsize" => RlimitFsize,
        "locks" => RlimitLocks,
        "memlock" => RlimitMemlock,
        "msgqueue" => RlimitMsgqueue,
        "nice" => RlimitNice,
        "nofile" => RlimitNofile,
        "nproc" => RlimitNproc,
        "rss" => RlimitRss,
        "rtprio" => RlimitRtprio,
        "rttime" => RlimitRttime,
        "sigpending" => RlimitSigpending,
        "stack" => RlimitStack,
        "as" => RlimitAs,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_from_options() {
        let opts = CreateOptions {
            cpus: Some(0.5),
            memory: Some(200 << 20),
            pids_limit: Some(1000),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        let r = resources(&opts, 2).unwrap();
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(100_000)));
        assert_eq!(cpu.cpus().as_deref(), Some("0"));
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(200 << 20));
        assert_eq!(r.memory().as_ref().unwrap().swap(), None);
        assert_eq!(r.pids().as_ref().unwrap().limit(), 1000);
        let with = |memory: Option<i64>, swap: Option<i64>, pids: Option<i64>| CreateOptions {
            memory,
            memory_swap: swap,
            pids_limit: pids,
            ..Default::default()
        };
        let unlimited = resources(&with(None, None, Some(-1)), 2).unwrap();
        assert_eq!(unlimited.pids().as_ref().unwrap().limit(), -1);
        assert!(resources(&with(Some(1 << 20), None, None), 2).is_err());
        assert!(resources(&with(Some(64 << 20), Some(32 << 20), None), 2).is_err());
        assert!(resources(&with(None, Some(32 << 20), None), 2).is_err());
        let swap = resources(&with(Some(64 << 20), Some(-1), None), 2).unwrap();
        assert_eq!(swap.memory().as_ref().unwrap().swap(), Some(-1));
        assert!(
            resources(&with(None, None, None), 2)
                .unwrap()
                .cpu()
                .is_none()
        );
    }

    #[test]
    fn ulimits() {
        let with = |u: &[&str]| CreateOptions {
            ulimit: u.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let l = rlimits(&with(&["nofile=100:200", "nproc=50"])).unwrap();
        let nofile = l
            .iter()
            .find(|l| l.typ() == PosixRlimitType::RlimitNofile)
            .unwrap();
        assert_eq!((nofile.soft(), nofile.hard()), (100, 200));
        assert!(l.iter().any(|l| l.typ() == PosixRlimitType::RlimitNproc));
        assert!(rlimits(&with(&["nofile=3:2"])).is_err());
        assert!(rlimits(&with(&["bogus=1"])).is_err());
    }
}
