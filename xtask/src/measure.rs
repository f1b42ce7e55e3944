//! Running a command and measuring its wall time and peak resident set size (the largest
//! RSS among the process and the descendants it waited for, as `wait4(2)` reports it),
//! running several cases side by side (interleaved, so a change of machine load hits them
//! all alike), medians, and Markdown tables.

use anyhow::{Context, Result, bail};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long one measured command may run before it is killed (and the case reported as
/// failed): generous, it only keeps a hung tool from hanging the benchmark.
const TIMEOUT: Duration = Duration::from_secs(600);

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) wall: Duration,
    /// User plus system CPU time of the process and the descendants it waited for.
    pub(crate) cpu: Duration,
    pub(crate) max_rss_kib: u64,
}

/// Runs `cmd` to completion with its output discarded (stderr kept for the error) and
/// measures it. A failing command is an error: a benchmark never reports a broken run.
pub(crate) fn run(cmd: &mut Command) -> Result<Sample> {
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    run_with(cmd, TIMEOUT).map(|(s, _)| s)
}

/// Runs `cmd` (stdin and stdout as the caller set them; stderr captured) and measures it;
/// kills it after `timeout`. Returns the sample and the captured stderr.
pub(crate) fn run_with(cmd: &mut Command, timeout: Duration) -> Result<(Sample, Vec<u8>)> {
    let start = Instant::now();
    let child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    // A pidfd names this very process even once it is reaped, so the watchdog below can
    // never signal a recycled PID.
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
    // passed.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if pidfd >= 0
            && matches!(
                done_rx.recv_timeout(timeout),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            )
        {
            // SAFETY: `pidfd` is our open pidfd; a null siginfo is allowed.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd,
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            return true;
        }
        false
    });
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
    let waited = loop {
        // SAFETY: `pid` is our own unwaited child; `status` and `usage` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            break Err(err);
        }
    };
    let wall = start.elapsed();
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    if pidfd >= 0 {
        // SAFETY: we own `pidfd` and nothing uses it any more (the watchdog has ended).
        unsafe { libc::close(pidfd) };
    }
    waited.context("wait4")?;
    let err = reader.join().unwrap_or_default();
    let status = std::process::ExitStatus::from_raw(status);
    if timed_out {
        bail!("{} timed out after {timeout:?}", show(cmd));
    }
    if !status.success() {
        // The stderr is the root cause (a table cell shows just that), the command line
        // the context.
        return Err(anyhow::anyhow!(
            "{}",
            last_lines(&String::from_utf8_lossy(&err), 3)
        ))
        .with_context(|| format!("{} failed ({status})", show(cmd)));
    }
    Ok((
        Sample {
            wall,
            cpu: cpu_time(&usage.ru_utime) + cpu_time(&usage.ru_stime),
            max_rss_kib: usage.ru_maxrss as u64,
        },
        err,
    ))
}

fn cpu_time(t: &libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// The last `n` non-empty lines of `text`, joined with " | ".
pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// The median of the samples' wall times, of their CPU times and of their peak RSS
/// (taken separately; the upper median for an even count).
pub(crate) fn median(samples: &[Sample]) -> Sample {
    fn mid<T: Ord + Copy + Default>(mut v: Vec<T>) -> T {
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    }
    Sample {
        wall: mid(samples.iter().map(|s| s.wall).collect()),
        cpu: mid(samples.iter().map(|s| s.cpu).collect()),
        max_rss_kib: mid(samples.iter().map(|s| s.max_rss_kib).collect()),
    }
}

/// The 90th percentile of the wall times (nearest rank: the smallest sample that at least
/// 90% of the samples do not exceed).
pub(crate) fn p90(samples: &[Sample]) -> Duration {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    let rank = (walls.len() * 9).div_ceil(10);
    walls
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into a flag ([`interrupted`]) so that the benchmark stops at
/// the next sample and its guards clean up. A handler (unlike `SIG_IGN`) is reset by
/// `execve`, so the measured commands still die of a Ctrl-C sent to the process group.
pub(crate) fn catch_interrupts() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_interrupt` is an `extern "C" fn(c_int)` that only stores to an
        // atomic, which is async-signal-safe; `signal` installs it with BSD semantics.
        unsafe {
            libc::signal(
                signal,
                on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
}

/// Whether SIGINT or SIGTERM arrived since [`catch_interrupts`].
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What a row reports.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Medians over `runs` samples; `p90` and `rss_kib` are `None` for derived figures,
    /// `cpu` when a figure has none.
    Measured {
        wall: Duration,
        p90: Option<Duration>,
        cpu: Option<Duration>,
        rss_kib: Option<u64>,
        runs: usize,
    },
    /// The tool could not run here (with the reason).
    Unavailable(String),
}

/// A result row: what was measured, how, and its outcome.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) name: String,
    /// The exact invocation (of the first sample), or how a derived figure was computed.
    pub(crate) command: String,
    pub(crate) outcome: Outcome,
}

impl Row {
    pub(crate) fn unavailable(name: &str, command: &str, reason: &str) -> Row {
        Row {
            name: name.to_owned(),
            command: command.to_owned(),
            outcome: Outcome::Unavailable(reason.to_owned()),
        }
    }

    pub(crate) fn wall(&self) -> Option<Duration> {
        match self.outcome {
            Outcome::Measured { wall, .. } => Some(wall),
            Outcome::Unavailable(_) => None,
        }
    }

    pub(crate) fn cpu(&self) -> Option<Duration> {
        match self.outcome {
            Outcome::Measured { cpu, .. } => cpu,
            Outcome::Unavailable(_) => None,
        }
    }
}

/// Untimed work around each sample (preparing a fresh root, removing what it made).
pub(crate) type Hook<'a> = Box<dyn FnMut(usize) -> Result<()> + 'a>;

/// One contender of a comparison.
pub(crate) struct Case<'a> {
    pub(crate) name: String,
    /// The timed command of sample `i`.
    pub(crate) command: Box<dyn FnMut(usize) -> Command + 'a>,
    /// Untimed, before sample `i`.
    pub(crate) before: Option<Hook<'a>>,
    /// Untimed, after sample `i`, even when it failed.
    pub(crate) after: Option<Hook<'a>>,
    /// Set when the tool cannot run here: the case is reported as n/a with this reason.
    pub(crate) unavailable: Option<String>,
}

impl<'a> Case<'a> {
    pub(crate) fn new(name: &str, command: impl FnMut(usize) -> Command + 'a) -> Self {
        Case {
            name: name.to_owned(),
            command: Box::new(command),
            before: None,
            after: None,
            unavailable: None,
        }
    }

    pub(crate) fn before(mut self, hook: impl FnMut(usize) -> Result<()> + 'a) -> Self {
        self.before = Some(Box::new(hook));
        self
    }

    pub(crate) fn after(mut self, hook: impl FnMut(usize) -> Result<()> + 'a) -> Self {
        self.after = Some(Box::new(hook));
        self
    }

    pub(crate) fn unavailable_if(mut self, reason: Option<String>) -> Self {
        self.unavailable = reason;
        self
    }
}

/// The order of the cases in round `round` of `n` cases: the rows of a Williams square
/// (0, 1, n-1, 2, n-2... plus the round number, and for an odd `n` the same rows reversed
/// in the next `n` rounds). Within each `n` rounds (`2n` for an odd `n`), each case comes
/// right after each other case equally often, which rotating one fixed order does not do:
/// with it, a case follows the same neighbour in every round but one.
fn round_order(n: usize, round: usize) -> Vec<usize> {
    let base = (0..n).map(|j| {
        if j % 2 == 1 {
            j.div_ceil(2)
        } else {
            (n - j / 2) % n
        }
    });
    let row: Vec<usize> = base.map(|b| (b + round) % n).collect();
    if n % 2 == 1 && (round / n) % 2 == 1 {
        row.into_iter().rev().collect()
    } else {
        row
    }
}

/// Runs every case `runs` times, interleaved (sample 0 of each case, then sample 1 of
/// each...), and returns one row per case in the given order. A case whose hook or command
/// fails stops there and is reported as n/a with the error.
pub(crate) fn compare(runs: usize, mut cases: Vec<Case<'_>>) -> Vec<Row> {
    struct State {
        samples: Vec<Sample>,
        command: String,
        failed: Option<String>,
    }
    let mut states: Vec<State> = cases
        .iter_mut()
        .map(|c| State {
            samples: Vec::new(),
            command: show(&(c.command)(0)),
            failed: c.unavailable.clone(),
        })
        .collect();
    let n = cases.len();
    for i in 0..runs {
        // The rounds' orders make a Williams square, so that every case follows each of
        // the others equally often: a case run right after a heavy one (podman) finds the
        // CPU caches cold, and a fixed order charged that to the same case every time.
        for j in round_order(n, i) {
            let (case, state) = (&mut cases[j], &mut states[j]);
            if state.failed.is_some() {
                continue;
            }
            if interrupted() {
                state.failed = Some("interrupted".to_owned());
                continue;
            }
            let mut cmd = (case.command)(i);
            let result = (|| -> Result<Sample> {
                if let Some(before) = case.before.as_mut() {
                    before(i).context("preparing the sample")?;
                }
                run(&mut cmd)
            })();
            let after = case
                .after
                .as_mut()
                .map(|after| after(i).context("cleaning up after the sample"))
                .unwrap_or(Ok(()));
            match result.and_then(|s| after.map(|()| s)) {
                Ok(s) => {
                    eprintln!(
                        "xtask: bench: {} [{}/{runs}] {} (peak RSS {:.1} MB)",
                        case.name,
                        i + 1,
                        fmt_duration(s.wall),
                        s.max_rss_kib as f64 / 1024.0
                    );
                    state.samples.push(s);
                }
                Err(e) => {
                    eprintln!(
                        "xtask: bench: {} failed: {}",
                        case.name,
                        one_line(&format!("{e:#}"))
                    );
                    state.failed = Some(one_line(&format!("failed: {}", e.root_cause())));
                }
            }
        }
    }
    cases
        .iter()
        .zip(states)
        .map(|(case, s)| {
            let outcome = match s.failed {
                Some(reason) => Outcome::Unavailable(reason),
                None => {
                    let m = median(&s.samples);
                    Outcome::Measured {
                        wall: m.wall,
                        p90: Some(p90(&s.samples)),
                        cpu: Some(m.cpu),
                        rss_kib: Some(m.max_rss_kib),
                        runs: s.samples.len(),
                    }
                }
            };
            Row {
                name: case.name.clone(),
                command: s.command,
                outcome,
            }
        })
        .collect()
}

/// Collapses whitespace runs (newlines included) and caps the length, for table cells.
pub(crate) fn one_line(text: &str) -> String {
    let s = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 300 {
        let cut: String = s.chars().take(300).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// A command line as a shell would take it: environment assignments, program, arguments,
/// each quoted when needed.
pub(crate) fn show(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            parts.push(format!(
                "{}={}",
                k.to_string_lossy(),
                quote(&v.to_string_lossy())
            ));
        }
    }
    parts.push(quote(&cmd.get_program().to_string_lossy()));
    parts.extend(cmd.get_args().map(|a| quote(&a.to_string_lossy())));
    parts.join(" ")
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The table of `rows`, with wall-time ratios relative to `rows[0]` (mydocker).
pub(crate) fn table(title: &str, rows: &[Row]) -> String {
    let mut out = format!("\n### {title}\n\n");
    out.push_str(
        "| tool | median wall | p90 wall | ratio to first row | median CPU | CPU ratio | peak RSS | runs |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let ratio = |x: Option<Duration>, base: Option<Duration>| match (x, base) {
        (Some(x), Some(b)) if !b.is_zero() => format!("{:.2}x", x.as_secs_f64() / b.as_secs_f64()),
        (Some(_), _) => "n/a".to_owned(),
        (None, _) => "-".to_owned(),
    };
    let (base, base_cpu) = rows.first().map_or((None, None), |r| (r.wall(), r.cpu()));
    for r in rows {
        match &r.outcome {
            Outcome::Measured {
                wall,
                p90,
                cpu,
                rss_kib,
                runs,
            } => {
                let rss = rss_kib
                    .map(|k| format!("{:.1} MB", k as f64 / 1024.0))
                    .unwrap_or_else(|| "-".to_owned());
                let p90 = p90.map(fmt_duration).unwrap_or_else(|| "-".to_owned());
                out.push_str(&format!(
                    "| {} | {} | {p90} | {} | {} | {} | {rss} | {runs} |\n",
                    r.name,
                    fmt_duration(*wall),
                    ratio(Some(*wall), base),
                    cpu.map(fmt_duration).unwrap_or_else(|| "-".to_owned()),
                    ratio(*cpu, base_cpu),
                ));
            }
            Outcome::Unavailable(reason) => {
                out.push_str(&format!(
                    "| {} | n/a ({}) | | | | | | 0 |\n",
                    r.name,
                    reason.replace('|', "/")
                ));
            }
        }
    }
    out
}

/// The exact invocations behind `rows`, as a list under a table.
pub(crate) fn commands(rows: &[Row]) -> String {
    let mut out = String::from("\nCommands:\n");
    for r in rows {
        out.push_str(&format!("- {}: `{}`\n", r.name, r.command));
    }
    out
}

/// A throughput table: medians in MB/s (higher is better), ratio to `rows[0]`.
/// A throughput row: name, command, and median MB/s with its run count (or why not).
pub(crate) type RateRow = (String, String, Result<(f64, usize), String>);

pub(crate) fn throughput_table(title: &str, rows: &[RateRow]) -> String {
    let mut out = format!("\n### {title}\n\n");
    out.push_str("| path | median throughput | ratio to first row | runs |\n");
    out.push_str("|---|---:|---:|---:|\n");
    let base = rows
        .first()
        .and_then(|r| r.2.as_ref().ok().map(|(v, _)| *v));
    for (name, _, result) in rows {
        match result {
            Ok((mbps, runs)) => {
                let ratio = match base {
                    Some(b) if b > 0.0 => format!("{:.2}x", mbps / b),
                    _ => "n/a".to_owned(),
                };
                out.push_str(&format!("| {name} | {mbps:.0} MB/s | {ratio} | {runs} |\n"));
            }
            Err(reason) => out.push_str(&format!(
                "| {name} | n/a ({}) | | 0 |\n",
                reason.replace('|', "/")
            )),
        }
    }
    out.push_str("\nCommands:\n");
    for (name, command, _) in rows {
        out.push_str(&format!("- {name}: `{command}`\n"));
    }
    out
}

/// The median of plain numbers.
pub(crate) fn median_f64(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, rss: u64) -> Sample {
        Sample {
            wall: Duration::from_millis(ms),
            cpu: Duration::from_millis(100 - ms),
            max_rss_kib: rss,
        }
    }

    #[test]
    fn median_takes_the_middle_of_each_column_separately() {
        let m = median(&[sample(30, 1), sample(10, 3), sample(20, 2)]);
        assert_eq!(m.wall, Duration::from_millis(20));
        assert_eq!(m.cpu, Duration::from_millis(80));
        assert_eq!(m.max_rss_kib, 2);
        assert_eq!(median_f64(&[3.0, 1.0, 2.0, 9.0, 0.5]), 2.0);
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        let ten: Vec<Sample> = (1..=10).map(|ms| sample(ms, 0)).collect();
        assert_eq!(p90(&ten), Duration::from_millis(9));
        let twenty: Vec<Sample> = (1..=20).rev().map(|ms| sample(ms, 0)).collect();
        assert_eq!(p90(&twenty), Duration::from_millis(18));
        assert_eq!(p90(&[sample(7, 0)]), Duration::from_millis(7));
        assert_eq!(p90(&[]), Duration::ZERO);
    }

    #[test]
    fn show_quotes_what_a_shell_would_split() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo it's $x"]).arg("plain-arg=1");
        assert_eq!(show(&c), r"sh -c 'echo it'\''s $x' plain-arg=1");
        let mut c = Command::new("env");
        c.env("A", "b c");
        assert_eq!(show(&c), "A='b c' env");
    }

    #[test]
    fn table_gives_ratios_to_the_first_row_and_reasons_for_missing_tools() {
        let rows = vec![
            Row {
                name: "mydocker".into(),
                command: "mydocker pull x".into(),
                outcome: Outcome::Measured {
                    wall: Duration::from_millis(200),
                    p90: Some(Duration::from_millis(250)),
                    cpu: Some(Duration::from_millis(100)),
                    rss_kib: Some(2048),
                    runs: 5,
                },
            },
            Row {
                name: "peer".into(),
                command: "peer x".into(),
                outcome: Outcome::Measured {
                    wall: Duration::from_millis(500),
                    p90: None,
                    cpu: None,
                    rss_kib: None,
                    runs: 5,
                },
            },
            Row::unavailable("podman", "podman pull x", "crun: cgroup v1 | hybrid"),
        ];
        let t = table("pull", &rows);
        assert!(
            t.contains(
                "| mydocker | 200.0 ms | 250.0 ms | 1.00x | 100.0 ms | 1.00x | 2.0 MB | 5 |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| peer | 500.0 ms | - | 2.50x | - | - | - | 5 |"),
            "{t}"
        );
        assert!(
            t.contains("| podman | n/a (crun: cgroup v1 / hybrid) | | | | | | 0 |"),
            "{t}"
        );
        assert!(commands(&rows).contains("- podman: `podman pull x`"));
    }

    #[test]
    fn run_measures_a_real_command_and_reports_failures_with_stderr() {
        let s = run(Command::new("sh").args(["-c", "sleep 0.05"])).unwrap();
        assert!(s.wall >= Duration::from_millis(50));
        // Sleeping is not running: the CPU time is the shell's start-up only.
        assert!(s.cpu < s.wall, "{s:?}");
        let busy = run(
            Command::new("sh").args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
        )
        .unwrap();
        assert!(busy.cpu > Duration::ZERO, "{busy:?}");
        assert!(s.max_rss_kib > 0);
        let e = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("boom") && e.contains("exit status: 3"), "{e}");
    }

    #[test]
    fn run_kills_a_command_past_its_timeout() {
        let mut c = Command::new("sleep");
        c.arg("30").stdout(Stdio::null());
        let e = run_with(&mut c, Duration::from_millis(100)).unwrap_err();
        assert!(format!("{e:#}").contains("timed out"), "{e:#}");
    }

    /// Every round is an order of all the cases, and within a period each case follows
    /// each other case equally often (a rotation of one order fails this for n > 3).
    #[test]
    fn each_case_follows_every_other_equally_often() {
        for n in 1..=8 {
            let period = if n % 2 == 1 { 2 * n } else { n };
            let mut follows = vec![vec![0; n]; n];
            for round in 0..period {
                let order = round_order(n, round);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n={n} round {round}");
                for w in order.windows(2) {
                    follows[w[0]][w[1]] += 1;
                }
            }
            let counts: std::collections::BTreeSet<usize> = (0..n)
                .flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b)))
                .map(|(a, b)| follows[a][b])
                .collect();
            assert!(counts.len() <= 1, "n={n}: {follows:?}");
        }
    }

    #[test]
    fn compare_interleaves_and_reorders_cases_and_turns_failures_into_na_rows() {
        let order = std::cell::RefCell::new(Vec::new());
        let rows = compare(
            2,
            vec![
                Case::new("a", |_| Command::new("true")).before(|i| {
                    order.borrow_mut().push(format!("a{i}"));
                    Ok(())
                }),
                Case::new("b", |_| Command::new("false")),
                Case::new("c", |_| Command::new("true"))
                    .before(|i| {
                        order.borrow_mut().push(format!("c{i}"));
                        Ok(())
                    })
                    .unavailable_if(None),
                Case::new("d", |_| Command::new("true")).unavailable_if(Some("not here".into())),
            ],
        );
        // Round 0 runs a, b, d, c; round 1 runs b, c, a, d: c before a.
        assert_eq!(*order.borrow(), ["a0", "c0", "c1", "a1"]);
        assert!(matches!(rows[0].outcome, Outcome::Measured { runs: 2, .. }));
        assert!(matches!(&rows[1].outcome, Outcome::Unavailable(r) if r.starts_with("failed")));
        assert!(matches!(&rows[3].outcome, Outcome::Unavailable(r) if r == "not here"));
        assert_eq!(rows[0].command, "true");
    }
}
