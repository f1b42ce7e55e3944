//! What every command needs: the engine, configured from the global options, the
//! environment and `ROOT/config.json`, and where its warnings go.

use crate::args::{GlobalOpts, LogLevel};
use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;

/// Prints the engine's warnings and debug lines on stderr, as the log level allows.
#[derive(Debug)]
struct Stderr(LogLevel);

impl engine::Reporter for Stderr {
    fn warn(&self, msg: &str) {
        if self.0 <= LogLevel::Warn {
            eprintln!("WARNING: {msg}");
        }
    }

    fn debug(&self, msg: &str) {
        if self.0 <= LogLevel::Debug {
            eprintln!("DEBU: {msg}");
        }
    }
}

/// `ROOT/config.json`, like docker's daemon.json: settings that apply to every command.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    #[serde(flatten)]
    net: engine::NetworkSettings,
    #[serde(default)]
    insecure_registries: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) engine: engine::Engine,
}

impl Ctx {
    pub(crate) fn new(g: &GlobalOpts) -> Result<Self> {
        let root = std::path::absolute(&g.root)?;
        let run_root = match &g.run_root {
            Some(dir) => std::path::absolute(dir)?,
            None if root == std::path::Path::new("/var/lib/mydocker") => "/run/mydocker".into(),
            // A private root gets private runtime state, so test roots never share it.
            None => root.join("run"),
        };
        let file: FileConfig = match std::fs::read(root.join("config.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", root.join("config.json").display()))?,
            Err(_) => FileConfig::default(),
        };
        let network = engine::NetworkSettings {
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
        let config = engine::EngineConfig {
            root,
            run_root,
            storage_driver: g.storage_driver.clone().filter(|s| !s.is_empty()),
            insecure_registries,
            docker_config: registry::DockerConfig::default_path().ok(),
            network,
            debug: g.log_level <= LogLevel::Debug,
        };
        let engine = engine::Engine::new(config, Arc::new(Stderr(g.log_level)))?;
        Ok(Ctx { engine })
    }

    /// The root directory.
    pub(crate) fn root(&self) -> &PathBuf {
        &self.engine.config().root
    }

    /// With `--log-level debug`: where the time of the command went, one line per
    /// phase (its end since the start of the command, and its own duration).
    pub(crate) fn print_phases(&self) {
        let phases = self.engine.phases();
        if phases.is_empty() {
            return;
        }
        eprintln!("DEBU: {:>9} {:>9}  phase", "at ms", "took ms");
        for p in phases {
            eprintln!("DEBU: {:>9.2} {:>9.2}  {}", p.at_ms, p.took_ms, p.name);
        }
    }

    /// Prints a warning on stderr unless the log level hides it.
    pub(crate) fn warn(&self, msg: impl std::fmt::Display) {
        self.engine.warn(msg);
    }
}
