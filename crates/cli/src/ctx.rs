//! What every command needs: resolved global options and logging.

use crate::cli::{GlobalOpts, LogLevel};
use anyhow::Result;
use std::path::PathBuf;

#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) root: PathBuf,
    pub(crate) run_root: PathBuf,
    pub(crate) storage_driver: Option<String>,
    pub(crate) insecure_registries: Vec<String>,
    pub(crate) log_level: LogLevel,
}

impl Ctx {
    pub(crate) fn new(g: &GlobalOpts) -> Result<Self> {
        let root = absolute(&g.root)?;
        let run_root = match &g.run_root {
            Some(dir) => absolute(dir)?,
            None if root == std::path::Path::new("/var/lib/mydocker") => "/run/mydocker".into(),
            // A private root gets private runtime state, so test roots never share it.
            None => root.join("run"),
        };
        Ok(Ctx {
            root,
            run_root,
            storage_driver: g.storage_driver.clone().filter(|s| !s.is_empty()),
            insecure_registries: g.insecure_registries.clone(),
            log_level: g.log_level,
        })
    }

    /// Opens the store under the root directory (creating it on first use).
    pub(crate) fn store(&self) -> Result<store::Store> {
        store::Store::open(&self.root)
            .map_err(|e| anyhow::anyhow!("opening the store at {}: {e}", self.root.display()))
    }

    /// The storage driver: `--storage-driver` when given (an error when this kernel cannot
    /// use it), else the first of overlay, aufs, copy that works here.
    pub(crate) fn driver(
        &self,
        store: &store::Store,
    ) -> Result<std::sync::Arc<dyn store::driver::StorageDriver>> {
        Ok(store::driver::choose(
            store,
            self.storage_driver.as_deref(),
        )?)
    }

    /// The name of the storage driver in use (empty when none works).
    pub(crate) fn driver_name(&self) -> String {
        self.store()
            .and_then(|s| self.driver(&s))
            .map(|d| d.name().to_owned())
            .unwrap_or_default()
    }

    /// Prints a warning on stderr unless the log level hides it.
    pub(crate) fn warn(&self, msg: impl std::fmt::Display) {
        if self.log_level <= LogLevel::Warn {
            eprintln!("WARNING: {msg}");
        }
    }

    /// Prints a debug line on stderr with `--log-level debug`.
    pub(crate) fn debug(&self, msg: impl std::fmt::Display) {
        if self.log_level <= LogLevel::Debug {
            eprintln!("DEBU: {msg}");
        }
    }
}

fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    Ok(std::path::absolute(p)?)
}
