//! runc's command line: the flags (clap accepts both `--flag V` and `--flag=V`) and
//! the dispatch to the library.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use oci_runtime::exec::{ExecArgs, ExecOptions};
use oci_runtime::{CreateOptions, Error, StateRoot, Status, create, exec, ops, signals, state};
use oci_spec::runtime::{LinuxPids, LinuxResources, Spec};

use crate::log::Log;

/// mydocker-runc: a runc-compatible OCI runtime.
#[derive(Debug, Parser)]
#[command(name = "mydocker-runc", disable_version_flag = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The global flags, given before the subcommand.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// State directory.
    #[arg(long, default_value = oci_runtime::state::DEFAULT_ROOT)]
    root: PathBuf,
    /// Log file (errors, warnings, debug lines).
    #[arg(long)]
    pub(crate) log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, default_value = "text")]
    pub(crate) log_format: String,
    /// Log debug lines.
    #[arg(long)]
    pub(crate) debug: bool,
    /// Use systemd for cgroups (needs a running systemd).
    #[arg(long)]
    systemd_cgroup: bool,
    /// Path to criu (ignored: checkpointing is not supported).
    #[arg(long, hide = true)]
    criu: Option<String>,
    /// Rootless mode (ignored: mydocker-runc runs as root).
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a container (its process waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start {
        /// Container ID.
        id: String,
    },
    /// Create and start a container, then wait for it (unless --detach).
    Run(RunArgs),
    /// Print a container's state as JSON.
    State {
        /// Container ID.
        id: String,
    },
    /// List the containers.
    List {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// IDs only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Send a signal to a container's init (or every process with --all).
    Kill {
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
        /// Container ID.
        id: String,
        /// Signal name or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container.
    Delete {
        /// Kill it first if it runs.
        #[arg(short, long)]
        force: bool,
        /// Container ID.
        id: String,
    },
    /// Run a process in a container.
    Exec(ExecCli),
    /// The processes of a container.
    Ps {
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Container ID.
        id: String,
        /// Options for ps(1).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze a container's processes.
    Pause {
        /// Container ID.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// Container ID.
        id: String,
    },
    /// Change a container's resource limits.
    Update(UpdateArgs),
    /// Print a container's resource usage.
    Events {
        /// Print the statistics once.
        #[arg(long)]
        stats: bool,
        /// Interval between statistics.
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Container ID.
        id: String,
    },
    /// Print the features of this runtime as JSON.
    Features,
    /// Write a default config.json.
    Spec {
        /// Bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A rootless spec (not supported).
        #[arg(long)]
        rootless: bool,
    },
    /// Not supported (no CRIU).
    #[command(disable_help_flag = true)]
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
    /// Not supported (no CRIU).
    #[command(disable_help_flag = true)]
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// File to write the init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Ignored (pivot_root is always used).
    #[arg(long)]
    no_pivot: bool,
    /// Ignored (no session keyring is made).
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass descriptors 3..3+N to the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Container ID.
    id: String,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    create: CreateArgs,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// Keep the container after it exits (ignored).
    #[arg(long)]
    keep: bool,
    /// Ignored.
    #[arg(long)]
    no_subreaper: bool,
}

#[derive(Debug, Args)]
struct ExecCli {
    /// Process JSON file (`-`: standard input).
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Allocate a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Working directory.
    #[arg(long)]
    cwd: Option<String>,
    /// Environment variable KEY=VALUE.
    #[arg(short, long)]
    env: Vec<String>,
    /// UID[:GID].
    #[arg(short, long)]
    user: Option<String>,
    /// Supplementary group.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// Add a capability.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    no_new_privs: bool,
    /// AppArmor profile.
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux label.
    #[arg(long)]
    process_label: Option<String>,
    /// Pass descriptors 3..3+N to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Allow exec in a paused container.
    #[arg(long)]
    ignore_paused: bool,
    /// Container ID.
    id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    /// Resources JSON file (`-`: standard input).
    #[arg(short, long)]
    resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g).
    #[arg(long, short)]
    memory: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    memory_reservation: Option<String>,
    /// Memory plus swap limit.
    #[arg(long)]
    memory_swap: Option<String>,
    /// Kernel memory limit (ignored by recent kernels).
    #[arg(long)]
    kernel_memory: Option<String>,
    /// CPU CFS quota (µs).
    #[arg(long)]
    cpu_quota: Option<i64>,
    /// CPU CFS period (µs).
    #[arg(long)]
    cpu_period: Option<u64>,
    /// CPU shares.
    #[arg(long)]
    cpu_share: Option<u64>,
    /// CPUs allowed.
    #[arg(long)]
    cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long)]
    cpuset_mems: Option<String>,
    /// Maximum number of processes.
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Block IO weight.
    #[arg(long)]
    blkio_weight: Option<u16>,
    /// Container ID.
    id: String,
}

/// Runs the command; returns the exit code.
pub(crate) fn dispatch(cli: Cli, log: &Log) -> i32 {
    if cli.global.version {
        println!(
            "mydocker-runc version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            state::OCI_VERSION
        );
        return 0;
    }
    let Some(command) = cli.command else {
        eprintln!("mydocker-runc: no command given (see --help)");
        return 1;
    };
    log.debug(&format!("{command:?}"));
    let root = StateRoot::new(&cli.global.root);
    match run_command(command, &root, &cli.global, log) {
        Ok(code) => code,
        Err(e) => {
            log.error(&e.to_string());
            e.exit_code()
        }
    }
}

fn warn_all(log: &Log, warnings: &[String]) {
    for w in warnings {
        log.warn(w);
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Error::InvalidInput(format!("serializing: {e}")))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    Ok(())
}

fn create_options(a: &CreateArgs, g: &Global, detach: bool) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        preserve_fds: a.preserve_fds,
        systemd_cgroup: g.systemd_cgroup,
        detach,
    }
}

fn run_command(command: Command, root: &StateRoot, g: &Global, log: &Log) -> Result<i32, Error> {
    match command {
        Command::Create(a) => {
            let w = create::create(root, &create_options(&a, g, true))?;
            warn_all(log, &w);
        }
        Command::Start { id } => warn_all(log, &ops::start(root, &id)?),
        Command::Run(a) => {
            let opts = create_options(&a.create, g, a.detach);
            let (handle, w) = create::run(root, &opts)?;
            warn_all(log, &w);
            if a.detach {
                return Ok(0);
            }
            let forwarder = isolate::SignalForwarder::start(handle.pid());
            let (code, w) = handle.wait()?;
            drop(forwarder);
            warn_all(log, &w);
            return Ok(code);
        }
        Command::State { id } => print_json(&ops::state(root, &id)?)?,
        Command::List { format, quiet } => list(root, &format, quiet)?,
        Command::Kill { all, id, signal } => {
            ops::kill(root, &id, signals::parse(&signal)?, all)?;
        }
        Command::Delete { force, id } => warn_all(log, &ops::delete(root, &id, force)?),
        Command::Exec(a) => return exec_command(root, a, log),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(root, &id, &format, &ps_args)?,
        Command::Pause { id } => ops::pause(root, &id)?,
        Command::Resume { id } => ops::resume(root, &id)?,
        Command::Update(a) => {
            let res = update_resources(&a)?;
            warn_all(log, &ops::update(root, &a.id, &res)?);
        }
        Command::Events {
            stats,
            interval,
            id,
        } => events(root, &id, stats, &interval)?,
        Command::Features => print_json(&features())?,
        Command::Spec { bundle, rootless } => write_spec(&bundle, rootless)?,
        Command::Checkpoint { .. } => {
            return Err(Error::Unsupported(
                "checkpoint is not supported: mydocker-runc has no CRIU support".into(),
            ));
        }
        Command::Restore { .. } => {
            return Err(Error::Unsupported(
                "restore is not supported: mydocker-runc has no CRIU support".into(),
            ));
        }
    }
    Ok(0)
}

fn exec_command(root: &StateRoot, a: ExecCli, log: &Log) -> Result<i32, Error> {
    let process = match &a.process {
        Some(p) => {
            let mut process = exec::process_from_file(p)?;
            if a.tty {
                process.set_terminal(Some(true));
            }
            process
        }
        None => {
            let c = root.load(&a.id)?;
            let base = c.record.config.process().clone().unwrap_or_default();
            exec::process_from_args(
                &base,
                &ExecArgs {
                    args: a.args.clone(),
                    tty: a.tty,
                    cwd: a.cwd.clone(),
                    env: a.env.clone(),
                    user: a.user.clone(),
                    additional_gids: a.additional_gids.clone(),
                    caps: a.cap.clone(),
                    no_new_privs: a.no_new_privs,
                    apparmor: a.apparmor.clone(),
                    process_label: a.process_label.clone(),
                },
            )?
        }
    };
    let opts = ExecOptions {
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        detach: a.detach,
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
    };
    let (handle, w) = exec::exec(root, &opts)?;
    warn_all(log, &w);
    if a.detach {
        return Ok(0);
    }
    let forwarder = isolate::SignalForwarder::start(handle.pid());
    let code = handle.wait()?;
    drop(forwarder);
    Ok(code)
}

fn list(root: &StateRoot, format: &str, quiet: bool) -> Result<(), Error> {
    let views: Vec<state::StateView> = root.list()?.iter().map(|c| c.view()).collect();
    let mut out = std::io::stdout().lock();
    if quiet {
        for v in &views {
            let _ = writeln!(out, "{}", v.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let text = serde_json::to_string(&views)
                .map_err(|e| Error::InvalidInput(format!("serializing: {e}")))?;
            let _ = writeln!(out, "{text}");
        }
        "table" => {
            let _ = writeln!(
                out,
                "{:<12} {:<10} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for v in &views {
                let _ = writeln!(
                    out,
                    "{:<12} {:<10} {:<10} {:<40} {:<32} root",
                    v.id,
                    v.pid,
                    v.status.to_string(),
                    v.bundle.display(),
                    v.created
                );
            }
        }
        other => {
            return Err(Error::InvalidInput(format!(
                "invalid format option {other:?} (table or json)"
            )));
        }
    }
    Ok(())
}

fn ps(root: &StateRoot, id: &str, format: &str, ps_args: &[String]) -> Result<(), Error> {
    let pids = ops::pids(root, id)?;
    match format {
        "json" => print_json(&pids),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let output = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error::Sys {
                    op: "ps",
                    source: e,
                })?;
            if !output.status.success() {
                return Err(Error::InvalidInput(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::InvalidInput("ps: no PID column in its output".into()))?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    let _ = writeln!(out, "{line}");
                }
            }
            Ok(())
        }
        other => Err(Error::InvalidInput(format!(
            "invalid format option {other:?} (table or json)"
        ))),
    }
}

/// `1024`, `512k`, `100m`, `2g` (and `-1`: unlimited).
fn parse_bytes(flag: &str, s: &str) -> Result<i64, Error> {
    let bad = || Error::InvalidInput(format!("invalid value for {flag}: {s:?}"));
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 1i64 << 10),
        Some((i, 'm')) => (&t[..i], 1 << 20),
        Some((i, 'g')) => (&t[..i], 1 << 30),
        Some((i, 't')) => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

fn update_resources(a: &UpdateArgs) -> Result<LinuxResources, Error> {
    let mut res: LinuxResources = match &a.resources {
        Some(p) => {
            let data = if p == Path::new("-") {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v).map_err(|e| {
                    Error::Sys {
                        op: "read standard input",
                        source: e,
                    }
                })?;
                v
            } else {
                std::fs::read(p).map_err(|e| Error::Io {
                    op: "read",
                    path: p.clone(),
                    source: e,
                })?
            };
            serde_json::from_slice(&data)
                .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?
        }
        None => LinuxResources::default(),
    };
    let mut mem = res.memory().unwrap_or_default();
    let mut mem_set = false;
    if let Some(m) = &a.memory {
        mem.set_limit(Some(parse_bytes("--memory", m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_reservation {
        mem.set_reservation(Some(parse_bytes("--memory-reservation", m)?));
        mem_set = true;
    }
    if let Some(m) = &a.memory_swap {
        mem.set_swap(Some(parse_bytes("--memory-swap", m)?));
        mem_set = true;
    }
    if let Some(m) = &a.kernel_memory {
        #[allow(deprecated)]
        mem.set_kernel(Some(parse_bytes("--kernel-memory", m)?));
        mem_set = true;
    }
    if mem_set {
        res.set_memory(Some(mem));
    }
    let mut cpu = res.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    if let Some(q) = a.cpu_quota {
        cpu.set_quota(Some(q));
        cpu_set = true;
    }
    if let Some(p) = a.cpu_period {
        cpu.set_period(Some(p));
        cpu_set = true;
    }
    if let Some(s) = a.cpu_share {
        cpu.set_shares(Some(s));
        cpu_set = true;
    }
    if let Some(c) = &a.cpuset_cpus {
        cpu.set_cpus(Some(c.clone()));
        cpu_set = true;
    }
    if let Some(m) = &a.cpuset_mems {
        cpu.set_mems(Some(m.clone()));
        cpu_set = true;
    }
    if cpu_set {
        res.set_cpu(Some(cpu));
    }
    if let Some(l) = a.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(l);
        res.set_pids(Some(pids));
    }
    if let Some(w) = a.blkio_weight {
        let mut b = res.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    Ok(res)
}

fn stats_json(id: &str, s: &cgroup::Stats) -> serde_json::Value {
    let mut data = serde_json::Map::new();
    if let Some(c) = &s.cpu {
        data.insert(
            "cpu".into(),
            serde_json::json!({
                "usage": {"total": c.usage_ns, "user": c.user_ns, "kernel": c.system_ns},
                "throttling": {"periods": c.periods, "throttledPeriods": c.throttled_periods,
                               "throttledTime": c.throttled_ns},
            }),
        );
    }
    if let Some(m) = &s.memory {
        data.insert(
            "memory".into(),
            serde_json::json!({
                "usage": {"usage": m.usage, "max": m.max_usage, "limit": m.limit},
                "stats": {"inactive_file": m.inactive_file},
            }),
        );
    }
    if let Some(p) = &s.pids {
        data.insert(
            "pids".into(),
            serde_json::json!({"current": p.current, "limit": p.limit}),
        );
    }
    serde_json::json!({"type": "stats", "id": id, "data": data})
}

fn parse_interval(s: &str) -> Result<std::time::Duration, Error> {
    let bad = || Error::InvalidInput(format!("invalid interval {s:?} (e.g. 5s, 500ms)"));
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

fn events(root: &StateRoot, id: &str, once: bool, interval: &str) -> Result<(), Error> {
    let interval = parse_interval(interval)?;
    loop {
        let c = root.load(id)?;
        if c.status() == Status::Stopped {
            return Err(Error::WrongStatus {
                action: "events",
                id: id.to_string(),
                status: Status::Stopped,
            });
        }
        let cg = c
            .cgroup()
            .ok_or_else(|| Error::Unsupported("events: the container has no cgroup".into()))?;
        let s = cg.stats()?;
        let line = stats_json(id, &s);
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
        drop(out);
        if once {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

fn features() -> serde_json::Value {
    let caps: Vec<String> = (0..64)
        .filter_map(isolate::caps::from_number)
        .filter_map(|c| serde_json::to_value(c).ok())
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync",
            "exec", "iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime",
            "noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
            "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared",
            "rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime",
            "suid", "sync", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false,
                       "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                    "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
                    "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
        },
        "annotations": {
            "org.mydocker.runc.version": env!("CARGO_PKG_VERSION"),
        },
    })
}

fn write_spec(bundle: &Path, rootless: bool) -> Result<(), Error> {
    if rootless {
        return Err(Error::Unsupported(
            "spec --rootless: rootless containers are not supported by mydocker-runc".into(),
        ));
    }
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::InvalidInput(format!(
            "{}: file exists, remove it first",
            path.display()
        )));
    }
    let mut spec = Spec::default();
    spec.set_version(state::OCI_VERSION.to_string());
    let text = serde_json::to_vec_pretty(&spec)
        .map_err(|e| Error::InvalidInput(format!("serializing: {e}")))?;
    std::fs::write(&path, text).map_err(|e| Error::Io {
        op: "write",
        path,
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_intervals() {
        assert_eq!(parse_bytes("m", "100m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("m", "1024").unwrap(), 1024);
        assert_eq!(parse_bytes("m", "2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("m", "-1").unwrap(), -1);
        assert!(parse_bytes("m", "lots").is_err());
        assert_eq!(parse_interval("5s").unwrap().as_secs(), 5);
        assert_eq!(parse_interval("250ms").unwrap().as_millis(), 250);
        assert!(parse_interval("0s").is_err());
    }

    #[test]
    fn both_flag_forms_parse() {
        let a = Cli::try_parse_from([
            "mydocker-runc",
            "--root=/x",
            "--log",
            "/l",
            "--log-format=json",
            "kill",
            "--all",
            "c1",
            "KILL",
        ])
        .unwrap();
        assert_eq!(a.global.root, Path::new("/x"));
        assert_eq!(a.global.log.as_deref(), Some(Path::new("/l")));
        assert_eq!(a.global.log_format, "json");
        assert!(matches!(a.command, Some(Command::Kill { all: true, .. })));
        let e = Cli::try_parse_from(["mydocker-runc", "exec", "c1", "sh", "-c", "true"]).unwrap();
        let Some(Command::Exec(x)) = e.command else {
            panic!("not exec")
        };
        assert_eq!(x.args, ["sh", "-c", "true"]);
    }
}
