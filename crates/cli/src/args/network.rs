//! `network create|ls|inspect|rm|connect|disconnect|prune`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct NetworkCreateArgs {
    /// Driver to manage the network (only "bridge")
    #[arg(short, long, default_value = "bridge")]
    pub(crate) driver: String,
    /// Subnet in CIDR format
    #[arg(long)]
    pub(crate) subnet: Option<String>,
    /// IPv4 gateway for the subnet
    #[arg(long)]
    pub(crate) gateway: Option<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub(crate) internal: bool,
    /// Set metadata on a network (KEY=VALUE)
    #[arg(long)]
    pub(crate) label: Vec<String>,
    /// Network name
    pub(crate) name: String,
}

#[derive(Debug, Args)]
pub(crate) struct NetworkLsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub(crate) no_trunc: bool,
}

#[derive(Debug, Args)]
pub(crate) struct NetworkInspectArgs {
    /// Format the output using a Go-template-like path
    #[arg(short, long)]
    pub(crate) format: Option<String>,
    /// Networks to inspect
    #[arg(required = true)]
    pub(crate) names: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct NetworkRmArgs {
    /// Networks to remove
    #[arg(required = true)]
    pub(crate) names: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct NetworkConnectArgs {
    /// IPv4 address
    #[arg(long)]
    pub(crate) ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub(crate) alias: Vec<String>,
    /// Network
    pub(crate) network: String,
    /// Container
    pub(crate) container: String,
}

#[derive(Debug, Args)]
pub(crate) struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    pub(crate) force: bool,
    /// Network
    pub(crate) network: String,
    /// Container
    pub(crate) container: String,
}

#[derive(Debug, Args)]
pub(crate) struct PruneForceArgs {
    /// Do not prompt for confirmation (mydocker never prompts)
    #[arg(short, long)]
    pub(crate) force: bool,
}
