//! `attach`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long, value_name = "KEYS")]
    pub(crate) detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long)]
    pub(crate) no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub(crate) sig_proxy: bool,
    /// The container
    pub(crate) container: String,
}
