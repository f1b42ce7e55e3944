//! The conformance suite has teeth: a driver that breaks the contract fails the checks
//! about it (and only those), an unsupported driver is skipped with its reason, and a
//! check leaves nothing behind.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::runtime::Mount;
use store::driver::{CopyDriver, DriverPaths};
use store::testing::{DriverFactory, Outcome, SuiteReport, driver_suite_in};
use store::{Digest, LayerInfo, Staged, StorageDriver};

/// The copy driver with two faults: relative mount destinations and empty change sets.
#[derive(Debug)]
struct Broken {
    inner: CopyDriver,
    supported: Result<(), String>,
}

impl StorageDriver for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn supported(&self) -> Result<(), String> {
        self.supported.clone()
    }
    fn has_layer(&self, c: &Digest) -> store::Result<bool> {
        self.inner.has_layer(c)
    }
    fn layer_info(&self, c: &Digest) -> store::Result<LayerInfo> {
        self.inner.layer_info(c)
    }
    fn stage_layer(
        &self,
        p: Option<&Digest>,
        d: &Digest,
        tar: &mut dyn Read,
    ) -> store::Result<Staged> {
        self.inner.stage_layer(p, d, tar)
    }
    fn commit_layer(&self, s: Staged) -> store::Result<LayerInfo> {
        self.inner.commit_layer(s)
    }
    fn remove_layer(&self, c: &Digest) -> store::Result<()> {
        self.inner.remove_layer(c)
    }
    fn create_writable(&self, id: &str, top: Option<&Digest>) -> store::Result<()> {
        self.inner.create_writable(id, top)
    }
    fn mounts(&self, id: &str) -> store::Result<Vec<Mount>> {
        let mut m = self.inner.mounts(id)?;
        m[0].set_destination(PathBuf::from("rootfs"));
        Ok(m)
    }
    fn mount(&self, id: &str) -> store::Result<PathBuf> {
        self.inner.mount(id)
    }
    fn unmount(&self, id: &str) -> store::Result<()> {
        self.inner.unmount(id)
    }
    fn changes(&self, id: &str, out: &mut dyn Write) -> store::Result<()> {
        self.inner.changes(id, &mut std::io::sink())?;
        tar::Builder::new(out)
            .finish()
            .map_err(|e| store::Error::Io {
                op: "write",
                path: "<tar>".into(),
                source: e,
            })
    }
    fn writable_size(&self, id: &str) -> store::Result<u64> {
        self.inner.writable_size(id)
    }
    fn remove_writable(&self, id: &str) -> store::Result<()> {
        self.inner.remove_writable(id)
    }
}

fn run(supported: Result<(), String>) -> (SuiteReport, tempfile::TempDir) {
    let tmp = tempfile::Builder::new()
        .prefix("mydocker-suite-selftest")
        .tempdir()
        .unwrap();
    let factory: &DriverFactory = &move |paths: DriverPaths| {
        Ok(Arc::new(Broken {
            inner: CopyDriver::new(paths)?,
            supported: supported.clone(),
        }) as Arc<dyn StorageDriver>)
    };
    let report = driver_suite_in(tmp.path(), "broken", factory, &|_| true);
    (report, tmp)
}

#[test]
fn a_broken_driver_fails_the_checks_it_breaks() {
    let (report, tmp) = run(Ok(()));
    let outcome = |name: &str| {
        report
            .results
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.outcome.clone())
            .unwrap()
    };
    assert!(
        matches!(outcome("mounts_data_shape"), Outcome::Failed(m) if m.contains("destination")),
        "{report}"
    );
    assert!(
        matches!(outcome("changes_reproduce_the_tree"), Outcome::Failed(_)),
        "{report}"
    );
    assert_eq!(outcome("stage_commit_apply"), Outcome::Passed, "{report}");
    assert_eq!(outcome("hostile_tars_refused"), Outcome::Passed, "{report}");
    assert!(report.failed() >= 2 && report.passed() >= 8, "{report}");
    assert!(
        report
            .to_string()
            .contains("test broken::mounts_data_shape ... FAILED")
    );
    // Every check cleaned up after itself.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn an_unsupported_driver_is_skipped_not_passed() {
    let (report, tmp) = run(Err("kernel has no brokenfs".into()));
    assert_eq!(report.passed(), 0);
    assert_eq!(report.failed(), 0);
    assert_eq!(report.skipped(), report.results.len());
    assert!(
        report
            .to_string()
            .contains("test broken::empty_image ... skipped: kernel has no brokenfs"),
        "{report}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
