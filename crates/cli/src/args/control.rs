//! `start`, `stop`, `restart`, `kill`, `wait`, `pause`, `unpause`, `rename`, `rm`,
//! `container prune`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub(crate) attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Containers to start
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// Seconds to wait before killing the container [default: 10]
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    pub(crate) time: Option<i64>,
    /// Signal to send to the container [default: SIGTERM]
    #[arg(short, long)]
    pub(crate) signal: Option<String>,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub(crate) signal: String,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ContainersArgs {
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    /// The container
    pub(crate) container: String,
    /// Its new name
    pub(crate) new_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub(crate) force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub(crate) volumes: bool,
    /// Remove the specified link (accepted for compatibility)
    #[arg(long)]
    pub(crate) link: bool,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ContainerPruneArgs {
    /// Do not prompt for confirmation (mydocker never prompts)
    #[arg(short, long)]
    pub(crate) force: bool,
}
