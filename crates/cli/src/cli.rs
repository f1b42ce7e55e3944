//! The command line: clap structures only. Doc comments are the help text; behaviour is in
//! `cmd/`.

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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

#[derive(Debug, Args)]
pub(crate) struct GlobalOpts {
    /// Root directory of persistent state (images, layers, containers)
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_ROOT",
        default_value = "/var/lib/mydocker",
        value_name = "DIR"
    )]
    pub(crate) root: PathBuf,

    /// Directory of runtime state that vanishes on reboot [default: /run/mydocker, or
    /// ROOT/run when --root is given]
    #[arg(long, global = true, env = "MYDOCKER_RUN_ROOT", value_name = "DIR")]
    pub(crate) run_root: Option<PathBuf>,

    /// Storage driver to use (overlay, aufs, copy) [default: the first one this kernel supports]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_STORAGE_DRIVER",
        value_name = "NAME"
    )]
    pub(crate) storage_driver: Option<String>,

    /// Registry host[:port] to reach over plain HTTP (repeatable)
    #[arg(
        long = "insecure-registry",
        global = true,
        env = "MYDOCKER_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub(crate) insecure_registries: Vec<String>,

    /// Linux bridge of the default network [default: mydocker0]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_DEFAULT_BRIDGE",
        value_name = "NAME"
    )]
    pub(crate) default_bridge: Option<String>,

    /// Subnet of the default network [default: 172.18.0.0/16]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_DEFAULT_SUBNET",
        value_name = "CIDR"
    )]
    pub(crate) default_subnet: Option<String>,

    /// nftables table holding mydocker's NAT and filter rules [default: mydocker]
    #[arg(long, global = true, env = "MYDOCKER_NFT_TABLE", value_name = "NAME")]
    pub(crate) nft_table: Option<String>,

    /// Prefix of user networks' bridge names (at most 3 characters) [default: br-]
    #[arg(
        long,
        global = true,
        env = "MYDOCKER_BRIDGE_PREFIX",
        value_name = "PREFIX"
    )]
    pub(crate) bridge_prefix: Option<String>,

    /// Set the logging level
    #[arg(short = 'l', long, global = true, value_enum, default_value_t = LogLevel::Info)]
    pub(crate) log_level: LogLevel,

    /// Print version information and quit
    #[arg(short = 'v', long, action = ArgAction::Version)]
    version: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
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
    Info,
    /// Show the mydocker version information
    Version,
    /// Manage mydocker
    #[command(subcommand)]
    System(SystemCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Create a new container
    Create(Box<RunArgs>),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
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
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// The monitor of a detached container (internal)
    #[command(hide = true)]
    Monitor(MonitorArgs),
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
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
}

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
    /// Filter output based on conditions provided (status=, name=, id=, exited=, ancestor=)
    #[arg(short, long, value_name = "FILTER")]
    pub(crate) filter: Vec<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) last: Option<i64>,
    /// Show the latest created container (includes all states). (docker's `-l` is the
    /// global --log-level here.)
    #[arg(long)]
    pub(crate) latest: bool,
    /// Display total file sizes (accepted for compatibility)
    #[arg(short, long)]
    pub(crate) size: bool,
    /// Format output using a Go-template-like format ('table {{.ID}}\t{{.Names}}', 'json')
    #[arg(long)]
    pub(crate) format: Option<String>,
}

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

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub(crate) attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Containers to start
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// Seconds to wait before killing the container [default: 10]
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    pub(crate) time: Option<i64>,
    /// Signal to send to the container [default: SIGTERM]
    #[arg(short, long)]
    pub(crate) signal: Option<String>,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub(crate) signal: String,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ContainersArgs {
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    /// The container
    pub(crate) container: String,
    /// Its new name
    pub(crate) new_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub(crate) force: bool,
    /// Remove anonymous volumes associated with the container (there are none)
    #[arg(short, long)]
    pub(crate) volumes: bool,
    /// Remove the specified link (accepted for compatibility)
    #[arg(long)]
    pub(crate) link: bool,
    /// Containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub(crate) containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ContainerPruneArgs {
    /// Do not prompt for confirmation (mydocker never prompts)
    #[arg(short, long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InspectAnyArgs {
    /// Format the output using a Go-template-like path, e.g. '{{.State.Pid}}'
    #[arg(short, long)]
    pub(crate) format: Option<String>,
    /// Return JSON for the specified type only (container, image)
    #[arg(long = "type", value_name = "TYPE")]
    pub(crate) kind: Option<String>,
    /// Display total file sizes (accepted for compatibility)
    #[arg(short, long)]
    pub(crate) size: bool,
    /// Containers or images
    #[arg(required = true, value_name = "NAME|ID")]
    pub(crate) names: Vec<String>,
}

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

#[derive(Debug, Args)]
pub(crate) struct PortArgs {
    /// The container
    pub(crate) container: String,
    /// PRIVATE_PORT[/PROTO]
    pub(crate) port: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The container's full ID
    pub(crate) id: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
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
    Info,
}

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
    /// Show all images (accepted for compatibility; there are no intermediate images)
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
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub(crate) repository: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmiArgs {
    /// Force removal of the image, even if a container uses it
    #[arg(short, long)]
    pub(crate) force: bool,
    /// Do not delete untagged parents (accepted for compatibility)
    #[arg(long)]
    pub(crate) no_prune: bool,
    /// Images to remove: NAME[:TAG], ID or ID prefix
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format the output using a Go-template-like path, e.g. '{{.Id}}'
    #[arg(short, long)]
    pub(crate) format: Option<String>,
    /// Images to inspect
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) names: Vec<String>,
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

#[derive(Debug, Args, serde::Serialize)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub(crate) struct RunArgs {
    /// Print help (`-h` is --hostname, as in docker)
    #[arg(long, action = ArgAction::Help)]
    #[serde(skip)]
    help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub(crate) detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub(crate) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub(crate) tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub(crate) rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub(crate) name: Option<String>,
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
    /// Container host name
    #[arg(long, short = 'h')]
    pub(crate) hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) entrypoint: Option<String>,
    /// Bind mount a volume (HOST:CONTAINER[:ro])
    #[arg(short, long = "volume", value_name = "HOST:CONTAINER[:OPTS]")]
    pub(crate) volume: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Mount a tmpfs directory (PATH[:OPTS])
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub(crate) tmpfs: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub(crate) init: bool,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    pub(crate) cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "INT")]
    pub(crate) cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "CPUS")]
    pub(crate) cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1)
    #[arg(long, value_name = "MEMS")]
    pub(crate) cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short, long, value_name = "BYTES")]
    pub(crate) memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub(crate) memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) pids_limit: Option<i64>,
    /// Optional parent cgroup for the container [default: mydocker]
    #[arg(long, env = "MYDOCKER_CGROUP_PARENT", value_name = "PATH")]
    pub(crate) cgroup_parent: Option<String>,
    /// Add Linux capabilities
    #[arg(long, value_name = "CAP")]
    pub(crate) cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long, value_name = "CAP")]
    pub(crate) cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub(crate) privileged: bool,
    /// Security options (seccomp=unconfined|PROFILE.json, no-new-privileges)
    #[arg(long, value_name = "OPT")]
    pub(crate) security_opt: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD])
    #[arg(long, value_name = "ULIMIT")]
    pub(crate) ulimit: Vec<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing", value_name = "POLICY")]
    pub(crate) pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// Connect a container to a network (bridge, none, host, NAME)
    #[arg(long, alias = "net", value_name = "NETWORK")]
    pub(crate) network: Option<String>,
    /// IPv4 address (e.g. 172.30.100.104) on a user network
    #[arg(long, value_name = "IP")]
    pub(crate) ip: Option<String>,
    /// Add a network-scoped alias for the container
    #[arg(long, value_name = "ALIAS")]
    pub(crate) network_alias: Vec<String>,
    /// Publish a container's port(s) to the host ([HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO])
    #[arg(short, long, value_name = "PORTS")]
    pub(crate) publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long)]
    pub(crate) publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "PORT")]
    pub(crate) expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "IP")]
    pub(crate) dns: Vec<String>,
    /// Set DNS search domains
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long, value_name = "OPT")]
    pub(crate) dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long, value_name = "HOST:IP")]
    pub(crate) add_host: Vec<String>,
    /// Logging driver for the container: json-file, or none to keep no log
    #[arg(long, default_value = "json-file", value_name = "DRIVER")]
    pub(crate) log_driver: String,
    /// Log driver options (max-size=10m, max-file=3)
    #[arg(long, value_name = "OPT")]
    pub(crate) log_opt: Vec<String>,
    /// Suppress the pull output
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Image to run
    #[arg(value_name = "IMAGE")]
    pub(crate) image: String,
    /// Command and arguments
    #[arg(value_name = "COMMAND", allow_hyphen_values = true)]
    pub(crate) command: Vec<String>,
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

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub(crate) source: String,
    /// TARGET_IMAGE[:TAG]
    pub(crate) target: String,
}

#[derive(Debug, Args)]
pub(crate) struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub(crate) author: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE,
    /// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub(crate) change: Vec<String>,
    /// Commit message
    #[arg(short, long)]
    pub(crate) message: Option<String>,
    /// Pause container during commit
    #[arg(
        short,
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub(crate) pause: bool,
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
    /// Name of the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub(crate) repository: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// The container: name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub(crate) container: String,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub(crate) change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub(crate) message: Option<String>,
    /// Set platform (os/arch[/variant]) of the image [default: the host's]
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// The tar archive (plain, gzip or zstd) of a filesystem, or `-` for STDIN
    #[arg(value_name = "file|-")]
    pub(crate) file: String,
    /// Name of the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub(crate) repository: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Images to save: NAME[:TAG] (a NAME without tag saves all its tags), ID or ID prefix
    #[arg(required = true, value_name = "IMAGE")]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub(crate) input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub(crate) quiet: bool,
}
