//! `pull`, `push`, `images`, `rmi`, `tag`, `image prune`, `login`, `logout`.

use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// Pull for this platform (os/arch[/variant]) instead of the host's
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Image to pull: NAME[:TAG|@DIGEST]
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub(crate) image: String,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Image to push: NAME[:TAG]
    #[arg(value_name = "NAME[:TAG]")]
    pub(crate) image: String,
}

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Show all images (default hides intermediate images of builds)
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Show digests
    #[arg(long)]
    pub(crate) digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Filter output based on conditions provided (reference=, dangling=, label=,
    /// before=, since=)
    #[arg(short, long, value_name = "FILTER")]
    pub(crate) filter: Vec<String>,
    /// Format output using a Go template, `table`, `table TEMPLATE` or `json`
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub(crate) repository: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmiArgs {
    /// Force removal of the image, even if a container uses it
    #[arg(short, long)]
    pub(crate) force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub(crate) no_prune: bool,
    /// Images to remove: NAME[:TAG], ID or ID prefix
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Remove all unused images, not just untagged ones
    #[arg(short, long)]
    pub(crate) all: bool,
    /// Do not prompt for confirmation (mydocker never prompts)
    #[arg(short, long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub(crate) source: String,
    /// TARGET_IMAGE[:TAG]
    pub(crate) target: String,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub(crate) username: Option<String>,
    /// Password (prefer --password-stdin)
    #[arg(short, long)]
    pub(crate) password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// Registry server [default: docker.io]
    pub(crate) server: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// Registry server [default: docker.io]
    pub(crate) server: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub(crate) human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Format output using a Go template, `table`, `table TEMPLATE` or `json`
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// The image: NAME[:TAG], ID or ID prefix
    #[arg(value_name = "IMAGE")]
    pub(crate) image: String,
}
