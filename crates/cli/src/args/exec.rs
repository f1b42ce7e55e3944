//! `exec`.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(trailing_var_arg = true)]
pub(crate) struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub(crate) detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub(crate) tty: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "NAME=VALUE")]
    pub(crate) env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long, value_name = "FILE")]
    pub(crate) env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub(crate) workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub(crate) user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub(crate) privileged: bool,
    /// The container
    pub(crate) container: String,
    /// Command and arguments
    #[arg(required = true, value_name = "COMMAND", allow_hyphen_values = true)]
    pub(crate) command: Vec<String>,
}
