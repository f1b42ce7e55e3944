//! `build`: docker's build flags.

use clap::{ArgAction, Args};

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub(crate) tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; "-" reads it from stdin)
    #[arg(short, long, value_name = "PATH")]
    pub(crate) file: Option<String>,
    /// Set build-time variables (NAME alone takes the value from the environment)
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub(crate) build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    pub(crate) target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Always attempt to pull a newer version of the base images
    #[arg(long)]
    pub(crate) pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Set metadata for an image
    #[arg(long, value_name = "NAME[=VALUE]")]
    pub(crate) label: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "PLATFORM")]
    pub(crate) platform: Option<String>,
    /// Set the networking mode for the RUN instructions during build (bridge, none, host)
    #[arg(long, value_name = "NETWORK", default_value = "default")]
    pub(crate) network: String,
    /// Optional parent cgroup for the RUN containers
    #[arg(long, value_name = "CGROUP")]
    pub(crate) cgroup_parent: Option<String>,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    pub(crate) iidfile: Option<String>,
    /// Remove intermediate containers after a successful build (always done)
    #[arg(long, action = ArgAction::Set, default_value_t = true, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub(crate) rm: bool,
    /// Always remove intermediate containers (always done)
    #[arg(long)]
    pub(crate) force_rm: bool,
    /// Build context: a directory, or "-" for a Dockerfile (or a tar of a context) on stdin
    #[arg(value_name = "PATH|-")]
    pub(crate) context: String,
}
