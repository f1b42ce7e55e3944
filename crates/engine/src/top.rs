//! What runs in a container and what it uses: the processes of its cgroup as `ps -ef`
//! sees them (`top`), and samples of its CPU, memory, network, block I/O and PIDs
//! (`stats`), from the cgroup and /proc.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use crate::config::Engine;
use crate::error::{Error, Result};
use crate::lifecycle::cgroup_of;
use crate::record::Record;
use crate::recovery::lookup;

/// One process of a container, as `ps -ef` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    /// The user name on the host (or the UID).
    pub user: String,
    /// Host PID.
    pub pid: u32,
    /// Host PID of the parent.
    pub ppid: u32,
    /// CPU use over its life, in percent.
    pub cpu_percent: u64,
    /// When it started.
    pub started: SystemTime,
    /// Its controlling terminal (`pts/0`), or `?`.
    pub tty: String,
    /// CPU time used.
    pub cpu_time: Duration,
    /// Its command line (`[comm]` when it has none).
    pub command: String,
}

/// Fields of /proc/PID/stat after the command name (field 3 is index 0).
fn stat_fields(pid: u32) -> Option<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let rest = stat[close + 2..]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some((comm, rest))
}

fn clock_ticks() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// Boot time (Unix seconds) from /proc/stat.
fn boot_time() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn uptime_secs() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Host user names by UID (what `ps` prints).
fn user_names() -> HashMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.get(2)?.parse().ok()?, (*f.first()?).to_owned()))
        })
        .collect()
}

fn effective_uid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn tty_name(tty_nr: u64) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

struct Host {
    users: HashMap<u32, String>,
    hz: u64,
    boot: u64,
    up: f64,
}

fn process_info(pid: u32, host: &Host) -> Option<ProcessInfo> {
    let (comm, f) = stat_fields(pid)?;
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let cpu_ticks = num(11) + num(12);
    let start_ticks = num(19);
    let elapsed = host.up - start_ticks as f64 / host.hz as f64;
    let cpu_percent = if elapsed > 0.0 {
        ((cpu_ticks as f64 / host.hz as f64) / elapsed * 100.0) as u64
    } else {
        0
    };
    let uid = effective_uid(pid).unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcessInfo {
        user: host
            .users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string()),
        pid,
        ppid: num(1) as u32,
        cpu_percent,
        started: SystemTime::UNIX_EPOCH + Duration::from_secs(host.boot + start_ticks / host.hz),
        tty: tty_name(num(4)),
        cpu_time: Duration::from_secs(cpu_ticks / host.hz),
        command: if args.is_empty() {
            format!("[{comm}]")
        } else {
            args.join(" ")
        },
    })
}

/// One sample of a container's usage.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// CPU time used, in nanoseconds.
    pub cpu_ns: u64,
    /// When the sample was taken.
    pub at: Option<Instant>,
    /// Memory in use (without the inactive page cache).
    pub memory: u64,
    /// The memory limit (the host's memory when there is none).
    pub memory_limit: u64,
    /// Bytes received and sent, loopback excluded.
    pub net: (u64, u64),
    /// Bytes read from and written to storage by its current processes.
    pub block: (u64, u64),
    /// How many processes it has.
    pub pids: u64,
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let kb: u64 = s
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// Received and sent bytes of the network namespace of `pid`, loopback excluded.
fn net_io(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

/// Bytes the container's current processes read from and wrote to storage.
fn block_io(pids: &[u32]) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for pid in pids {
        let text = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("read_bytes:") {
                r += v.trim().parse::<u64>().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("write_bytes:") {
                w += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    (r, w)
}

impl Engine {
    /// `top`: the processes of a running container.
    ///
    /// # Errors
    /// No such container, not running.
    pub fn top(&self, name: &str) -> Result<Vec<ProcessInfo>> {
        let rec = lookup(self, name)?;
        if !rec.is_active() {
            return Err(Error::State(format!("container {} is not running", rec.id)));
        }
        let pids = cgroup_of(&rec)?.pids()?;
        let host = Host {
            users: user_names(),
            hz: clock_ticks(),
            boot: boot_time(),
            up: uptime_secs(),
        };
        Ok(pids
            .into_iter()
            .filter_map(|p| process_info(p, &host))
            .collect())
    }

    /// A sample of the usage of container `rec` (zeros when it is not running).
    pub fn usage(&self, rec: &Record) -> Usage {
        let host_mem = host_memory();
        let mut s = Usage {
            at: Some(Instant::now()),
            memory_limit: host_mem,
            ..Usage::default()
        };
        if !rec.is_active() {
            return s;
        }
        if let Ok(cg) = cgroup_of(rec) {
            if let Ok(st) = cg.stats() {
                if let Some(c) = st.cpu {
                    s.cpu_ns = c.usage_ns;
                }
                if let Some(m) = st.memory {
                    s.memory = m.usage.saturating_sub(m.inactive_file.unwrap_or(0));
                    if let Some(l) = m.limit.filter(|l| *l > 0 && *l < host_mem.max(1)) {
                        s.memory_limit = l;
                    }
                }
                if let Some(p) = st.pids {
                    s.pids = p.current;
                }
            }
            s.block = block_io(&cg.pids().unwrap_or_default());
        }
        s.net = net_io(rec.state.pid);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttys_and_our_own_process() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        let host = Host {
            users: user_names(),
            hz: clock_ticks(),
            boot: boot_time(),
            up: uptime_secs(),
        };
        let me = process_info(std::process::id(), &host).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.command.is_empty());
        assert!(me.started <= SystemTime::now());
    }
}
