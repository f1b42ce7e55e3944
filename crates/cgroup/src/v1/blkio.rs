//! v1 `blkio`: the cgroup's weight (`blkio.weight`, or `blkio.bfq.weight` on kernels with
//! BFQ and no CFQ), per-device weights, and per-device read/write throttles in bytes and
//! I/O operations per second.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V1Controller;
use crate::error::Result;
use crate::fs::{exists, write_file};
use crate::resources::BlockIoRequest;
use crate::{Controller, Warning};

pub(crate) struct Blkio;

const WEIGHT: &str = "blkio.weight";
const BFQ_WEIGHT: &str = "blkio.bfq.weight";
const WEIGHT_DEVICE: &str = "blkio.weight_device";
const BFQ_WEIGHT_DEVICE: &str = "blkio.bfq.weight_device";

/// The first of `files` that exists in `dir`.
fn first_existing<'a>(dir: &Path, files: &[&'a str]) -> Option<&'a str> {
    files.iter().copied().find(|f| exists(dir, f))
}

impl V1Controller for Blkio {
    const CONTROLLER: Controller = Controller::Blkio;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        let Some(block_io) = resources.block_io() else {
            return Ok(warnings);
        };
        let request = BlockIoRequest::from_spec(block_io)?;
        if let Some(weight) = request.weight {
            match first_existing(dir, &[WEIGHT, BFQ_WEIGHT]) {
                Some(file) => write_file(dir, file, &weight.to_string())?,
                None => warnings.push(Warning::Ignored {
                    resource: "blkio weight",
                    reason: "the kernel has neither blkio.weight nor blkio.bfq.weight (no CFQ or BFQ I/O scheduler)",
                }),
            }
        }
        if !request.weight_devices.is_empty() {
            match first_existing(dir, &[WEIGHT_DEVICE, BFQ_WEIGHT_DEVICE]) {
                Some(file) => {
                    for (device, weight) in &request.weight_devices {
                        write_file(dir, file, &format!("{device} {weight}"))?;
                    }
                }
                None => warnings.push(Warning::Ignored {
                    resource: "blkio weight device",
                    reason: "the kernel has neither blkio.weight_device nor blkio.bfq.weight_device (no CFQ or BFQ I/O scheduler)",
                }),
            }
        }
        let mut missing_throttle = false;
        for (throttle, device, rate) in &request.throttles {
            let file = throttle.v1_file();
            if exists(dir, file) {
                // A rate of 0 removes the device's limit.
                write_file(dir, file, &format!("{device} {rate}"))?;
            } else {
                missing_throttle = true;
            }
        }
        if missing_throttle {
            warnings.push(Warning::Ignored {
                resource: "blkio throttling",
                reason: "the kernel has no blkio.throttle.* files (CONFIG_BLK_DEV_THROTTLING)",
            });
        }
        if request.leaf_weight {
            warnings.push(Warning::Ignored {
                resource: "blkio leaf weight",
                reason: "leaf weights are not supported",
            });
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::LinuxBlockIoBuilder;

    use super::*;
    use crate::ErrorKind;
    use crate::fs::read_file;
    use crate::resources::Throttle;
    use crate::testutil::{block_io_resources, set_fixture, throttle, weight_device};

    const THROTTLES: [Throttle; 4] = [
        Throttle::ReadBps,
        Throttle::WriteBps,
        Throttle::ReadIops,
        Throttle::WriteIops,
    ];

    /// A CFQ kernel's blkio cgroup (`bfq`: BFQ's files instead of CFQ's).
    fn fixture(bfq: bool) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        if bfq {
            set_fixture(dir, BFQ_WEIGHT, "100\n");
            set_fixture(dir, BFQ_WEIGHT_DEVICE, "");
        } else {
            set_fixture(dir, WEIGHT, "500\n");
            set_fixture(dir, WEIGHT_DEVICE, "");
        }
        for t in THROTTLES {
            set_fixture(dir, t.v1_file(), "");
        }
        tmp
    }

    #[test]
    fn weights_and_throttles_are_written() {
        let tmp = fixture(false);
        let dir = tmp.path();
        let r = block_io_resources(
            LinuxBlockIoBuilder::default()
                .weight(300u16)
                .weight_device(vec![weight_device(8, 0, 700)])
                .throttle_read_bps_device(vec![throttle(8, 0, 1 << 20)])
                .throttle_write_bps_device(vec![throttle(8, 16, 2 << 20)])
                .throttle_read_iops_device(vec![throttle(8, 0, 100)])
                .throttle_write_iops_device(vec![throttle(8, 0, 0)]),
        );
        let w = Blkio::apply(&r, dir).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "300");
        assert_eq!(read_file(dir, WEIGHT_DEVICE).unwrap(), "8:0 700");
        assert_eq!(
            read_file(dir, "blkio.throttle.read_bps_device").unwrap(),
            "8:0 1048576"
        );
        assert_eq!(
            read_file(dir, "blkio.throttle.write_bps_device").unwrap(),
            "8:16 2097152"
        );
        assert_eq!(
            read_file(dir, "blkio.throttle.read_iops_device").unwrap(),
            "8:0 100"
        );
        // 0 removes the device's limit.
        assert_eq!(
            read_file(dir, "blkio.throttle.write_iops_device").unwrap(),
            "8:0 0"
        );
    }

    #[test]
    fn bfq_files_stand_in_for_cfq_ones() {
        let tmp = fixture(true);
        let dir = tmp.path();
        let r = block_io_resources(
            LinuxBlockIoBuilder::default()
                .weight(10u16)
                .weight_device(vec![weight_device(254, 0, 1000)]),
        );
        assert!(Blkio::apply(&r, dir).unwrap().is_empty());
        assert_eq!(read_file(dir, BFQ_WEIGHT).unwrap(), "10");
        assert_eq!(read_file(dir, BFQ_WEIGHT_DEVICE).unwrap(), "254:0 1000");
    }

    #[test]
    fn weights_without_a_proportional_scheduler_are_warnings() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, "blkio.throttle.read_bps_device", "");
        let r = block_io_resources(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .weight_device(vec![weight_device(8, 0, 200)])
                .throttle_read_bps_device(vec![throttle(8, 0, 4096)]),
        );
        let w = Blkio::apply(&r, dir).unwrap();
        assert!(
            matches!(
                w.as_slice(),
                [
                    Warning::Ignored {
                        resource: "blkio weight",
                        ..
                    },
                    Warning::Ignored {
                        resource: "blkio weight device",
                        ..
                    }
                ]
            ),
            "{w:?}"
        );
        assert_eq!(
            read_file(dir, "blkio.throttle.read_bps_device").unwrap(),
            "8:0 4096"
        );
        assert!(!exists(dir, WEIGHT) && !exists(dir, BFQ_WEIGHT));
    }

    #[test]
    fn out_of_range_weights_are_refused_before_writing() {
        let tmp = fixture(false);
        let dir = tmp.path();
        for bad in [5u16, 1001] {
            let r = block_io_resources(
                LinuxBlockIoBuilder::default()
                    .weight(bad)
                    .throttle_read_bps_device(vec![throttle(8, 0, 1)]),
            );
            let err = Blkio::apply(&r, dir).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
            let r = block_io_resources(
                LinuxBlockIoBuilder::default().weight_device(vec![weight_device(8, 0, bad)]),
            );
            let err = Blkio::apply(&r, dir).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        }
        let r = block_io_resources(
            LinuxBlockIoBuilder::default().throttle_read_bps_device(vec![throttle(-1, 0, 1)]),
        );
        assert_eq!(
            Blkio::apply(&r, dir).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "500\n");
        assert_eq!(
            read_file(dir, "blkio.throttle.read_bps_device").unwrap(),
            ""
        );
        // 0 is unset: nothing is written.
        let r = block_io_resources(LinuxBlockIoBuilder::default().weight(0u16));
        assert!(Blkio::apply(&r, dir).unwrap().is_empty());
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "500\n");
    }

    #[test]
    fn missing_throttle_files_and_leaf_weights_are_warnings() {
        let tmp = tempfile::tempdir().unwrap();
        let r = block_io_resources(
            LinuxBlockIoBuilder::default()
                .leaf_weight(100u16)
                .throttle_write_bps_device(vec![throttle(8, 0, 1)]),
        );
        let w = Blkio::apply(&r, tmp.path()).unwrap();
        assert!(
            matches!(
                w.as_slice(),
                [
                    Warning::Ignored {
                        resource: "blkio throttling",
                        ..
                    },
                    Warning::Ignored {
                        resource: "blkio leaf weight",
                        ..
                    }
                ]
            ),
            "{w:?}"
        );
    }
}
