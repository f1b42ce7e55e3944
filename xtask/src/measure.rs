//! Running a command and measuring its wall time and peak resident set size (the largest
//! RSS among the process and the descendants it waited for, as `wait4(2)` reports it).

use anyhow::{Context, Result, bail};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    pub(crate) max_rss_kib: u64,
}

/// Runs `cmd` to completion with its output discarded (stderr kept on failure) and
/// measures it. A failing command is an error: a benchmark never reports a broken run.
pub(crate) fn run(cmd: &mut Command) -> Result<Sample> {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr;
    // Drain stderr on a thread so a chatty command cannot block on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = stderr.as_mut() {
            let _ = std::io::Read::read_to_end(e, &mut buf);
        }
        buf
    });
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unwaited child; `status` and `usage` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let wall = start.elapsed();
    let err = reader.join().unwrap_or_default();
    let status = std::process::ExitStatus::from_raw(status);
    if !status.success() {
        bail!(
            "{:?} failed ({status}): {}",
            cmd.get_program(),
            String::from_utf8_lossy(&err).trim()
        );
    }
    Ok(Sample {
        wall,
        max_rss_kib: usage.ru_maxrss as u64,
    })
}

/// The median of the samples' wall times and of their peak RSS (taken separately).
pub(crate) fn median(samples: &[Sample]) -> Sample {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    let mut rss: Vec<u64> = samples.iter().map(|s| s.max_rss_kib).collect();
    walls.sort();
    rss.sort();
    Sample {
        wall: walls.get(walls.len() / 2).copied().unwrap_or_default(),
        max_rss_kib: rss.get(rss.len() / 2).copied().unwrap_or_default(),
    }
}

/// A result row: what was measured, its median, and its ratio to the first row's wall time.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) median: Sample,
    pub(crate) runs: usize,
}

/// Prints rows as a Markdown table (pasted as-is into closing notes), with wall-time ratios
/// relative to `rows[0]`.
pub(crate) fn print_table(title: &str, rows: &[Row]) {
    println!("\n### {title}\n");
    println!("| tool | median wall | ratio | peak RSS | runs |");
    println!("|---|---:|---:|---:|---:|");
    let base = rows.first().map(|r| r.median.wall.as_secs_f64()).unwrap_or(1.0);
    for r in rows {
        let w = r.median.wall.as_secs_f64();
        println!(
            "| {} | {} | {:.2}x | {:.1} MB | {} |",
            r.name,
            fmt_duration(r.median.wall),
            if base > 0.0 { w / base } else { 0.0 },
            r.median.max_rss_kib as f64 / 1024.0,
            r.runs
        );
    }
}

fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}
