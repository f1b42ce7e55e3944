//! [`EngineConfig`]: everything the engine needs to know about where and how it works,
//! given by the caller (the CLI merges flags, environment and `ROOT/config.json`), and
//! [`Engine`], the handle every operation takes.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the engine keeps its state and how it reaches registries and networks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Persistent state: images, layers, containers, networks (`/var/lib/mydocker`).
    pub root: PathBuf,
    /// State that vanishes on reboot (`/run/mydocker`).
    pub run_root: PathBuf,
    /// A storage driver forced by name; `None` picks the first this kernel supports.
    pub storage_driver: Option<String>,
    /// Registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Docker's `config.json` with registry credentials (`None`: anonymous only).
    pub docker_config: Option<PathBuf>,
    /// Network names and addresses.
    pub network: NetworkSettings,
    /// Whether [`Reporter::debug`] lines are wanted (they cost formatting).
    pub debug: bool,
}

/// Network settings; `None` keeps the network library's default. Keys are kebab-case
/// (`default-subnet`), as in `ROOT/config.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkSettings {
    /// Linux bridge of the default network (`mydocker0`).
    pub default_bridge: Option<String>,
    /// Subnet of the default network (`172.18.0.0/16`).
    pub default_subnet: Option<String>,
    /// The nftables table of NAT and filter rules (`mydocker`).
    pub nft_table: Option<String>,
    /// Prefix of user networks' bridges (`br-`).
    pub bridge_prefix: Option<String>,
    /// Whether creating a non-internal network may turn on `net.ipv4.ip_forward`.
    pub manage_ip_forward: Option<bool>,
}

/// Where the engine's warnings and debug lines go: the engine never prints.
pub trait Reporter: Send + Sync {
    /// Something the user should know (docker's `WARNING:` lines).
    fn warn(&self, msg: &str);
    /// A detail for `--log-level debug`.
    fn debug(&self, msg: &str) {
        let _ = msg;
    }
}

/// A reporter that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn warn(&self, _msg: &str) {}
}

/// The engine: its configuration and where it reports. Cheap to clone; every operation
/// takes the locks it needs, so engines in several processes work on one root at once.
#[derive(Clone)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) reporter: Arc<dyn Reporter>,
    /// Where the phases of a traced operation go (`debug` on), see [`Engine::phases`].
    pub(crate) trace: Option<Arc<crate::trace::Trace>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `config`, reporting to `reporter`.
    ///
    /// # Errors
    /// A forced storage driver this kernel cannot use (as dockerd refuses to start with
    /// one), or a store that cannot be opened.
    pub fn new(config: EngineConfig, reporter: Arc<dyn Reporter>) -> Result<Self> {
        let trace = config
            .debug
            .then(|| Arc::new(crate::trace::Trace::default()));
        let engine = Engine {
            config,
            reporter,
            trace,
        };
        if engine.config.storage_driver.is_some() {
            engine.driver(&engine.store()?)?;
        }
        Ok(engine)
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Reports a warning.
    pub fn warn(&self, msg: impl std::fmt::Display) {
        self.reporter.warn(&msg.to_string());
    }

    /// Notes that phase `name` of the current operation ended now (with `debug` on).
    pub(crate) fn mark(&self, name: &str) {
        if let Some(t) = &self.trace {
            t.mark(name);
        }
    }

    /// Adds the init's own phases (see [`isolate::SpawnOptions::trace`]).
    pub(crate) fn mark_all(&self, phases: &[isolate::Phase]) {
        if let Some(t) = &self.trace {
            t.extend(phases);
        }
    }

    /// Whether phases are being recorded.
    pub(crate) fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// With `debug` on, the phases recorded so far (and forgets them): where the time
    /// of an operation went, for `--log-level debug`'s phase table. Each phase lasts
    /// from the end of the one before (the first from the engine's creation).
    pub fn phases(&self) -> Vec<crate::trace::PhaseTime> {
        self.trace.as_ref().map(|t| t.take()).unwrap_or_default()
    }

    /// Reports a debug line (formatted only when wanted).
    pub fn debug(&self, msg: impl std::fmt::Display) {
        if self.config.debug {
            self.reporter.debug(&msg.to_string());
        }
    }

    /// Opens the store under the root directory (creating it on first use).
    ///
    /// # Errors
    /// The root cannot be created or read.
    pub fn store(&self) -> Result<store::Store> {
        store::Store::open(&self.config.root).map_err(|e| {
            Error::from(e).context(format!(
                "opening the store at {}",
                self.config.root.display()
            ))
        })
    }

    /// The storage driver: the forced one (an error when this kernel cannot use it), else
    /// the first of overlay, aufs, copy that works here.
    ///
    /// # Errors
    /// No usable driver.
    pub fn driver(&self, store: &store::Store) -> Result<Arc<dyn store::driver::StorageDriver>> {
        Ok(store::driver::choose(
            store,
            self.config.storage_driver.as_deref(),
        )?)
    }

    /// The storage driver called `name` (the one a container was created with).
    ///
    /// # Errors
    /// An unknown name.
    pub fn driver_named(
        &self,
        store: &store::Store,
        name: &str,
    ) -> Result<Arc<dyn store::driver::StorageDriver>> {
        Ok(store::driver::by_name(store, name)?)
    }

    /// The name of the storage driver in use (empty when none works).
    pub fn driver_name(&self) -> String {
        self.store()
            .and_then(|s| self.driver(&s))
            .map(|d| d.name().to_owned())
            .unwrap_or_default()
    }

    /// The network manager, configured from the settings.
    ///
    /// # Errors
    /// An invalid setting.
    pub fn networks(&self) -> Result<network::Networks> {
        let n = &self.config.network;
        let mut config = network::Config::new(self.config.root.join("networks"));
        if let Some(b) = &n.default_bridge {
            config.default_bridge = b.clone();
        }
        if let Some(s) = &n.default_subnet {
            config.default_subnet = s
                .parse()
                .map_err(|e| Error::Invalid(format!("invalid default subnet {s:?}: {e}")))?;
        }
        if let Some(t) = &n.nft_table {
            config.nft_table = t.clone();
        }
        if let Some(p) = &n.bridge_prefix {
            config.bridge_prefix = p.clone();
        }
        if let Some(m) = n.manage_ip_forward {
            config.manage_ip_forward = m;
        }
        Ok(network::Networks::new(config)?)
    }

    /// A registry client with the engine's insecure registries and credentials.
    ///
    /// # Errors
    /// An unreadable credentials file.
    pub fn registry_client(&self) -> Result<registry::Client> {
        let credentials = match &self.config.docker_config {
            Some(p) => registry::CredentialSource::DockerConfigFile(p.clone()),
            None => registry::CredentialSource::None,
        };
        Ok(registry::Client::new(registry::ClientConfig {
            insecure_registries: self.config.insecure_registries.clone(),
            credentials,
            ..registry::ClientConfig::default()
        })?)
    }
}
