//! The storage driver conformance suite, in the spirit of containerd's `SnapshotterSuite`:
//! one set of behavioural checks that every [`StorageDriver`] (a third party's too) runs,
//! each with a fresh root, reported check by check as passed, failed or skipped.

mod layers;
mod writable;

use std::fmt;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use oci_spec::image::Digest;

use super::{WritableGuard, diff_id};
use crate::driver::{CopyDriver, DriverPaths, StorageDriver};

/// Builds the driver under test from the paths of a fresh root (one call per check).
pub type DriverFactory = dyn Fn(DriverPaths) -> crate::Result<Arc<dyn StorageDriver>> + Send + Sync;

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything held.
    Passed,
    /// Something did not hold: what.
    Failed(String),
    /// The check could not run here (the driver is not supported on this kernel, no
    /// root...): why. Not a pass.
    Skipped(String),
}

/// One check of a [`SuiteReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name (`mounts_data_shape`...).
    pub name: &'static str,
    /// How it went.
    pub outcome: Outcome,
}

/// What [`driver_suite`] found for one driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// The name the suite was run under.
    pub driver: String,
    /// Every check run (those a filter left out are absent), in order.
    pub results: Vec<CheckResult>,
}

impl SuiteReport {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.outcome)).count()
    }

    /// Checks that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| *o == Outcome::Passed)
    }

    /// Checks that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }

    /// Checks that were skipped.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }

    /// Panics listing the failed checks, if any (skipped checks are allowed: see
    /// [`conformance_main`] to report them).
    pub fn assert_no_failures(&self) {
        assert!(self.failed() == 0, "{self}");
    }
}

impl fmt::Display for SuiteReport {
    /// libtest-like lines, one per check.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            let name = format!("{}::{}", self.driver, r.name);
            match &r.outcome {
                Outcome::Passed => writeln!(f, "test {name} ... ok")?,
                Outcome::Skipped(why) => writeln!(f, "test {name} ... skipped: {why}")?,
                Outcome::Failed(what) => writeln!(f, "test {name} ... FAILED\n{what}")?,
            }
        }
        Ok(())
    }
}

/// A check failed or could not run.
#[derive(Debug)]
enum Fail {
    Failed(String),
    Skipped(String),
}

impl<E: fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail::Failed(e.to_string())
    }
}

type CheckFn = fn(&mut Ctx) -> Result<(), Fail>;

/// Fails the check with `msg` unless `cond`.
fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Fail> {
    if cond {
        Ok(())
    } else {
        Err(Fail::Failed(msg()))
    }
}

/// Skips the check unless running as root.
fn need_root() -> Result<(), Fail> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(Fail::Skipped("needs root".into()))
    }
}

/// The checks, in the order they run.
const CHECKS: &[(&str, CheckFn)] = &[
    ("stage_commit_apply", layers::stage_commit_apply),
    ("commit_order_and_digests", layers::commit_order_and_digests),
    ("remove_layer", layers::remove_layer),
    ("hostile_tars_refused", layers::hostile_tars_refused),
    ("concurrent_staging", layers::concurrent_staging),
    ("writable_create_remove", writable::create_remove),
    ("disposable_layer", writable::disposable_layer),
    ("invalid_ids_refused", writable::invalid_ids),
    ("mounts_data_shape", writable::mounts_data_shape),
    (
        "mounts_performed_give_the_image",
        writable::mounts_performed,
    ),
    (
        "host_mount_same_tree_as_copy",
        writable::host_mount_same_tree,
    ),
    ("whiteouts_and_opaque_dirs", writable::whiteouts_and_opaque),
    ("changes_reproduce_the_tree", writable::changes_reproduce),
    ("empty_image", writable::empty_image),
    ("writable_size_grows", writable::size_grows),
    (
        "idempotent_unmount_and_remove",
        writable::idempotent_unmount_remove,
    ),
];

/// The state of one check: a fresh root, the driver under test, and what to clean up.
struct Ctx {
    dir: PathBuf,
    driver: Arc<dyn StorageDriver>,
    reference: Option<Arc<dyn StorageDriver>>,
    guards: Vec<WritableGuard>,
    next_id: usize,
}

impl Ctx {
    /// The paths of the driver under test.
    fn paths(&self) -> DriverPaths {
        DriverPaths::under(self.dir.join("driver"))
    }

    /// A fresh container ID, removed (with its writable layer) after the check.
    fn new_id(&mut self, driver: &Arc<dyn StorageDriver>) -> String {
        self.next_id += 1;
        let id = format!("suite-{}", self.next_id);
        self.guards.push(WritableGuard {
            driver: driver.clone(),
            id: id.clone(),
        });
        id
    }

    /// Applies `layers` to the driver under test, base first; returns the top chain ID.
    fn apply(&self, layers: &[Vec<u8>]) -> crate::Result<Option<Digest>> {
        apply_all(&*self.driver, layers)
    }

    /// The copy driver, in its own root: the reference trees.
    fn reference(&mut self) -> crate::Result<Arc<dyn StorageDriver>> {
        if let Some(r) = &self.reference {
            return Ok(r.clone());
        }
        let r: Arc<dyn StorageDriver> = Arc::new(CopyDriver::new(DriverPaths::under(
            self.dir.join("reference"),
        ))?);
        self.reference = Some(r.clone());
        Ok(r)
    }

    /// The reference rootfs of `layers` (a copy driver writable layer).
    fn reference_root(&mut self, layers: &[Vec<u8>]) -> crate::Result<PathBuf> {
        let r = self.reference()?;
        let top = apply_all(&*r, layers)?;
        let id = self.new_id(&r);
        r.create_writable(&id, top.as_ref())?;
        r.mount(&id)
    }

    /// A writable layer of the driver under test on `top`, mounted on the host.
    fn host_rootfs(&mut self, top: Option<&Digest>) -> crate::Result<(String, PathBuf)> {
        let d = self.driver.clone();
        let id = self.new_id(&d);
        d.create_writable(&id, top)?;
        let root = d.mount(&id)?;
        Ok((id, root))
    }

    /// Entries of the staging directory (empty when nothing was left behind).
    fn staging_left(&self) -> Vec<String> {
        std::fs::read_dir(self.paths().tmp)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Applies `layers` to `d`, base first; returns the top chain ID.
fn apply_all(d: &dyn StorageDriver, layers: &[Vec<u8>]) -> crate::Result<Option<Digest>> {
    let mut parent: Option<Digest> = None;
    for l in layers {
        let info = d.apply_layer(parent.as_ref(), &diff_id(l), &mut &l[..])?;
        parent = Some(info.chain_id);
    }
    Ok(parent)
}

/// Removes the check's root, first unmounting whatever is still mounted below it.
fn clean_up(dir: &Path) -> Result<(), String> {
    for m in crate::driver::mounts_below_for_tests(dir) {
        crate::driver::unmount_for_tests(&m).map_err(|e| e.to_string())?;
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("removing {}: {e}", dir.display()))
        }
        _ => Ok(()),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".to_owned())
}

fn run_check(tmp: &Path, factory: &DriverFactory, check: CheckFn) -> Outcome {
    let dir = tmp.join(fsutil::temp_name("mydocker-suite"));
    let outcome = match std::fs::create_dir_all(&dir) {
        Err(e) => Outcome::Failed(format!("creating {}: {e}", dir.display())),
        Ok(()) => {
            let run = catch_unwind(AssertUnwindSafe(|| {
                let driver = factory(DriverPaths::under(dir.join("driver")))?;
                let mut ctx = Ctx {
                    dir: dir.clone(),
                    driver,
                    reference: None,
                    guards: Vec::new(),
                    next_id: 0,
                };
                // Guards drop (removing writable layers) when `ctx` does, even on a panic.
                check(&mut ctx)
            }));
            match run {
                Ok(Ok(())) => Outcome::Passed,
                Ok(Err(Fail::Failed(m))) => Outcome::Failed(m),
                Ok(Err(Fail::Skipped(m))) => Outcome::Skipped(m),
                Err(p) => Outcome::Failed(panic_message(&*p)),
            }
        }
    };
    match (clean_up(&dir), outcome) {
        (Err(e), Outcome::Passed) => Outcome::Failed(format!("clean-up: {e}")),
        (_, o) => o,
    }
}

/// Runs the conformance suite against the driver `factory` builds, each check in a fresh
/// directory below `tmp` (removed afterwards, mounts included). When the driver is not
/// supported here, every check is skipped with the driver's reason. `filter` selects the
/// checks to run by name.
pub fn driver_suite_in(
    tmp: &Path,
    name: &str,
    factory: &DriverFactory,
    filter: &dyn Fn(&str) -> bool,
) -> SuiteReport {
    let support = probe_support(tmp, factory);
    let results = CHECKS
        .iter()
        .filter(|(check, _)| filter(check))
        .map(|(check, f)| CheckResult {
            name: check,
            outcome: match &support {
                Err(why) => Outcome::Skipped(why.clone()),
                Ok(()) => run_check(tmp, factory, *f),
            },
        })
        .collect();
    SuiteReport {
        driver: name.to_owned(),
        results,
    }
}

fn probe_support(tmp: &Path, factory: &DriverFactory) -> Result<(), String> {
    let dir = tmp.join(fsutil::temp_name("mydocker-suite"));
    let support = factory(DriverPaths::under(dir.join("driver")))
        .map_err(|e| format!("the factory failed: {e}"))
        .and_then(|d| d.supported());
    clean_up(&dir)?;
    support
}

/// [`driver_suite_in`] below [`std::env::temp_dir`], every check.
pub fn driver_suite(name: &str, factory: &DriverFactory) -> SuiteReport {
    driver_suite_in(&std::env::temp_dir(), name, factory, &|_| true)
}

/// Which checks a command line selects, libtest-style: positional filters (a check runs
/// when its `driver::check` name contains one, or equals one with `--exact`), `--skip X`.
struct Selection {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    ignored: bool,
}

impl Selection {
    fn parse(args: impl IntoIterator<Item = String>) -> Selection {
        let mut s = Selection {
            filters: Vec::new(),
            skips: Vec::new(),
            exact: false,
            list: false,
            ignored: false,
        };
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            match a.as_str() {
                "--exact" => s.exact = true,
                "--list" => s.list = true,
                "--ignored" => s.ignored = true,
                "--skip" => s.skips.extend(args.next()),
                "--color" | "--format" | "--test-threads" | "--logfile" | "-Z" => {
                    args.next();
                }
                a if a.starts_with('-') => {}
                _ => s.filters.push(a),
            }
        }
        s
    }

    fn selects(&self, name: &str) -> bool {
        let hit = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        !self.ignored
            && (self.filters.is_empty() || self.filters.iter().any(hit))
            && !self.skips.iter().any(|s| name.contains(s.as_str()))
    }
}

/// The `main` of a `harness = false` test target that runs the suite for `suites` (name,
/// factory), with `args` its command line (without the program name: filters, `--exact`,
/// `--skip X`, `--list`; other libtest flags are accepted and ignored). Writes one
/// libtest-like line per check to `out`, skipped checks with their reason, then a summary;
/// fails when a check failed.
pub fn conformance_main(
    args: impl IntoIterator<Item = String>,
    suites: &[(&str, &DriverFactory)],
    out: &mut dyn Write,
) -> ExitCode {
    let sel = Selection::parse(args);
    if sel.list {
        for (name, _) in suites {
            for (check, _) in CHECKS {
                let _ = writeln!(out, "{name}::{check}: test");
            }
        }
        return ExitCode::SUCCESS;
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let _ = writeln!(out);
    for (name, factory) in suites {
        let filter = |check: &str| sel.selects(&format!("{name}::{check}"));
        let report = driver_suite_in(&std::env::temp_dir(), name, *factory, &filter);
        let _ = write!(out, "{report}");
        let _ = out.flush();
        passed += report.passed();
        failed += report.failed();
        skipped += report.skipped();
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\nconformance result: {verdict}. {passed} passed; {failed} failed; {skipped} skipped\n"
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
