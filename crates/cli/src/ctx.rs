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
    pub(crate) net: NetOpts,
}

/// Network settings from flags, environment or `ROOT/config.json`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct NetOpts {
    pub(crate) default_bridge: Option<String>,
    pub(crate) default_subnet: Option<String>,
    pub(crate) nft_table: Option<String>,
    pub(crate) bridge_prefix: Option<String>,
    /// Whether creating a non-internal network may turn on `net.ipv4.ip_forward` (as
    /// docker does); tests that must not change the host's sysctls turn it off.
    pub(crate) manage_ip_forward: Option<bool>,
}

/// `ROOT/config.json`, like docker's daemon.json: settings that apply to every command.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    #[serde(flatten)]
    net: NetOpts,
    #[serde(default)]
    insecure_registries: Vec<String>,
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
        let file: FileConfig = match std::fs::read(root.join("config.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", root.join("config.json").display()))?,
            Err(_) => FileConfig::default(),
        };
        let net = NetOpts {
            default_bridge: g.default_bridge.clone().or(file.net.default_bridge),
            default_subnet: g.default_subnet.clone().or(file.net.default_subnet),
            nft_table: g.nft_table.clone().or(file.net.nft_table),
            bridge_prefix: g.bridge_prefix.clone().or(file.net.bridge_prefix),
            manage_ip_forward: match std::env::var("MYDOCKER_MANAGE_IP_FORWARD").as_deref() {
                Ok("0" | "false") => Some(false),
                Ok("1" | "true") => Some(true),
                _ => file.net.manage_ip_forward,
            },
        };
        let mut insecure_registries = g.insecure_registries.clone();
        insecure_registries.extend(file.insecure_registries);
        let storage_driver = g.storage_driver.clone().filter(|s| !s.is_empty());
        if let Some(name) = &storage_driver {
            // As dockerd refuses to start with a driver the kernel cannot use, so does every
            // command here: an unsupported forced driver is an error up front.
            let store = store::Store::open(&root)
                .map_err(|e| anyhow::anyhow!("opening the store at {}: {e}", root.display()))?;
            store::driver::choose(&store, Some(name))?;
        }
        Ok(Ctx {
            net,
            root,
            run_root,
            storage_driver,
            insecure_registries,
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

    /// The network manager, configured from the global settings.
    pub(crate) fn networks(&self) -> Result<network::Networks> {
        let mut config = network::Config::new(self.root.join("networks"));
        if let Some(b) = &self.net.default_bridge {
            config.default_bridge = b.clone();
        }
        if let Some(s) = &self.net.default_subnet {
            config.default_subnet = s
                .parse()
                .map_err(|e| anyhow::anyhow!("invalid default subnet {s:?}: {e}"))?;
        }
        if let Some(t) = &self.net.nft_table {
            config.nft_table = t.clone();
        }
        if let Some(p) = &self.net.bridge_prefix {
            config.bridge_prefix = p.clone();
        }
        if let Some(m) = self.net.manage_ip_forward {
            config.manage_ip_forward = m;
        }
        Ok(network::Networks::new(config)?)
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
