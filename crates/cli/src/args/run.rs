//! `run` and `create`: docker's run flags, and the typed options they make.

use anyhow::{Context, Result, bail};
use clap::{ArgAction, Args};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(trailing_var_arg = true, disable_help_flag = true)]
pub(crate) struct RunArgs {
    /// Print help (`-h` is --hostname, as in docker)
    #[arg(long, action = ArgAction::Help)]
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
    #[command(flatten)]
    pub(crate) extra: super::RunExtraArgs,
    #[command(flatten)]
    pub(crate) policy: super::RunPolicyArgs,
    #[command(flatten)]
    pub(crate) more: super::RunMoreArgs,
    /// Image to run
    #[arg(value_name = "IMAGE")]
    pub(crate) image: String,
    /// Command and arguments
    #[arg(value_name = "COMMAND", allow_hyphen_values = true)]
    pub(crate) command: Vec<String>,
}

impl RunArgs {
    /// The typed options of the engine. `-e NAME` without a value and `--env-file` lines
    /// without one take the value from this process's environment, as docker does.
    pub(crate) fn to_options(&self) -> Result<engine::CreateOptions> {
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(env_file(f)?);
        }
        for e in &self.env {
            env.extend(env_arg(e)?);
        }
        let online_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let bytes = |v: &Option<String>| -> Result<Option<i64>> {
            Ok(match v.as_deref() {
                None => None,
                Some("-1") => Some(-1),
                Some(s) => Some(engine::options::ram_in_bytes(s)?),
            })
        };
        let mut opts = engine::CreateOptions {
            image: self.image.clone(),
            command: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            name: self.name.clone(),
            hostname: self.hostname.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            tty: self.tty,
            interactive: self.interactive,
            detach: self.detach,
            rm: self.rm,
            init: self.init,
            read_only: self.read_only,
            privileged: self.privileged,
            volume: self.volume.clone(),
            tmpfs: self.tmpfs.clone(),
            cpus: self
                .cpus
                .as_deref()
                .map(|c| engine::options::parse_cpus(c, online_cpus))
                .transpose()?,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            memory: bytes(&self.memory)?,
            memory_swap: bytes(&self.memory_swap)?,
            pids_limit: self.pids_limit,
            cgroup_parent: self.cgroup_parent.clone(),
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            security_opt: self.security_opt.clone(),
            ulimit: self.ulimit.clone(),
            network: self.network.clone(),
            ip: self.ip.clone(),
            network_alias: self.network_alias.clone(),
            publish: self.publish.clone(),
            publish_all: self.publish_all,
            expose: self.expose.clone(),
            dns: self.dns.clone(),
            dns_search: self.dns_search.clone(),
            dns_option: self.dns_option.clone(),
            add_host: self.add_host.clone(),
            log_driver: self.log_driver.clone(),
            log_opt: self.log_opt.clone(),
            ..Default::default()
        };
        self.extra.apply(&mut opts)?;
        self.policy.apply(&mut opts)?;
        self.more.apply(&mut opts)?;
        Ok(opts)
    }
}

/// `-e NAME=value`, or `-e NAME` which takes the value from our own environment (and is
/// dropped when unset, as docker does).
pub(crate) fn env_arg(arg: &str) -> Result<Option<String>> {
    if arg.is_empty() || arg.starts_with('=') {
        bail!("invalid environment variable: '{arg}'");
    }
    if arg.contains('=') {
        return Ok(Some(arg.to_owned()));
    }
    Ok(std::env::var(arg).ok().map(|v| format!("{arg}={v}")))
}

/// Docker's `--env-file`: one variable per line, `#` comments and blank lines skipped,
/// `NAME` alone taken from the environment.
pub(crate) fn env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("open {}: cannot read env file", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed =
            env_arg(line).with_context(|| format!("{}: line {}", path.display(), n + 1))?;
        out.extend(parsed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run_args(args: &[&str]) -> RunArgs {
        #[derive(Parser)]
        #[command(disable_help_flag = true)]
        struct P {
            #[command(flatten)]
            run: RunArgs,
        }
        let mut v = vec!["run"];
        v.extend_from_slice(args);
        P::try_parse_from(v).unwrap().run
    }

    #[test]
    fn flags_become_typed_options() {
        let o = run_args(&[
            "--cpus",
            "0.5",
            "-m",
            "200m",
            "--memory-swap",
            "-1",
            "-e",
            "A=1",
            "-v",
            "/d:/d",
            "busybox",
            "sh",
        ])
        .to_options()
        .unwrap();
        assert_eq!(o.cpus, Some(0.5));
        assert_eq!(o.memory, Some(200 << 20));
        assert_eq!(o.memory_swap, Some(-1));
        assert_eq!(o.env, ["A=1"]);
        assert_eq!(o.volume, ["/d:/d"]);
        assert_eq!(
            (o.image.as_str(), o.command.as_slice()),
            ("busybox", &["sh".to_owned()][..])
        );
        assert!(run_args(&["--cpus", "99", "b"]).to_options().is_err());
        assert!(run_args(&["-m", "12x", "b"]).to_options().is_err());
    }

    #[test]
    fn env_values_and_files() {
        assert!(env_arg("=x").is_err());
        assert_eq!(env_arg("X=").unwrap().as_deref(), Some("X="));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(
            &f,
            "# comment\n\nA=1\n  B=two words\nMYDOCKER_SURELY_UNSET_VAR\n",
        )
        .unwrap();
        assert_eq!(env_file(&f).unwrap(), ["A=1", "B=two words"]);
    }
}
