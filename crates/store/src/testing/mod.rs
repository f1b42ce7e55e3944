//! Test utilities (feature `testing`), shared with the CLI's integration tests and with
//! other drivers' tests: a layer tar builder (including deliberately malformed entries), a
//! file-tree snapshot and comparison walker, a rich fixture image, a hostile tar corpus, a
//! guard that removes a container's writable layer, and the storage driver conformance
//! suite ([`driver_suite`], [`conformance_main`]). Assertion helpers panic on failure, as
//! test code does.
//!
//! # Example: a driver's conformance test
//!
//! In `tests/conformance.rs`, declared with `harness = false` in `Cargo.toml` so that a
//! driver this machine cannot run is reported as skipped rather than passed:
//!
//! ```no_run
//! use std::sync::Arc;
//! use store::StorageDriver;
//! use store::driver::{CopyDriver, DriverPaths};
//! use store::testing::{DriverFactory, conformance_main};
//!
//! fn main() -> std::process::ExitCode {
//!     let copy: &DriverFactory =
//!         &|paths: DriverPaths| Ok(Arc::new(CopyDriver::new(paths)?) as Arc<dyn StorageDriver>);
//!     conformance_main(std::env::args().skip(1), &[("copy", copy)], &mut std::io::stdout())
//! }
//! ```

// Test-only utilities: failing loudly is their job.
#![allow(clippy::unwrap_used)]

mod fixture;
mod hostile;
mod suite;
mod tar;
mod tree;

use std::sync::Arc;

use oci_spec::image::Digest;

use crate::digest::sha256_of;
use crate::driver::StorageDriver;

pub use fixture::{assert_fixture_semantics, fixture_layers};
pub use hostile::{HostileCase, ReasonCheck, find_escapes, hostile_layers};
pub use suite::{
    CheckResult, DriverFactory, Outcome, SuiteReport, conformance_main, driver_suite,
    driver_suite_in,
};
pub use tar::LayerTar;
pub use tree::{Kind, Node, Tree, assert_same_tree, name_bytes, snapshot, tree_diff, xattr};

/// The diff ID of an uncompressed layer tar.
pub fn diff_id(tar: &[u8]) -> Digest {
    sha256_of(tar)
}

/// Removes a container's writable layer (unmounting it) when dropped.
#[derive(Debug)]
pub struct WritableGuard {
    /// The driver.
    pub driver: Arc<dyn StorageDriver>,
    /// The container ID.
    pub id: String,
}

impl Drop for WritableGuard {
    fn drop(&mut self) {
        if let Err(e) = self.driver.remove_writable(&self.id) {
            // A guard cannot return the error; a leaked layer must still be seen.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("cleanup of writable layer {}: {e}", self.id);
            }
        }
    }
}
