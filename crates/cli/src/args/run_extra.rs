//! `run` and `create` flags for labels, mounts and the container ID file (flattened into
//! [`RunArgs`](super::RunArgs)).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct RunExtraArgs {
    /// Set meta data on a container (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub(crate) label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long, value_name = "FILE")]
    pub(crate) label_file: Vec<PathBuf>,
    /// Attach a filesystem mount to the container
    /// (type=bind|volume|tmpfs,source=...,target=...[,readonly][,...])
    #[arg(long, value_name = "MOUNT")]
    pub(crate) mount: Vec<String>,
    /// Size of /dev/shm
    #[arg(long, value_name = "BYTES")]
    pub(crate) shm_size: Option<String>,
    /// Write the container ID to the file
    #[arg(long, value_name = "FILE")]
    pub(crate) cidfile: Option<String>,
    /// Add additional groups to join
    #[arg(long, value_name = "GROUP")]
    pub(crate) group_add: Vec<String>,
    /// Signal to stop the container
    #[arg(long, value_name = "SIGNAL")]
    pub(crate) stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub(crate) stop_timeout: Option<i64>,
    /// Sysctl options (KEY=VALUE; namespaced ones only)
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) sysctl: Vec<String>,
    /// PID namespace to use (host, container:NAME)
    #[arg(long, value_name = "MODE")]
    pub(crate) pid: Option<String>,
    /// IPC mode to use (private, shareable, none, host, container:NAME)
    #[arg(long, value_name = "MODE")]
    pub(crate) ipc: Option<String>,
    /// UTS namespace to use (host)
    #[arg(long, value_name = "MODE")]
    pub(crate) uts: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long, value_name = "MODE")]
    pub(crate) cgroupns: Option<String>,
    /// Container NIS domain name
    #[arg(long, value_name = "NAME")]
    pub(crate) domainname: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long, value_name = "INT")]
    pub(crate) cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) cpu_quota: Option<i64>,
    /// Memory soft limit
    #[arg(long, value_name = "BYTES")]
    pub(crate) memory_reservation: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) memory_swappiness: Option<i64>,
    /// Disable OOM Killer
    #[arg(long)]
    pub(crate) oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub(crate) oom_score_adj: Option<i32>,
    /// Add a host device to the container (HOST[:CONTAINER[:PERMISSIONS]])
    #[arg(long, value_name = "DEVICE")]
    pub(crate) device: Vec<String>,
}

impl RunExtraArgs {
    /// Sets the options these flags describe.
    pub(crate) fn apply(&self, opts: &mut engine::CreateOptions) -> Result<()> {
        let mut labels = Vec::new();
        for f in &self.label_file {
            labels.extend(label_file(f)?);
        }
        for l in &self.label {
            labels.push(label_arg(l)?);
        }
        opts.label = labels;
        for m in &self.mount {
            engine::volumes::MountSpec::parse(m)?;
        }
        opts.mount = self.mount.clone();
        opts.shm_size = match self.shm_size.as_deref() {
            None => None,
            Some(s) => {
                let bytes = engine::options::ram_in_bytes(s)?;
                if bytes <= 0 {
                    bail!("invalid argument \"{s}\" for \"--shm-size\" flag: must be positive");
                }
                Some(bytes)
            }
        };
        opts.cidfile = self.cidfile.clone();
        opts.group_add = self.group_add.clone();
        if let Some(sig) = &self.stop_signal {
            engine::control::parse_signal(sig)?;
        }
        opts.stop_signal = self.stop_signal.clone();
        opts.stop_timeout = self.stop_timeout;
        opts.sysctl = self.sysctl.clone();
        opts.pid = self.pid.clone().filter(|p| !p.is_empty());
        opts.ipc = self.ipc.clone().filter(|p| !p.is_empty());
        opts.uts = self.uts.clone().filter(|p| !p.is_empty());
        opts.cgroupns = self.cgroupns.clone().filter(|p| !p.is_empty());
        opts.domainname = self.domainname.clone().filter(|p| !p.is_empty());
        opts.cpu_period = self.cpu_period;
        opts.cpu_quota = self.cpu_quota;
        opts.memory_reservation = self
            .memory_reservation
            .as_deref()
            .map(engine::options::ram_in_bytes)
            .transpose()?;
        opts.memory_swappiness = self.memory_swappiness;
        opts.oom_kill_disable = self.oom_kill_disable;
        opts.oom_score_adj = self.oom_score_adj;
        opts.device = self.device.clone();
        Ok(())
    }
}

/// `KEY=VALUE`, or `KEY` alone for an empty value, as docker takes `--label`.
fn label_arg(arg: &str) -> Result<String> {
    let key = arg.split('=').next().unwrap_or("");
    if key.trim().is_empty() {
        bail!("invalid label '{arg}': empty name");
    }
    Ok(if arg.contains('=') {
        arg.to_owned()
    } else {
        format!("{arg}=")
    })
}

/// Docker's `--label-file`: one label per line, blank lines and `#` comments skipped.
fn label_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("open {}: cannot read label file", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(label_arg(line).with_context(|| format!("{}: line {}", path.display(), n + 1))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_flags_and_files() {
        assert_eq!(label_arg("a=b=c").unwrap(), "a=b=c");
        assert_eq!(label_arg("flag").unwrap(), "flag=");
        assert!(label_arg("=x").is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("labels");
        std::fs::write(&f, "# c\n\nversion=1.0\n  team=core\nbare\n").unwrap();
        assert_eq!(
            label_file(&f).unwrap(),
            ["version=1.0", "team=core", "bare="]
        );
        assert!(label_file(&dir.path().join("nope")).is_err());
    }
}
