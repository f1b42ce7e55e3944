//! Health checks (`--health-cmd` and friends, the image's `HEALTHCHECK`): the check's
//! configuration in docker's shape, the health state kept in the container's record
//! (`.State.Health` in `inspect`), and the prober the supervisor runs beside a running
//! container: every interval it runs the check inside the container (as `exec` would),
//! records the result and the container's status (`starting`, `healthy`, `unhealthy`
//! after `retries` failures in a row; failures in the start period do not count).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::Engine;
use crate::containers::Containers;
use crate::create::now_rfc3339;
use crate::error::{Error, Result};
use crate::record::{Record, Status};

/// Docker's default interval and timeout (30 s) and retries (3).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// The probes kept in the log, as docker.
const LOG_ENTRIES: usize = 5;
/// The output kept of a probe, as docker.
const MAX_OUTPUT: usize = 4096;

/// A health check, in docker's shape (`Config.Healthcheck`; durations in nanoseconds,
/// zero meaning "inherit, else the default").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` (inherit), `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(deserialize_with = "null_as_empty")]
    pub test: Vec<String>,
    /// Between two probes.
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: u64,
    /// A probe running longer fails.
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: u64,
    /// Failures in this time after the start do not count.
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: u64,
    /// Failures in a row that make the container unhealthy.
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: u32,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl HealthConfig {
    /// The check that applies: `flags` (from `--health-*`, `--no-healthcheck`) over the
    /// image's, field by field as docker merges them; `None` when there is none or it
    /// is disabled.
    pub fn effective(flags: Option<&HealthConfig>, image: Option<HealthConfig>) -> Option<Self> {
        let mut cfg = image.unwrap_or_default();
        if let Some(f) = flags {
            if !f.test.is_empty() {
                cfg.test = f.test.clone();
            }
            for (mine, theirs) in [
                (&mut cfg.interval, f.interval),
                (&mut cfg.timeout, f.timeout),
                (&mut cfg.start_period, f.start_period),
            ] {
                if theirs != 0 {
                    *mine = theirs;
                }
            }
            if f.retries != 0 {
                cfg.retries = f.retries;
            }
        }
        match cfg.test.first().map(String::as_str) {
            Some("CMD") if cfg.test.len() > 1 => Some(cfg),
            Some("CMD-SHELL") if cfg.test.len() == 2 => Some(cfg),
            _ => None,
        }
    }

    /// The image's check (`config.Healthcheck` of its config JSON).
    pub fn of_image(config: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(config.get("Healthcheck")?.clone()).ok()
    }

    /// Whether this configuration disables the image's check.
    pub fn disables(&self) -> bool {
        self.test.first().is_some_and(|t| t == "NONE")
    }

    fn command(&self) -> Vec<String> {
        match self.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), self.test[1].clone()],
            _ => self.test[1..].to_vec(),
        }
    }

    fn interval(&self) -> Duration {
        nonzero(self.interval).unwrap_or(DEFAULT_INTERVAL)
    }

    fn timeout(&self) -> Duration {
        nonzero(self.timeout).unwrap_or(DEFAULT_TIMEOUT)
    }

    fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }
}

fn nonzero(ns: u64) -> Option<Duration> {
    (ns != 0).then(|| Duration::from_nanos(ns))
}

/// A container's health (`.State.Health`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No verdict yet.
    Starting,
    /// The last probe passed.
    Healthy,
    /// `retries` probes failed in a row.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's name.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe (`.State.Health.Log[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// The check's exit code; -1 when it could not run or timed out.
    pub exit_code: i32,
    /// Its output (stdout and stderr), at most 4 KiB.
    pub output: String,
}

/// The health state kept in the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The verdict.
    pub status: HealthStatus,
    /// Failed probes in a row.
    pub failing_streak: u32,
    /// The last probes, oldest first.
    pub log: Vec<Probe>,
}

impl Health {
    /// A freshly started container's.
    pub fn starting() -> Self {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        }
    }

    /// Adds a probe's result; `counts` is false in the start period (a failure does not
    /// count then, a success still makes the container healthy).
    fn record(&mut self, probe: Probe, retries: u32, counts: bool) {
        if probe.exit_code == 0 {
            self.status = HealthStatus::Healthy;
            self.failing_streak = 0;
        } else if counts {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(probe);
        if self.log.len() > LOG_ENTRIES {
            let extra = self.log.len() - LOG_ENTRIES;
            self.log.drain(..extra);
        }
    }
}

/// Docker's `inspect` shape of [`Health`].
pub fn document(h: &Health) -> serde_json::Value {
    serde_json::json!({
        "Status": h.status.as_str(),
        "FailingStreak": h.failing_streak,
        "Log": h.log.iter().map(|p| serde_json::json!({
            "Start": p.start,
            "End": p.end,
            "ExitCode": p.exit_code,
            "Output": p.output,
        })).collect::<Vec<_>>(),
    })
}

/// A Go duration as docker's flags take them (`1m30s`, `500ms`, `1.5s`), in
/// nanoseconds.
///
/// # Errors
/// `time: invalid duration "..."` (Go's message).
pub fn parse_go_duration(s: &str) -> Result<u64> {
    let bad = || Error::Invalid(format!("time: invalid duration \"{s}\""));
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Ok(total as u64)
}

/// The prober of one run of a container (see the module docs); stopped when the
/// container exits.
#[derive(Debug)]
pub(crate) struct Prober {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Prober {
    /// Starts probing the run of container `rec` (running, with its init `rec.state.pid`)
    /// when it has a health check; records it as `starting`.
    pub(crate) fn start(engine: &Engine, rec: &Record) -> Option<Prober> {
        let image = HealthConfig::of_image(&crate::inspect::image_config(engine, rec));
        let cfg = HealthConfig::effective(rec.options.healthcheck.as_ref(), image)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let run = ProbeRun {
            engine: engine.clone(),
            id: rec.id.clone(),
            pid: (rec.state.pid, rec.state.pid_start),
            cfg,
            stop: Arc::clone(&stop),
        };
        if run.update(|h| *h = Health::starting()).is_err() {
            return None;
        }
        let thread = std::thread::Builder::new()
            .name("health".into())
            .spawn(move || run.main())
            .ok()?;
        Some(Prober {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops probing (a probe under way is waited for: it ends with the container).
    pub(crate) fn stop(mut self) {
        let (lock, cv) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct ProbeRun {
    engine: Engine,
    id: String,
    /// The init of the run probed (a record of another run is left alone).
    pid: (u32, u64),
    cfg: HealthConfig,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl ProbeRun {
    fn main(self) {
        let started = Instant::now();
        let start_period = nonzero(self.cfg.start_period).unwrap_or_default();
        while self.sleep(self.cfg.interval()) {
            let Ok(rec) = Containers::new(&self.engine.config.root).load(&self.id) else {
                return;
            };
            if (rec.state.pid, rec.state.pid_start) != self.pid {
                return;
            }
            if rec.state.status != Status::Running {
                continue; // paused: no probes, as docker
            }
            let probe = self.probe(&rec);
            let counts = started.elapsed() >= start_period;
            let retries = self.cfg.retries();
            if self.update(|h| h.record(probe, retries, counts)).is_err() {
                return;
            }
        }
    }

    /// Sleeps `d`; false when stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let (lock, cv) = &*self.stop;
        let Ok(guard) = lock.lock() else {
            return false;
        };
        match cv.wait_timeout_while(guard, d, |stopped| !*stopped) {
            Ok((stopped, _)) => !*stopped,
            Err(_) => false,
        }
    }

    /// Changes the health in the record of this run.
    fn update(&self, f: impl FnOnce(&mut Health)) -> Result<()> {
        let containers = Containers::new(&self.engine.config.root);
        let _lock = containers.lock(&self.id)?;
        let mut rec = containers.load(&self.id)?;
        if (rec.state.pid, rec.state.pid_start) != self.pid || !rec.is_active() {
            return Err(Error::State("the container's run ended".into()));
        }
        let health = rec.state.health.get_or_insert_with(Health::starting);
        f(health);
        containers.save(&rec)
    }

    /// Runs the check once inside the container.
    fn probe(&self, rec: &Record) -> Probe {
        let start = now_rfc3339();
        let timeout = self.cfg.timeout();
        let (exit_code, output) = match run_check(&self.engine, rec, self.cfg.command(), timeout) {
            Ok(Some(r)) => r,
            Ok(None) => (
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    humantime::format_duration(timeout)
                ),
            ),
            Err(e) => (-1, e.to_string()),
        };
        Probe {
            start,
            end: now_rfc3339(),
            exit_code,
            output,
        }
    }
}

/// Runs `command` in the container, its output (both streams) captured; `None` when it
/// ran longer than `timeout` (it is killed then).
fn run_check(
    engine: &Engine,
    rec: &Record,
    command: Vec<String>,
    timeout: Duration,
) -> Result<Option<(i32, String)>> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::os("pipe", e))?;
    let w2: OwnedFd = w.try_clone().map_err(|e| Error::os("dup", e))?;
    let mut running =
        engine.exec_probe(rec, command, isolate::Stdio::Fd(w), isolate::Stdio::Fd(w2))?;
    let deadline = Instant::now() + timeout;
    let done = Arc::new(AtomicBool::new(false));
    // The output is read by a thread (a background child of the check may keep the pipe
    // open); what it read by the end is kept.
    let out = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let out = Arc::clone(&out);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut f = std::fs::File::from(r);
            let mut buf = [0u8; 4096];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 || done.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(mut o) = out.lock()
                    && o.len() < MAX_OUTPUT
                {
                    let take = n.min(MAX_OUTPUT - o.len());
                    o.extend_from_slice(&buf[..take]);
                }
            }
        })
    };
    let pid = running.pid() as u32;
    let start = crate::record::process_start(pid).unwrap_or(0);
    let left = deadline.saturating_duration_since(Instant::now());
    let finished = crate::recovery::wait_exit(pid, start, Some(left));
    if !finished {
        let _ = running.signal(rustix::process::Signal::KILL.as_raw());
    }
    let status = running.wait().map_err(crate::error::from_isolate)?;
    // Give the reader a moment to drain what the check wrote, then leave it (it ends
    // with the pipe).
    let drain = Instant::now() + Duration::from_millis(200);
    while !reader.is_finished() && Instant::now() < drain {
        std::thread::sleep(Duration::from_millis(5));
    }
    done.store(true, Ordering::Relaxed);
    if !finished {
        return Ok(None);
    }
    let output = out
        .lock()
        .map(|o| String::from_utf8_lossy(&o).into_owned())
        .unwrap_or_default();
    Ok(Some((status.code(), output)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(code: i32) -> Probe {
        Probe {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1s").unwrap(), 1_000_000_000);
        assert_eq!(parse_go_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        for bad in ["", "5", "1x", "s", "1.2.3s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_override_the_image_field_by_field() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 5,
            retries: 7,
            ..Default::default()
        };
        let flags = HealthConfig {
            interval: 9,
            ..Default::default()
        };
        let eff = HealthConfig::effective(Some(&flags), Some(image.clone())).unwrap();
        assert_eq!(eff.test, ["CMD", "true"]);
        assert_eq!((eff.interval, eff.retries), (9, 7));
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert!(HealthConfig::effective(Some(&none), Some(image)).is_none());
        assert!(HealthConfig::effective(None, None).is_none());
        let cfg: HealthConfig = serde_json::from_value(serde_json::json!({
            "Test": ["CMD-SHELL", "exit 0"], "Interval": 1000, "Retries": 2
        }))
        .unwrap();
        assert_eq!(cfg.command(), ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(cfg.interval(), Duration::from_nanos(1000));
        assert_eq!(cfg.timeout(), DEFAULT_TIMEOUT);
    }

    #[test]
    fn the_verdict_follows_the_streak() {
        let mut h = Health::starting();
        h.record(probe(1), 2, false);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        h.record(probe(1), 2, true);
        assert_eq!(h.status, HealthStatus::Starting);
        h.record(probe(1), 2, true);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        h.record(probe(0), 2, true);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        for _ in 0..10 {
            h.record(probe(0), 2, true);
        }
        assert_eq!(h.log.len(), LOG_ENTRIES);
    }
}
