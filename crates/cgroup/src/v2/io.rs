//! v2 `io`: the cgroup's weight and per-device weights in `io.weight` (blkio's 10..1000
//! mapped onto 1..10000 as runc does; `io.bfq.weight` with blkio's own values when the
//! kernel has BFQ and no `io.weight`), and per-device throttles in `io.max`.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::V2Controller;
use crate::error::Result;
use crate::fs::{exists, write_file};
use crate::resources::{BlockIoRequest, blkio_weight_to_io_weight};
use crate::{Controller, Warning};

pub(crate) struct Io;

const WEIGHT: &str = "io.weight";
const BFQ_WEIGHT: &str = "io.bfq.weight";
const MAX: &str = "io.max";

/// Where weights go, and in which scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightFile {
    /// `io.weight`: 1..10000.
    Io,
    /// `io.bfq.weight`: blkio's 1..1000 scale.
    Bfq,
}

impl WeightFile {
    fn find(dir: &Path) -> Option<WeightFile> {
        if exists(dir, WEIGHT) {
            Some(Self::Io)
        } else if exists(dir, BFQ_WEIGHT) {
            Some(Self::Bfq)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Io => WEIGHT,
            Self::Bfq => BFQ_WEIGHT,
        }
    }

    /// The value for a blkio weight; 0 is the kernel's `default`.
    fn value(self, weight: u16) -> String {
        match (self, weight) {
            (_, 0) => "default".to_string(),
            (Self::Io, w) => blkio_weight_to_io_weight(w).to_string(),
            (Self::Bfq, w) => w.to_string(),
        }
    }
}

const NO_WEIGHT_FILE: &str =
    "the kernel has neither io.weight nor io.bfq.weight (no io cost model or BFQ scheduler)";

impl V2Controller for Io {
    const CONTROLLER: Controller = Controller::Blkio;

    fn apply(resources: &LinuxResources, dir: &Path) -> Result<Vec<Warning>> {
        let mut warnings = Vec::new();
        let Some(block_io) = resources.block_io() else {
            return Ok(warnings);
        };
        let request = BlockIoRequest::from_spec(block_io)?;
        let weight_file = WeightFile::find(dir);
        if let Some(weight) = request.weight {
            match weight_file {
                Some(file) => {
                    write_file(dir, file.name(), &format!("default {}", file.value(weight)))?;
                }
                None => warnings.push(Warning::Ignored {
                    resource: "blkio weight",
                    reason: NO_WEIGHT_FILE,
                }),
            }
        }
        if !request.weight_devices.is_empty() {
            match weight_file {
                Some(file) => {
                    for (device, weight) in &request.weight_devices {
                        write_file(
                            dir,
                            file.name(),
                            &format!("{device} {}", file.value(*weight)),
                        )?;
                    }
                }
                None => warnings.push(Warning::Ignored {
                    resource: "blkio weight device",
                    reason: NO_WEIGHT_FILE,
                }),
            }
        }
        if !request.throttles.is_empty() {
            if exists(dir, MAX) {
                for (throttle, device, rate) in &request.throttles {
                    // A rate of 0 removes the limit, as it does in v1.
                    let value = if *rate == 0 {
                        "max".to_string()
                    } else {
                        rate.to_string()
                    };
                    write_file(dir, MAX, &format!("{device} {}={value}", throttle.v2_key()))?;
                }
            } else {
                warnings.push(Warning::Ignored {
                    resource: "blkio throttling",
                    reason: "the kernel has no io.max (CONFIG_BLK_DEV_THROTTLING)",
                });
            }
        }
        if request.leaf_weight {
            warnings.push(Warning::Ignored {
                resource: "blkio leaf weight",
                reason: "cgroup v2 has no leaf weights",
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
    use crate::testutil::{block_io_resources, set_fixture, throttle, weight_device};

    /// The temp dir's files record the last write only: one request per check.
    fn apply_one(dir: &Path, block_io: LinuxBlockIoBuilder) -> Vec<Warning> {
        Io::apply(&block_io_resources(block_io), dir).unwrap()
    }

    #[test]
    fn weights_are_mapped_onto_io_weight() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, WEIGHT, "default 100\n");
        for (blkio, io) in [(10u16, "1"), (500, "4950"), (1000, "10000")] {
            assert!(apply_one(dir, LinuxBlockIoBuilder::default().weight(blkio)).is_empty());
            assert_eq!(read_file(dir, WEIGHT).unwrap(), format!("default {io}"));
        }
        apply_one(
            dir,
            LinuxBlockIoBuilder::default().weight_device(vec![weight_device(8, 0, 300)]),
        );
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "8:0 2930");
        apply_one(
            dir,
            LinuxBlockIoBuilder::default().weight_device(vec![weight_device(8, 0, 0)]),
        );
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "8:0 default");
    }

    #[test]
    fn bfq_weight_keeps_blkio_values() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, BFQ_WEIGHT, "default 100\n");
        apply_one(dir, LinuxBlockIoBuilder::default().weight(300u16));
        assert_eq!(read_file(dir, BFQ_WEIGHT).unwrap(), "default 300");
        apply_one(
            dir,
            LinuxBlockIoBuilder::default().weight_device(vec![weight_device(8, 0, 20)]),
        );
        assert_eq!(read_file(dir, BFQ_WEIGHT).unwrap(), "8:0 20");
    }

    #[test]
    fn throttles_go_to_io_max() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, MAX, "");
        for (block_io, line) in [
            (
                LinuxBlockIoBuilder::default().throttle_read_bps_device(vec![throttle(8, 0, 1024)]),
                "8:0 rbps=1024",
            ),
            (
                LinuxBlockIoBuilder::default()
                    .throttle_write_bps_device(vec![throttle(8, 16, 2048)]),
                "8:16 wbps=2048",
            ),
            (
                LinuxBlockIoBuilder::default().throttle_read_iops_device(vec![throttle(8, 0, 50)]),
                "8:0 riops=50",
            ),
            (
                LinuxBlockIoBuilder::default().throttle_write_iops_device(vec![throttle(8, 0, 0)]),
                "8:0 wiops=max",
            ),
        ] {
            assert!(apply_one(dir, block_io).is_empty());
            assert_eq!(read_file(dir, MAX).unwrap(), line);
        }
    }

    #[test]
    fn missing_files_are_warnings_and_bad_weights_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let w = apply_one(
            dir,
            LinuxBlockIoBuilder::default()
                .weight(100u16)
                .weight_device(vec![weight_device(8, 0, 100)])
                .throttle_read_bps_device(vec![throttle(8, 0, 1)]),
        );
        let ignored: Vec<&str> = w
            .iter()
            .map(|w| match w {
                Warning::Ignored { resource, .. } => *resource,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            ignored,
            ["blkio weight", "blkio weight device", "blkio throttling"]
        );
        set_fixture(dir, WEIGHT, "default 100\n");
        let err = Io::apply(
            &block_io_resources(LinuxBlockIoBuilder::default().weight(9u16)),
            dir,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_eq!(read_file(dir, WEIGHT).unwrap(), "default 100\n");
    }
}
