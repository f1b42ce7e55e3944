//! `top` (the processes of a container's cgroup, as `ps -ef` shows them) and `stats`
//! (CPU, memory, network, block I/O and PIDs from the cgroup and /proc).

use crate::cli::{StatsArgs, TopArgs};
use crate::container::Record;
use crate::ctx::Ctx;
use crate::format::{Table, human_size};
use crate::launch;
use crate::monitor;
use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

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

/// `ps`'s TIME: cumulative CPU time as `[DD-]HH:MM:SS`.
fn cpu_time(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// `ps`'s STIME (in UTC): `HH:MM` today, `MonDD` before.
fn start_time(started: u64, now: u64) -> String {
    let fmt = |t: u64| {
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(t))
            .to_string()
    };
    let (s, n) = (fmt(started), fmt(now));
    if s[..10] == n[..10] {
        return s[11..16].to_owned();
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month: usize = s[5..7].parse().unwrap_or(1);
    format!("{}{}", MONTHS[month.saturating_sub(1) % 12], &s[8..10])
}

/// One `ps -ef` row of a host process.
fn ps_row(
    pid: u32,
    users: &HashMap<u32, String>,
    hz: u64,
    boot: u64,
    up: f64,
) -> Option<Vec<String>> {
    let (comm, f) = stat_fields(pid)?;
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let ppid = num(1);
    let tty = num(4);
    let cpu_ticks = num(11) + num(12);
    let start_ticks = num(19);
    let elapsed = up - start_ticks as f64 / hz as f64;
    let c = if elapsed > 0.0 {
        ((cpu_ticks as f64 / hz as f64) / elapsed * 100.0) as u64
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
    let cmd = if args.is_empty() {
        format!("[{comm}]")
    } else {
        args.join(" ")
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some(vec![
        users.get(&uid).cloned().unwrap_or_else(|| uid.to_string()),
        pid.to_string(),
        ppid.to_string(),
        c.to_string(),
        start_time(boot + start_ticks / hz, now),
        tty_name(tty),
        cpu_time(cpu_ticks / hz),
        cmd,
    ])
}

pub(crate) fn top(ctx: &Ctx, args: &TopArgs) -> Result<()> {
    let rec = monitor::lookup(ctx, &args.container)?;
    if !monitor::is_active(&rec) {
        bail!("container {} is not running", rec.id);
    }
    let pids = launch::cgroup_of(&rec)?.pids()?;
    let (users, hz, boot, up) = (user_names(), clock_ticks(), boot_time(), uptime_secs());
    let mut t = Table::new(&["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    for pid in pids {
        if let Some(row) = ps_row(pid, &users, hz, boot, up) {
            t.row(row);
        }
    }
    print!("{}", t.render());
    Ok(())
}

/// Docker's `units.BytesSize`: binary units, four significant digits (`1.523MiB`).
pub(crate) fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let decimals = if v < 10.0 {
        3
    } else if v < 100.0 {
        2
    } else if v < 1000.0 {
        1
    } else {
        0
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", UNITS[unit])
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
    let mut rx = 0;
    let mut tx = 0;
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
    let mut r = 0;
    let mut w = 0;
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

/// One sample of a container's usage.
#[derive(Debug, Clone, Default)]
struct Sample {
    cpu_ns: u64,
    at: Option<Instant>,
    mem: u64,
    mem_limit: u64,
    net: (u64, u64),
    block: (u64, u64),
    pids: u64,
}

fn sample(rec: &Record, host_mem: u64) -> Sample {
    let mut s = Sample {
        at: Some(Instant::now()),
        mem_limit: host_mem,
        ..Sample::default()
    };
    if !monitor::is_active(rec) {
        return s;
    }
    if let Ok(cg) = launch::cgroup_of(rec) {
        if let Ok(st) = cg.stats() {
            if let Some(c) = st.cpu {
                s.cpu_ns = c.usage_ns;
            }
            if let Some(m) = st.memory {
                s.mem = m.usage.saturating_sub(m.inactive_file.unwrap_or(0));
                if let Some(l) = m.limit.filter(|l| *l > 0 && *l < host_mem.max(1)) {
                    s.mem_limit = l;
                }
            }
            if let Some(p) = st.pids {
                s.pids = p.current;
            }
        }
        let pids = cg.pids().unwrap_or_default();
        s.block = block_io(&pids);
    }
    s.net = net_io(rec.state.pid);
    s
}

fn stats_row(rec: &Record, prev: Option<&Sample>, now: &Sample, trunc: bool) -> Value {
    let cpu = match (prev, prev.and_then(|p| p.at), now.at) {
        (Some(p), Some(t0), Some(t1)) if t1 > t0 && now.cpu_ns >= p.cpu_ns => {
            (now.cpu_ns - p.cpu_ns) as f64 / (t1 - t0).as_nanos() as f64 * 100.0
        }
        _ => 0.0,
    };
    let mem_perc = if now.mem_limit > 0 {
        now.mem as f64 / now.mem_limit as f64 * 100.0
    } else {
        0.0
    };
    let id = if trunc { &rec.id[..12] } else { &rec.id };
    json!({
        "Container": id,
        "ID": id,
        "Name": rec.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(now.mem), bytes_size(now.mem_limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(now.net.0), human_size(now.net.1)),
        "BlockIO": format!("{} / {}", human_size(now.block.0), human_size(now.block.1)),
        "PIDs": now.pids.to_string(),
    })
}

const STATS_HEADERS: [(&str, &str); 9] = [
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

fn print_stats(rows: &[Value], format: Option<&str>) -> Result<()> {
    if let Some(f) = format {
        return crate::cmd::ps::print_formatted(f, rows, &STATS_HEADERS);
    }
    let mut t = Table::new(&[
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ]);
    for r in rows {
        let cell = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        t.row(vec![
            cell("ID"),
            cell("Name"),
            cell("CPUPerc"),
            cell("MemUsage"),
            cell("MemPerc"),
            cell("NetIO"),
            cell("BlockIO"),
            cell("PIDs"),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

/// The containers `stats` shows: those named, or every running one (all with `-a`).
fn stats_targets(ctx: &Ctx, args: &StatsArgs) -> Result<Vec<Record>> {
    if args.containers.is_empty() {
        return Ok(monitor::sweep(ctx)?
            .into_iter()
            .filter(|r| args.all || monitor::is_active(r))
            .collect());
    }
    args.containers
        .iter()
        .map(|n| monitor::lookup(ctx, n))
        .collect()
}

/// Time between the two samples of `--no-stream` (CPU % needs a delta) and between
/// refreshes of the live view.
const INTERVAL: Duration = Duration::from_millis(1000);

pub(crate) fn stats(ctx: &Ctx, args: &StatsArgs) -> Result<()> {
    let host_mem = host_memory();
    let trunc = !args.no_trunc;
    let mut prev: HashMap<String, Sample> = HashMap::new();
    let mut first = true;
    loop {
        let recs = stats_targets(ctx, args)?;
        let samples: Vec<Sample> = recs.iter().map(|r| sample(r, host_mem)).collect();
        if first && args.no_stream {
            // CPU % is a rate: take a second sample.
            for (r, s) in recs.iter().zip(&samples) {
                prev.insert(r.id.clone(), s.clone());
            }
            std::thread::sleep(INTERVAL / 2);
            first = false;
            continue;
        }
        let rows: Vec<Value> = recs
            .iter()
            .zip(&samples)
            .map(|(r, s)| stats_row(r, prev.get(&r.id), s, trunc))
            .collect();
        if !args.no_stream {
            // Clear the screen and go home, as docker's live view does.
            print!("\x1b[2J\x1b[H");
        }
        print_stats(&rows, args.format.as_deref())?;
        if args.no_stream {
            return Ok(());
        }
        {
            use std::io::Write;
            std::io::stdout().flush()?;
        }
        prev = recs
            .iter()
            .zip(samples)
            .map(|(r, s)| (r.id.clone(), s))
            .collect();
        first = false;
        std::thread::sleep(INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_like_docker() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(1_597_440), "1.523MiB");
        assert_eq!(bytes_size(8_200_000_000), "7.637GiB");
        assert_eq!(bytes_size(200 * 1024 * 1024), "200MiB");
    }

    #[test]
    fn ps_columns() {
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(3725), "01:02:05");
        assert_eq!(cpu_time(90000), "1-01:00:00");
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        // 2026-01-02T03:04:05Z, "now" the same day and a day later.
        assert_eq!(start_time(1_767_323_045, 1_767_323_100), "03:04");
        assert_eq!(start_time(1_767_323_045, 1_767_409_445), "Jan02");
    }

    #[test]
    fn top_row_of_ourselves() {
        let users = user_names();
        let row = ps_row(
            std::process::id(),
            &users,
            clock_ticks(),
            boot_time(),
            uptime_secs(),
        )
        .unwrap();
        assert_eq!(row.len(), 8);
        assert_eq!(row[1], std::process::id().to_string());
        assert!(!row[7].is_empty());
    }
}
