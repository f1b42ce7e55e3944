//! Reading `LinuxResources` the same way for v1 and v2: which controllers a request needs,
//! which values mean "unset", and the conversions between v1 and v2 units.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::Controller;
use crate::error::{Error, Result};

/// The requested setting of `resources` that needs `controller`, if any. Values that mean
/// "unset" or "unlimited" (0, -1) do not count as requests.
pub(crate) fn requested(
    controller: Controller,
    resources: &LinuxResources,
) -> Option<&'static str> {
    match controller {
        Controller::Cpu => resources.cpu().as_ref().and_then(cpu_requested),
        Controller::Cpuset => resources.cpu().as_ref().and_then(|cpu| {
            let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
            (set(cpu.cpus()) || set(cpu.mems())).then_some("cpuset")
        }),
        Controller::Memory => resources.memory().as_ref().and_then(memory_requested),
        Controller::Pids => resources
            .pids()
            .as_ref()
            .and_then(|p| (p.limit() > 0).then_some("pids limit")),
        Controller::Devices => resources
            .devices()
            .as_ref()
            .and_then(|d| (!d.is_empty()).then_some("device access rules")),
        Controller::Blkio => resources.block_io().as_ref().and_then(block_io_requested),
        Controller::Cpuacct | Controller::Freezer => None,
    }
}

fn listed<T>(devices: &Option<Vec<T>>) -> bool {
    devices.as_ref().is_some_and(|d| !d.is_empty())
}

fn block_io_requested(block_io: &LinuxBlockIo) -> Option<&'static str> {
    if block_io.weight().is_some_and(|w| w > 0) {
        Some("blkio weight")
    } else if listed(block_io.weight_device()) {
        Some("blkio weight device")
    } else if listed(block_io.throttle_read_bps_device())
        || listed(block_io.throttle_write_bps_device())
        || listed(block_io.throttle_read_iops_device())
        || listed(block_io.throttle_write_iops_device())
    {
        Some("blkio throttling")
    } else {
        None
    }
}

fn cpu_requested(cpu: &LinuxCpu) -> Option<&'static str> {
    if cpu.quota().is_some_and(|q| q > 0) {
        Some("cpu quota")
    } else if cpu.period().is_some_and(|p| p > 0) {
        Some("cpu period")
    } else if cpu.shares().is_some_and(|s| s > 0) {
        Some("cpu shares")
    } else if cpu.burst().is_some() {
        Some("cpu burst")
    } else if cpu.idle().is_some() {
        Some("cpu idle")
    } else {
        None
    }
}

fn memory_requested(memory: &LinuxMemory) -> Option<&'static str> {
    if memory.limit().is_some_and(|l| l > 0) {
        Some("memory limit")
    } else if memory.swap().is_some_and(|s| s > 0) {
        Some("memory+swap limit")
    } else if memory.reservation().is_some_and(|r| r > 0) {
        Some("memory reservation")
    } else if memory.swappiness().is_some() {
        Some("memory swappiness")
    } else if memory.disable_oom_killer() == Some(true) {
        Some("OOM killer disabling")
    } else {
        None
    }
}

/// A byte limit as given in the spec: `Some(n)` for a limit, `Some(-1)` unlimited, `None`
/// when unset (absent or 0).
pub(crate) fn limit_value(resource: &'static str, value: Option<i64>) -> Result<Option<i64>> {
    match value {
        None | Some(0) => Ok(None),
        Some(v) if v == -1 || v > 0 => Ok(Some(v)),
        Some(v) => Err(Error::InvalidResource {
            resource,
            value: v.to_string(),
            reason: "must be positive, or -1 for unlimited",
        }),
    }
}

/// The memory settings of a request, validated once for both versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryRequest {
    /// Memory limit in bytes, -1 unlimited.
    pub(crate) limit: Option<i64>,
    /// Docker's `--memory-swap`: memory plus swap in bytes, -1 unlimited swap.
    pub(crate) memory_and_swap: Option<i64>,
    /// Soft limit in bytes, -1 none.
    pub(crate) reservation: Option<i64>,
}

impl MemoryRequest {
    pub(crate) fn from_spec(memory: &LinuxMemory) -> Result<MemoryRequest> {
        let limit = limit_value("memory limit", memory.limit())?;
        let memory_and_swap = limit_value("memory+swap limit", memory.swap())?;
        let reservation = limit_value("memory reservation", memory.reservation())?;
        if let Some(total) = memory_and_swap.filter(|t| *t > 0) {
            match limit {
                Some(l) if l > 0 && total < l => {
                    return Err(Error::InvalidResource {
                        resource: "memory+swap limit",
                        value: total.to_string(),
                        reason: "must be at least the memory limit",
                    });
                }
                Some(l) if l > 0 => {}
                _ => {
                    return Err(Error::InvalidResource {
                        resource: "memory+swap limit",
                        value: total.to_string(),
                        reason: "needs a memory limit too",
                    });
                }
            }
        }
        Ok(MemoryRequest {
            limit,
            memory_and_swap,
            reservation,
        })
    }

    /// cgroup v2's `memory.swap.max` (swap alone): `Some(None)` is `max`.
    pub(crate) fn v2_swap_max(&self) -> Option<Option<i64>> {
        match (self.memory_and_swap, self.limit) {
            (None, _) => None,
            (Some(-1), _) => Some(None),
            (Some(total), Some(limit)) if limit > 0 => Some(Some(total - limit)),
            // Validation refused a positive total without a positive limit.
            (Some(_), _) => Some(None),
        }
    }
}

/// The lowest and highest blkio weight (v1 `blkio.weight`, Docker's `--blkio-weight`).
const BLKIO_WEIGHT_RANGE: std::ops::RangeInclusive<u16> = 10..=1000;

/// Docker's message for a weight outside [`BLKIO_WEIGHT_RANGE`].
const BLKIO_WEIGHT_REASON: &str = "range of blkio weight is from 10 to 1000";

/// One of the four per-device throttles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttle {
    ReadBps,
    WriteBps,
    ReadIops,
    WriteIops,
}

impl Throttle {
    /// The v1 file of this throttle.
    pub(crate) fn v1_file(self) -> &'static str {
        match self {
            Self::ReadBps => "blkio.throttle.read_bps_device",
            Self::WriteBps => "blkio.throttle.write_bps_device",
            Self::ReadIops => "blkio.throttle.read_iops_device",
            Self::WriteIops => "blkio.throttle.write_iops_device",
        }
    }

    /// The key of this throttle in v2's `io.max`.
    pub(crate) fn v2_key(self) -> &'static str {
        match self {
            Self::ReadBps => "rbps",
            Self::WriteBps => "wbps",
            Self::ReadIops => "riops",
            Self::WriteIops => "wiops",
        }
    }
}

/// A block device as `MAJ:MIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceNumber {
    pub(crate) major: u64,
    pub(crate) minor: u64,
}

impl std::fmt::Display for DeviceNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

fn device_number(resource: &'static str, major: i64, minor: i64) -> Result<DeviceNumber> {
    match (u64::try_from(major), u64::try_from(minor)) {
        (Ok(major), Ok(minor)) => Ok(DeviceNumber { major, minor }),
        _ => Err(Error::InvalidResource {
            resource,
            value: format!("{major}:{minor}"),
            reason: "device numbers cannot be negative",
        }),
    }
}

/// The block I/O settings of a request, validated once for both versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BlockIoRequest {
    /// The cgroup's weight, 10 to 1000 (unset when absent or 0).
    pub(crate) weight: Option<u16>,
    /// Per-device weights, 10 to 1000, or 0 to drop the device's own weight.
    pub(crate) weight_devices: Vec<(DeviceNumber, u16)>,
    /// Per-device throttles: a rate, 0 to remove the limit.
    pub(crate) throttles: Vec<(Throttle, DeviceNumber, u64)>,
    /// A leaf weight was asked for (CFQ only, gone since Linux 5.0): ignored.
    pub(crate) leaf_weight: bool,
}

impl BlockIoRequest {
    pub(crate) fn from_spec(block_io: &LinuxBlockIo) -> Result<BlockIoRequest> {
        let weight = block_io.weight().filter(|w| *w != 0);
        if let Some(w) = weight.filter(|w| !BLKIO_WEIGHT_RANGE.contains(w)) {
            return Err(Error::InvalidResource {
                resource: "blkio weight",
                value: w.to_string(),
                reason: BLKIO_WEIGHT_REASON,
            });
        }
        let mut leaf_weight = block_io.leaf_weight().is_some();
        let mut weight_devices = Vec::new();
        for device in block_io.weight_device().iter().flatten() {
            let number = device_number("blkio weight device", device.major(), device.minor())?;
            leaf_weight |= device.leaf_weight().is_some();
            let Some(w) = device.weight() else {
                continue;
            };
            if w != 0 && !BLKIO_WEIGHT_RANGE.contains(&w) {
                return Err(Error::InvalidResource {
                    resource: "blkio weight device",
                    value: format!("{number} {w}"),
                    reason: BLKIO_WEIGHT_REASON,
                });
            }
            weight_devices.push((number, w));
        }
        let mut throttles = Vec::new();
        for (throttle, devices) in [
            (Throttle::ReadBps, block_io.throttle_read_bps_device()),
            (Throttle::WriteBps, block_io.throttle_write_bps_device()),
            (Throttle::ReadIops, block_io.throttle_read_iops_device()),
            (Throttle::WriteIops, block_io.throttle_write_iops_device()),
        ] {
            for device in devices.iter().flatten() {
                let number =
                    device_number("blkio throttle device", device.major(), device.minor())?;
                throttles.push((throttle, number, device.rate()));
            }
        }
        Ok(BlockIoRequest {
            weight,
            weight_devices,
            throttles,
            leaf_weight,
        })
    }
}

/// Converts a blkio weight ([10, 1000]) to v2's `io.weight` ([1, 10000]) linearly, as
/// runc does; 0 (unset) stays 0.
pub(crate) fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// Converts v1 `cpu.shares` ([2, 262144], default 1024) to v2 `cpu.weight` ([1, 10000],
/// default 100) with the log-quadratic mapping that runc 1.3.2+, crun and Kubernetes
/// adopted in 2025 (the older linear formula turned the default 1024 into 39). The curve
/// goes through (2, 1), (1024, 100) and (262144, 10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    const MIN_SHARES: u64 = 2;
    const MAX_SHARES: u64 = 262_144;
    const MAX_WEIGHT: u64 = 10_000;
    if shares <= MIN_SHARES {
        return 1;
    }
    if shares >= MAX_SHARES {
        return MAX_WEIGHT;
    }
    #[allow(clippy::cast_precision_loss)] // shares < 2^18 is exact in an f64.
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    let weight = 10f64.powf(exponent);
    // Round away float noise first, so exact points (1024 -> 100) do not ceil up by one.
    let rounded = (weight * 1e9).round() / 1e9;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 1 <= weight <= 10000.
    let weight = rounded.ceil() as u64;
    weight.clamp(1, MAX_WEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };
    use proptest::prelude::*;

    #[test]
    fn weight_conversion_keeps_the_fixed_points() {
        assert_eq!(shares_to_weight(0), 1);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
        // runc's published example: --cpu-shares 2000 gives weight 170.
        assert_eq!(shares_to_weight(2000), 170);
        assert_eq!(shares_to_weight(512), 59);
    }

    proptest! {
        #[test]
        fn weight_conversion_is_monotonic_and_in_range(a in 2u64..300_000, b in 2u64..300_000) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let (wl, wh) = (shares_to_weight(lo), shares_to_weight(hi));
            prop_assert!((1..=10_000).contains(&wl));
            prop_assert!((1..=10_000).contains(&wh));
            prop_assert!(wl <= wh);
        }
    }

    #[test]
    fn requests_ignore_unset_and_unlimited_values() {
        let empty = LinuxResources::default();
        for c in Controller::ALL {
            assert_eq!(requested(c, &empty), None, "{c}");
        }
        let r = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(-1i64)
                    .shares(0u64)
                    .cpus("")
                    .build()
                    .unwrap(),
            )
            .memory(LinuxMemoryBuilder::default().limit(-1i64).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(-1i64).build().unwrap())
            .build()
            .unwrap();
        for c in Controller::ALL {
            assert_eq!(requested(c, &r), None, "{c}");
        }
        let r = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(50_000i64)
                    .mems("0")
                    .build()
                    .unwrap(),
            )
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1i64 << 25)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(20i64).build().unwrap())
            .build()
            .unwrap();
        assert_eq!(requested(Controller::Cpu, &r), Some("cpu quota"));
        assert_eq!(requested(Controller::Cpuset, &r), Some("cpuset"));
        assert_eq!(requested(Controller::Memory, &r), Some("memory limit"));
        assert_eq!(requested(Controller::Pids, &r), Some("pids limit"));
        assert_eq!(requested(Controller::Freezer, &r), None);
    }

    #[test]
    fn blkio_weights_map_onto_io_weights_as_runc_does() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn block_io_requests_need_the_blkio_controller() {
        use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder};
        let with = |b: LinuxBlockIoBuilder| {
            LinuxResourcesBuilder::default()
                .block_io(b.build().unwrap())
                .build()
                .unwrap()
        };
        let unset = with(LinuxBlockIoBuilder::default().weight(0u16));
        assert_eq!(requested(Controller::Blkio, &unset), None);
        let weight = with(LinuxBlockIoBuilder::default().weight(10u16));
        assert_eq!(requested(Controller::Blkio, &weight), Some("blkio weight"));
        let device = LinuxThrottleDeviceBuilder::default()
            .major(8i64)
            .minor(0i64)
            .rate(1u64)
            .build()
            .unwrap();
        let throttle =
            with(LinuxBlockIoBuilder::default().throttle_write_iops_device(vec![device]));
        assert_eq!(
            requested(Controller::Blkio, &throttle),
            Some("blkio throttling")
        );
        let request = BlockIoRequest::from_spec(throttle.block_io().as_ref().unwrap()).unwrap();
        assert_eq!(
            request.throttles,
            vec![(Throttle::WriteIops, DeviceNumber { major: 8, minor: 0 }, 1)]
        );
        let err = BlockIoRequest::from_spec(
            &LinuxBlockIoBuilder::default()
                .weight(1001u16)
                .build()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("1001"), "{err}");
    }

    fn mem(limit: Option<i64>, swap: Option<i64>) -> Result<MemoryRequest> {
        let mut b = LinuxMemoryBuilder::default();
        if let Some(l) = limit {
            b = b.limit(l);
        }
        if let Some(s) = swap {
            b = b.swap(s);
        }
        MemoryRequest::from_spec(&b.build().unwrap())
    }

    #[test]
    fn docker_memory_swap_semantics() {
        const M: i64 = 1 << 20;
        // -m 32m --memory-swap 64m: 32 MiB of swap on v2.
        assert_eq!(
            mem(Some(32 * M), Some(64 * M)).unwrap().v2_swap_max(),
            Some(Some(32 * M))
        );
        // --memory-swap equal to -m: no swap at all.
        assert_eq!(
            mem(Some(32 * M), Some(32 * M)).unwrap().v2_swap_max(),
            Some(Some(0))
        );
        // --memory-swap -1: unlimited swap.
        assert_eq!(
            mem(Some(32 * M), Some(-1)).unwrap().v2_swap_max(),
            Some(None)
        );
        // No --memory-swap: swap untouched.
        assert_eq!(mem(Some(32 * M), None).unwrap().v2_swap_max(), None);
        assert_eq!(mem(Some(32 * M), Some(0)).unwrap().v2_swap_max(), None);
        // Refused: less than the limit, swap without a limit, negative values.
        for (l, s) in [
            (Some(32 * M), Some(16 * M)),
            (None, Some(64 * M)),
            (Some(-1), Some(64 * M)),
        ] {
            let err = mem(l, s).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput, "{l:?} {s:?}");
        }
        assert!(mem(Some(-5), None).is_err());
    }
}
