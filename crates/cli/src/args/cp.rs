//! `cp`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub(crate) archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub(crate) follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// CONTAINER:SRC_PATH, or a host path, or `-` for a tar stream on STDIN
    #[arg(value_name = "SRC", allow_hyphen_values = true)]
    pub(crate) source: String,
    /// CONTAINER:DEST_PATH, or a host path, or `-` for a tar stream on STDOUT
    #[arg(value_name = "DEST", allow_hyphen_values = true)]
    pub(crate) dest: String,
}
