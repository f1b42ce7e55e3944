//! The command line: clap structures only, one file per command family (the handlers in
//! `cmd/` have the same names). Doc comments are the help text.

use clap::{Args, Parser, Subcommand};

mod archive;
mod attach;
mod build;
mod control;
mod cp;
mod exec;
mod global;
mod images;
mod inspect;
mod logs;
mod network;
mod ps;
mod run;
mod run_extra;
mod run_more;
mod run_policy;
mod top;
mod update;
mod volume;

pub(crate) use archive::*;
pub(crate) use attach::*;
pub(crate) use build::*;
pub(crate) use control::*;
pub(crate) use cp::*;
pub(crate) use exec::*;
pub(crate) use global::*;
pub(crate) use images::*;
pub(crate) use inspect::*;
pub(crate) use logs::*;
pub(crate) use network::*;
pub(crate) use ps::*;
pub(crate) use run::*;
pub(crate) use run_extra::*;
pub(crate) use run_more::*;
pub(crate) use run_policy::*;
pub(crate) use top::*;
pub(crate) use update::*;
pub(crate) use volume::*;

/// A daemonless, Docker-compatible container tool.
#[derive(Debug, Parser)]
#[command(
    name = "mydocker",
    version,
    disable_version_flag = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalOpts,
    #[command(subcommand)]
    pub(crate) command: Command,
}

// Deferred: only the subcommand being run builds its arguments (building all of them,
// the `run` flags thrice, was most of the CLI's start-up).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub(crate) enum Command {
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Show the mydocker version information
    Version(FormatArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Manage mydocker
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Create a new container
    Create(Box<RunArgs>),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Return low-level information on containers or images
    Inspect(InspectAnyArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Start the containers a reboot stopped whose restart policy brings them back
    /// (for a boot unit: docker's daemon does this when it starts)
    Boot,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create a new container
    Create(Box<RunArgs>),
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectAnyArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(Box<BuildArgs>),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove unused images and layers
    Prune(PruneArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SystemCommand {
    /// Show mydocker disk usage
    Df,
    /// Display system-wide information
    Info(FormatArgs),
}

// `--format` of `info` and `version` (no doc comment: with deferred subcommands, it
// would replace their `about`).
#[derive(Debug, Args)]
pub(crate) struct FormatArgs {
    /// Format the output using the given Go template (or `json`)
    #[arg(short, long, value_name = "TEMPLATE")]
    pub(crate) format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NetworkCommand {
    /// Create a network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Remove all unused networks
    Prune(PruneForceArgs),
}
