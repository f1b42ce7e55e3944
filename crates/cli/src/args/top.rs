//! `top` and `stats`.

use clap::Args;

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub(crate) struct TopArgs {
    /// The container
    pub(crate) container: String,
    /// ps options (accepted and ignored: the columns are ps -ef's)
    #[arg(allow_hyphen_values = true)]
    pub(crate) ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub(crate) no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Format output using a Go-template-like format
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// Containers (default: every running one)
    #[arg(value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}
