//! [`CreateOptions`]: what a container is created with, as typed values, kept in its
//! record (so `inspect` reads fields, not flag names), and the parsers of docker's option
//! values (sizes, CPU counts, volumes, tmpfs mounts) with docker's error messages.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Result, invalid};

/// The options of `create` and `run`. Field names are docker's flags (`volume` is
/// `-v/--volume`); records of the previous release stored the flags under `run_args`
/// with the same names, so they load as these options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateOptions {
    /// The image as the user named it.
    pub image: String,
    /// The command and its arguments (after the image); empty: the image's Cmd.
    pub command: Vec<String>,
    /// `--entrypoint` (an empty string clears the image's).
    pub entrypoint: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `-h/--hostname`.
    pub hostname: Option<String>,
    /// `NAME=value` pairs in order (`-e`, `--env-file`), resolved by the caller.
    pub env: Vec<String>,
    /// `-w/--workdir`.
    pub workdir: Option<String>,
    /// `-u/--user`: `name|uid[:group|gid]`.
    pub user: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-d` (inspect shows whether stdout was attached).
    pub detach: bool,
    /// `--rm`.
    pub rm: bool,
    /// `--restart` (docker's `HostConfig.RestartPolicy`).
    pub restart: crate::restart::RestartPolicy,
    /// `--health-*` (zero fields inherit the image's) or `--no-healthcheck` (`["NONE"]`).
    pub healthcheck: Option<crate::health::HealthConfig>,
    /// `--init`.
    pub init: bool,
    /// `--read-only`.
    pub read_only: bool,
    /// `--privileged`.
    pub privileged: bool,
    /// `-v HOST:CONTAINER[:OPTS]` as given.
    pub volume: Vec<String>,
    /// `--tmpfs PATH[:OPTS]` as given.
    pub tmpfs: Vec<String>,
    /// `--cpus`.
    #[serde(deserialize_with = "number_or_string")]
    pub cpus: Option<f64>,
    /// `-c/--cpu-shares`.
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `-m/--memory` in bytes.
    #[serde(deserialize_with = "bytes_or_string")]
    pub memory: Option<i64>,
    /// `--memory-swap` in bytes (memory plus swap), -1 for unlimited.
    #[serde(deserialize_with = "bytes_or_string")]
    pub memory_swap: Option<i64>,
    /// `--pids-limit` (0 or less: unlimited).
    pub pids_limit: Option<i64>,
    /// `--cgroup-parent`.
    pub cgroup_parent: Option<String>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimit: Vec<String>,
    /// `--network` (`bridge` when `None`).
    pub network: Option<String>,
    /// `--ip`.
    pub ip: Option<String>,
    /// `--network-alias`.
    pub network_alias: Vec<String>,
    /// `-p` specs as given.
    pub publish: Vec<String>,
    /// `-P`.
    pub publish_all: bool,
    /// `--expose`.
    pub expose: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    pub dns_option: Vec<String>,
    /// `--add-host HOST:IP`.
    pub add_host: Vec<String>,
    /// `--log-driver` (`json-file`, or `none`).
    pub log_driver: String,
    /// `--log-opt`.
    pub log_opt: Vec<String>,
    /// `-l/--label` and `--label-file` lines as `KEY=VALUE`, in order (a later key wins).
    pub label: Vec<String>,
    /// `--mount type=bind|volume|tmpfs,...` as given.
    pub mount: Vec<String>,
    /// `--shm-size` in bytes (docker's default 64 MiB when unset).
    #[serde(deserialize_with = "bytes_or_string")]
    pub shm_size: Option<i64>,
    /// `--cidfile`: where `create` wrote the container's ID.
    pub cidfile: Option<String>,
    /// `--group-add`: supplementary groups (names resolved in the container, or gids).
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--stop-signal` (else the image's `StopSignal`, else SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds (else 10).
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// `--sysctl KEY=VALUE` (namespaced sysctls only, as docker allows).
    #[serde(default)]
    pub sysctl: Vec<String>,
    /// `--pid`: `host` or `container:<id>` (resolved at create); else a new namespace.
    #[serde(default)]
    pub pid: Option<String>,
    /// `--ipc`: `private` (the default), `shareable`, `none`, `host` or
    /// `container:<id>` (resolved at create).
    #[serde(default)]
    pub ipc: Option<String>,
    /// `--uts host`: the host's UTS namespace (else a new one).
    pub uts: Option<String>,
    /// `--cgroupns host|private` (else docker's default: private on cgroup v2 only).
    pub cgroupns: Option<String>,
    /// `--domainname`.
    pub domainname: Option<String>,
    /// `--cpu-period` in microseconds.
    pub cpu_period: Option<i64>,
    /// `--cpu-quota` in microseconds per period.
    pub cpu_quota: Option<i64>,
    /// `--memory-reservation` in bytes (the soft limit).
    #[serde(deserialize_with = "bytes_or_string")]
    pub memory_reservation: Option<i64>,
    /// `--memory-swappiness` (0 to 100; -1 or unset: the host's).
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--oom-score-adj` (-1000 to 1000).
    pub oom_score_adj: Option<i32>,
    /// `--device HOST[:CONTAINER[:PERMISSIONS]]` as given.
    pub device: Vec<String>,
    /// `--device-cgroup-rule 'TYPE MAJOR:MINOR PERMISSIONS'` as given.
    pub device_cgroup_rule: Vec<String>,
    /// `--volumes-from CONTAINER[:ro|rw]` as given (their mounts are added at create).
    pub volumes_from: Vec<String>,
    /// `--blkio-weight` (10 to 1000).
    pub blkio_weight: Option<u16>,
    /// `--blkio-weight-device DEVICE:WEIGHT` as given.
    pub blkio_weight_device: Vec<String>,
    /// `--device-read-bps DEVICE:RATE` as given.
    pub device_read_bps: Vec<String>,
    /// `--device-write-bps DEVICE:RATE` as given.
    pub device_write_bps: Vec<String>,
    /// `--device-read-iops DEVICE:RATE` as given.
    pub device_read_iops: Vec<String>,
    /// `--device-write-iops DEVICE:RATE` as given.
    pub device_write_iops: Vec<String>,
}

/// Docker's rule for `--sysctl`: namespaced IPC sysctls, `fs.mqueue.*`, and `net.*`
/// unless the container shares the host's network; returns `(key, value)`.
///
/// # Errors
/// `sysctl 'KEY=VALUE' is not allowed` (docker's wording), a missing `=`.
pub fn sysctl(spec: &str, host_network: bool) -> Result<(String, String)> {
    let Some((k, v)) = spec.split_once('=') else {
        invalid!(
            "invalid argument \"{spec}\" for \"--sysctl\" flag: sysctl '{spec}' is not allowed"
        );
    };
    let k = k.trim();
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let allowed =
        IPC.contains(&k) || k.starts_with("fs.mqueue.") || (k.starts_with("net.") && !host_network);
    if !allowed {
        if k.starts_with("net.") {
            invalid!("sysctl \"{k}\" not allowed in host network namespace");
        }
        invalid!(
            "invalid argument \"{spec}\" for \"--sysctl\" flag: sysctl '{spec}' is not allowed"
        );
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// Accepts `1.5` or `"1.5"` (how the previous release stored `--cpus`).
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        N(f64),
        S(String),
    }
    Ok(match Option::<V>::deserialize(d)? {
        None => None,
        Some(V::N(n)) => Some(n),
        Some(V::S(s)) => s.trim().parse().ok(),
    })
}

/// Accepts `209715200` or `"200m"` (how the previous release stored `-m`).
fn bytes_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        N(i64),
        S(String),
    }
    Ok(match Option::<V>::deserialize(d)? {
        None => None,
        Some(V::N(n)) => Some(n),
        Some(V::S(s)) if s == "-1" => Some(-1),
        Some(V::S(s)) => ram_in_bytes(&s).ok(),
    })
}

impl CreateOptions {
    /// The network mode: `bridge` unless `--network` says otherwise.
    pub fn network_mode(&self) -> &str {
        self.network.as_deref().unwrap_or("bridge")
    }

    /// The log driver, `json-file` when unset.
    pub fn log_driver(&self) -> &str {
        match self.log_driver.as_str() {
            "" => "json-file",
            d => d,
        }
    }
}

/// Docker's `units.RAMInBytes`: a number with an optional binary unit suffix
/// (`b`, `k`, `m`, `g`, `t`, `p`, optionally followed by `b` or `ib`), case-insensitive.
///
/// # Errors
/// `invalid size: '...'`.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let Some(value) = num
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
    else {
        invalid!("invalid size: '{s}'");
    };
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => invalid!("invalid size: '{s}'"),
    };
    let bytes = value * mult;
    if bytes > i64::MAX as f64 {
        invalid!("invalid size: '{s}' (too large)");
    }
    Ok(bytes as i64)
}

/// `--cpus 1.5` as a number, checked against the CPUs online.
///
/// # Errors
/// Docker's messages for a value that is not a number, not positive, or above the CPUs.
pub fn parse_cpus(s: &str, online_cpus: usize) -> Result<f64> {
    let Some(cpus) = s.trim().parse::<f64>().ok().filter(|v| v.is_finite()) else {
        invalid!("invalid argument \"{s}\" for \"--cpus\" flag");
    };
    cpus_to_quota(cpus, online_cpus)?;
    Ok(cpus)
}

/// `--cpus` as CFS quota and period (docker uses a 100 ms period).
///
/// # Errors
/// Not positive, more than the CPUs online, or a quota under 1 ms.
pub fn cpus_to_quota(cpus: f64, online_cpus: usize) -> Result<(i64, u64)> {
    const PERIOD: u64 = 100_000;
    if cpus <= 0.0 {
        invalid!("invalid argument \"{cpus}\" for \"--cpus\" flag: must be positive");
    }
    if cpus > online_cpus as f64 {
        invalid!(
            "range of CPUs is from 0.01 to {online_cpus}.00, as there are only {online_cpus} CPUs available"
        );
    }
    let quota = (cpus * PERIOD as f64).round() as i64;
    if quota < 1000 {
        invalid!("CPU cfs quota must be at least 1ms: --cpus {cpus} is too small");
    }
    Ok((quota, PERIOD))
}

/// One `-v/--volume` bind mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The host path.
    pub source: PathBuf,
    /// The path in the container.
    pub target: PathBuf,
    /// `:ro`.
    pub read_only: bool,
    /// Bind propagation (`rprivate` unless `shared`, `rslave`... is given).
    pub propagation: String,
}

impl Volume {
    /// `HOST:CONTAINER[:OPTIONS]` with options `ro`, `rw` (others rejected). Both paths
    /// must be absolute; named volumes are not supported yet and say so.
    ///
    /// # Errors
    /// Docker's `invalid volume specification` messages.
    pub fn parse(spec: &str) -> Result<Volume> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (source, target, opts) = match parts.as_slice() {
            [s, t] => (*s, *t, ""),
            [s, t, o] => (*s, *t, *o),
            _ => invalid!("invalid volume specification: '{spec}'"),
        };
        if source.is_empty() || target.is_empty() {
            invalid!("invalid volume specification: '{spec}'");
        }
        if !source.starts_with('/') {
            invalid!(
                "invalid volume specification: '{spec}': named volumes are not supported, use an absolute host path"
            );
        }
        if !target.starts_with('/') {
            invalid!("invalid volume specification: '{spec}': mount path must be absolute");
        }
        let mut read_only = false;
        let mut propagation = "rprivate".to_owned();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => read_only = true,
                "rw" => read_only = false,
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                    o.clone_into(&mut propagation);
                }
                // Relabelling and copy options are accepted and have no effect on binds.
                "z" | "Z" | "nocopy" | "copy" => {}
                _ => invalid!("invalid volume specification: '{spec}': unknown option '{o}'"),
            }
        }
        let target = clean_abs(Path::new(target));
        if target == Path::new("/") {
            invalid!("invalid volume specification: '{spec}': destination can't be '/'");
        }
        Ok(Volume {
            source: PathBuf::from(source),
            target,
            read_only,
            propagation,
        })
    }
}

/// `--tmpfs /path[:opts]`: the target and the mount options docker would pass.
///
/// # Errors
/// A relative path.
pub fn tmpfs(spec: &str) -> Result<(PathBuf, Vec<String>)> {
    let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if !path.starts_with('/') {
        invalid!("invalid tmpfs specification '{spec}': mount path must be absolute");
    }
    let mut options = vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let flip = match o {
            "exec" => Some("noexec"),
            "suid" => Some("nosuid"),
            "dev" => Some("nodev"),
            _ => None,
        };
        match flip {
            Some(neg) => options.retain(|x| x != neg),
            None => options.push(o.to_owned()),
        }
    }
    Ok((clean_abs(Path::new(path)), options))
}

/// Lexically normalised absolute path (`/a/./b/../c` -> `/a/c`); `..` never climbs above
/// `/`.
pub fn clean_abs(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Merges `overrides` into `base` (both `NAME=value`): a later name replaces an earlier
/// one in place, new names are appended.
pub fn merge_env(base: &mut Vec<String>, overrides: impl IntoIterator<Item = String>) {
    for kv in overrides {
        let name = kv.split('=').next().unwrap_or("").to_owned();
        match base
            .iter_mut()
            .find(|e| e.split('=').next() == Some(name.as_str()))
        {
            Some(slot) => *slot = kv,
            None => base.push(kv),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_follow_docker() {
        assert_eq!(ram_in_bytes("200m").unwrap(), 200 << 20);
        assert_eq!(ram_in_bytes("200M").unwrap(), 200 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("32mb").unwrap(), 32 << 20);
        assert_eq!(ram_in_bytes("1024").unwrap(), 1024);
        assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
        assert!(ram_in_bytes("abc").is_err());
        assert!(ram_in_bytes("12x").is_err());
        assert!(ram_in_bytes("-5m").is_err());
        assert!(ram_in_bytes("").is_err());
    }

    #[test]
    fn cpus_become_cfs_quota() {
        assert_eq!(cpus_to_quota(0.5, 2).unwrap(), (50_000, 100_000));
        assert_eq!(cpus_to_quota(2.0, 2).unwrap(), (200_000, 100_000));
        assert!(
            parse_cpus("3", 2)
                .unwrap_err()
                .to_string()
                .contains("only 2 CPUs")
        );
        assert!(parse_cpus("0", 2).is_err());
        assert!(parse_cpus("x", 2).is_err());
        assert_eq!(parse_cpus("1.5", 2).unwrap(), 1.5);
    }

    #[test]
    fn volumes() {
        assert_eq!(
            Volume::parse("/data:/srv/data:ro").unwrap(),
            Volume {
                source: "/data".into(),
                target: "/srv/data".into(),
                read_only: true,
                propagation: "rprivate".into(),
            }
        );
        assert!(!Volume::parse("/a:/b").unwrap().read_only);
        assert_eq!(
            Volume::parse("/a:/b:ro,rshared").unwrap().propagation,
            "rshared"
        );
        assert_eq!(
            Volume::parse("/a:/b/../c/./d").unwrap().target,
            Path::new("/c/d")
        );
        for bad in ["named:/b", "/a:rel", "/a:/b:xx", "/a", "/a:/"] {
            assert!(Volume::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tmpfs_options() {
        let (p, o) = tmpfs("/run:size=64m,exec").unwrap();
        assert_eq!(p, Path::new("/run"));
        assert_eq!(o, ["nosuid", "nodev", "size=64m"]);
        assert!(tmpfs("run").is_err());
    }

    #[test]
    fn env_merging() {
        let mut base = vec!["PATH=/bin".to_owned(), "A=1".to_owned()];
        merge_env(&mut base, ["A=2".to_owned(), "B=3".to_owned()]);
        assert_eq!(base, ["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn records_of_the_previous_release_load_as_options() {
        // `run_args` as the previous release stored clap's RunArgs.
        let old = serde_json::json!({
            "detach": true, "interactive": false, "tty": false, "rm": false,
            "name": "web", "env": ["A=1"], "env_file": [], "volume": ["/d:/d:ro"],
            "cpus": "0.5", "memory": "64m", "memory_swap": "-1", "pids_limit": 10,
            "cap_add": ["NET_ADMIN"], "pull": "missing", "log_driver": "json-file",
            "image": "busybox", "command": ["sleep", "1"], "entrypoint": null,
        });
        let o: CreateOptions = serde_json::from_value(old).unwrap();
        assert_eq!(o.cpus, Some(0.5));
        assert_eq!(o.memory, Some(64 << 20));
        assert_eq!(o.memory_swap, Some(-1));
        assert_eq!(o.volume, ["/d:/d:ro"]);
        assert_eq!(o.name.as_deref(), Some("web"));
        assert!(o.detach);
        let back: CreateOptions =
            serde_json::from_value(serde_json::to_value(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
