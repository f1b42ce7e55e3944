//! `logs`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub(crate) follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub(crate) tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub(crate) timestamps: bool,
    /// Show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<String>,
    /// Show logs before a timestamp (2013-01-02T13:23:37Z) or relative (42m)
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,
    /// Show extra details (accepted for compatibility)
    #[arg(long)]
    pub(crate) details: bool,
    /// The container
    pub(crate) container: String,
}
