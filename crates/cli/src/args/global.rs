//! Global options and the log level.

use clap::{ArgAction, Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct GlobalOpts {
    /// Root directory of persistent state (images, layers, containers)
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_ROOT",
        default_value = "/var/lib/mydocker",
        value_name = "DIR"
    )]
    pub(crate) root: PathBuf,

    /// Directory of runtime state that vanishes on reboot [default: /run/mydocker, or
    /// ROOT/run when --root is given]
    #[arg(long, global = true, env = "MYDOCKER_RUN_ROOT", value_name = "DIR")]
    pub(crate) run_root: Option<PathBuf>,

    /// Storage driver to use (overlay, aufs, copy) [default: the first one this kernel supports]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_STORAGE_DRIVER",
        value_name = "NAME"
    )]
    pub(crate) storage_driver: Option<String>,

    /// Registry host[:port] to reach over plain HTTP (repeatable)
    #[arg(
        long = "insecure-registry",
        global = true,
        env = "MYDOCKER_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub(crate) insecure_registries: Vec<String>,

    /// Linux bridge of the default network [default: mydocker0]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_DEFAULT_BRIDGE",
        value_name = "NAME"
    )]
    pub(crate) default_bridge: Option<String>,

    /// Subnet of the default network [default: 172.18.0.0/16]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_DEFAULT_SUBNET",
        value_name = "CIDR"
    )]
    pub(crate) default_subnet: Option<String>,

    /// nftables table holding mydocker's NAT and filter rules [default: mydocker]
    #[arg(long, global = true, env = "MYDOCKER_NFT_TABLE", value_name = "NAME")]
    pub(crate) nft_table: Option<String>,

    /// Prefix of user networks' bridge names (at most 3 characters) [default: br-]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_BRIDGE_PREFIX",
        value_name = "PREFIX"
    )]
    pub(crate) bridge_prefix: Option<String>,

    /// Set the logging level
    #[arg(short = 'l', long, value_enum, default_value_t = LogLevel::Info)]
    pub(crate) log_level: LogLevel,

    /// Print version information and quit
    #[arg(short = 'v', long, action = ArgAction::Version)]
    version: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}
