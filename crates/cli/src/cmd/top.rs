//! `top` (the processes of a container, as `ps -ef` shows them) and `stats` (CPU,
//! memory, network, block I/O and PIDs), formatted from what the engine measures.

use crate::args::{StatsArgs, TopArgs};
use crate::ctx::Ctx;
use crate::format::{Table, human_size};
use anyhow::Result;
use engine::{Record, Usage};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

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

pub(crate) fn top(ctx: &Ctx, args: &TopArgs) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut t = Table::new(&["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    for p in ctx.engine.top(&args.container)? {
        let started = p
            .started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        t.row(vec![
            p.user,
            p.pid.to_string(),
            p.ppid.to_string(),
            p.cpu_percent.to_string(),
            start_time(started, now),
            p.tty,
            cpu_time(p.cpu_time.as_secs()),
            p.command,
        ]);
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

fn stats_row(rec: &Record, prev: Option<&Usage>, now: &Usage, trunc: bool) -> Value {
    let cpu = match (prev, prev.and_then(|p| p.at), now.at) {
        (Some(p), Some(t0), Some(t1)) if t1 > t0 && now.cpu_ns >= p.cpu_ns => {
            (now.cpu_ns - p.cpu_ns) as f64 / (t1 - t0).as_nanos() as f64 * 100.0
        }
        _ => 0.0,
    };
    let mem_perc = if now.memory_limit > 0 {
        now.memory as f64 / now.memory_limit as f64 * 100.0
    } else {
        0.0
    };
    let id = if trunc { &rec.id[..12] } else { &rec.id };
    json!({
        "Container": id,
        "ID": id,
        "Name": rec.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(now.memory), bytes_size(now.memory_limit)),
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
        return crate::format::print_formatted(f, rows, &STATS_HEADERS);
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
        return Ok(ctx
            .engine
            .containers()?
            .into_iter()
            .filter(|r| args.all || r.is_active())
            .collect());
    }
    Ok(args
        .containers
        .iter()
        .map(|n| ctx.engine.container(n))
        .collect::<Result<_, _>>()?)
}

/// Time between the two samples of `--no-stream` (CPU % needs a delta) and between
/// refreshes of the live view.
const INTERVAL: Duration = Duration::from_millis(1000);

pub(crate) fn stats(ctx: &Ctx, args: &StatsArgs) -> Result<()> {
    let trunc = !args.no_trunc;
    let mut prev: HashMap<String, Usage> = HashMap::new();
    let mut first = true;
    loop {
        let recs = stats_targets(ctx, args)?;
        let samples: Vec<Usage> = recs.iter().map(|r| ctx.engine.usage(r)).collect();
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
        // 2026-01-02T03:04:05Z, "now" the same day and a day later.
        assert_eq!(start_time(1_767_323_045, 1_767_323_100), "03:04");
        assert_eq!(start_time(1_767_323_045, 1_767_409_445), "Jan02");
    }
}
