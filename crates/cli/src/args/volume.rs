//! `volume create/ls/inspect/rm/prune`.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
}

#[derive(Debug, Args)]
pub(crate) struct VolumeCreateArgs {
    /// Specify volume driver name (only `local`)
    #[arg(short, long, default_value = "local")]
    pub(crate) driver: String,
    /// Set metadata for a volume (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) label: Vec<String>,
    /// Set driver specific options (kept and shown)
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub(crate) opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "NAME")]
    pub(crate) name_flag: Option<String>,
    /// The volume's name (a random one when omitted)
    #[arg(value_name = "VOLUME")]
    pub(crate) name: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Provide filter values (dangling=true|false, driver=, label=KEY[=VALUE], name=)
    #[arg(short, long, value_name = "FILTER")]
    pub(crate) filter: Vec<String>,
    /// Format output using a Go template, `table` or `json`
    #[arg(long)]
    pub(crate) format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct VolumeInspectArgs {
    /// Format output using a Go template
    #[arg(short, long)]
    pub(crate) format: Option<String>,
    /// Volumes
    #[arg(required = true, value_name = "VOLUME")]
    pub(crate) volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct VolumeRmArgs {
    /// Force the removal of one or more volumes (a missing one is no error)
    #[arg(short, long)]
    pub(crate) force: bool,
    /// Volumes
    #[arg(required = true, value_name = "VOLUME")]
    pub(crate) volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Provide filter values (label=KEY[=VALUE])
    #[arg(long, value_name = "FILTER")]
    pub(crate) filter: Vec<String>,
    /// Do not prompt for confirmation (mydocker never prompts)
    #[arg(short, long)]
    pub(crate) force: bool,
}
