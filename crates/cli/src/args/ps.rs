//! `ps` and `port`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Filter output based on conditions provided (status=, name=, id=, exited=, ancestor=,
    /// network=, label=KEY[=VALUE], volume=)
    #[arg(short, long, value_name = "FILTER")]
    pub(crate) filter: Vec<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) last: Option<i64>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub(crate) latest: bool,
    /// Display total file sizes (accepted for compatibility)
    #[arg(short, long)]
    pub(crate) size: bool,
    /// Format output using a Go-template-like format ('table {{.ID}}\t{{.Names}}', 'json')
    #[arg(long)]
    pub(crate) format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PortArgs {
    /// The container
    pub(crate) container: String,
    /// PRIVATE_PORT[/PROTO]
    pub(crate) port: Option<String>,
}
