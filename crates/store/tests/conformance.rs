//! The storage driver conformance suite (`store::testing::driver_suite`) for overlay, copy
//! and aufs. A `harness = false` target: a driver this kernel cannot run (aufs, or overlay
//! without root) is reported check by check as skipped, with the reason, not as passed.

use std::process::ExitCode;

use store::driver::{self, DriverPaths};
use store::testing::{DriverFactory, conformance_main};

fn main() -> ExitCode {
    let overlay: &DriverFactory = &|paths: DriverPaths| driver::with_paths("overlay", paths);
    let copy: &DriverFactory = &|paths: DriverPaths| driver::with_paths("copy", paths);
    let aufs: &DriverFactory = &|paths: DriverPaths| driver::with_paths("aufs", paths);
    conformance_main(
        std::env::args().skip(1),
        &[("overlay", overlay), ("copy", copy), ("aufs", aufs)],
        &mut std::io::stdout(),
    )
}
