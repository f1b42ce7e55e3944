//! Docker's pull/push progress display: one line per layer, redrawn in place on a terminal
//! (`Downloading [=====>      ]  1.234MB/5.678MB`), or one plain line per state change
//! otherwise (docker skips the byte-count updates when not on a terminal).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use engine::LayerStatus as Status;

/// Where progress goes. Shared between download threads.
pub(crate) enum Progress {
    /// `-q`: nothing.
    Quiet,
    /// Not a terminal: each state change once, as a line (on stderr when the flag is set).
    Plain(Mutex<HashMap<String, Status>>, bool),
    /// A terminal: one live line per layer.
    Tty {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
        /// Set by [`Progress::finish`]: later lines go below the final bars, as docker's.
        finished: std::sync::atomic::AtomicBool,
        to_stderr: bool,
    },
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Progress::Quiet => "Progress::Quiet",
            Progress::Plain(..) => "Progress::Plain",
            Progress::Tty { .. } => "Progress::Tty",
        })
    }
}

impl Progress {
    /// Chooses the display for stdout: quiet, terminal or plain.
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet {
            Progress::Quiet
        } else if std::io::stdout().is_terminal() {
            Progress::Tty {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10)),
                bars: Mutex::new(HashMap::new()),
                finished: std::sync::atomic::AtomicBool::new(false),
                to_stderr: false,
            }
        } else {
            Progress::Plain(Mutex::new(HashMap::new()), false)
        }
    }

    /// The same on stderr (`run` pulling an image: stdout belongs to the container).
    pub(crate) fn to_stderr(quiet: bool) -> Self {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Tty {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
                bars: Mutex::new(HashMap::new()),
                finished: std::sync::atomic::AtomicBool::new(false),
                to_stderr: true,
            }
        } else {
            Progress::Plain(Mutex::new(HashMap::new()), true)
        }
    }

    fn write_line(to_stderr: bool, text: &str) {
        if to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        } else {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }

    /// A line that is not about a layer (`latest: Pulling from library/busybox`).
    pub(crate) fn line(&self, text: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Plain(_, err) => Self::write_line(*err, text),
            Progress::Tty {
                multi,
                finished,
                to_stderr,
                ..
            } => {
                if finished.load(std::sync::atomic::Ordering::Relaxed) {
                    Self::write_line(*to_stderr, text);
                } else {
                    let _ = multi.println(text);
                }
            }
        }
    }

    /// Sets layer `id`'s state; `bytes` is `(current, total)` for progress states.
    pub(crate) fn update(&self, id: &str, status: Status, bytes: Option<(u64, u64)>) {
        match self {
            Progress::Quiet => {}
            Progress::Plain(seen, err) => {
                if status.carries_bytes() {
                    return;
                }
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.insert(id.to_owned(), status) != Some(status) {
                    Self::write_line(*err, &format!("{id}: {}", status.text()));
                }
            }
            Progress::Tty { multi, bars, .. } => {
                let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
                let bar = bars.entry(id.to_owned()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b
                });
                let mut msg = format!("{id}: {}", status.text());
                if let (true, Some((cur, total))) = (status.carries_bytes(), bytes) {
                    msg.push(' ');
                    msg.push_str(&bar_text(cur, total));
                }
                bar.set_message(msg);
            }
        }
    }

    /// Stops live redrawing, leaving the final lines on screen.
    pub(crate) fn done(&self) {
        if let Progress::Tty { bars, finished, .. } = self {
            let bars = bars.lock().unwrap_or_else(|p| p.into_inner());
            for b in bars.values() {
                b.tick();
                b.abandon();
            }
            finished.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl engine::Progress for Progress {
    fn line(&self, text: &str) {
        Progress::line(self, text);
    }

    fn layer(&self, id: &str, status: Status, bytes: Option<(u64, u64)>) {
        self.update(id, status, bytes);
    }

    fn finish(&self) {
        self.done();
    }
}

/// Docker's progress text: a 50-column bar and `current/total` in 4 significant digits.
pub(crate) fn bar_text(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", size4(current));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    format!(
        "[{}>{}] {:>8}/{}",
        "=".repeat(pct),
        " ".repeat(50 - pct),
        size4(current),
        size4(total)
    )
}

/// `units.HumanSize`: decimal units with four significant digits (`5.405MB`).
fn size4(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    let decimals = if v < 10.0 {
        3
    } else if v < 100.0 {
        2
    } else {
        1
    };
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_matches_docker() {
        let t = bar_text(2_702_000, 5_404_000);
        assert_eq!(
            t,
            format!("[{}>{}]  2.702MB/5.404MB", "=".repeat(25), " ".repeat(25))
        );
        assert!(bar_text(10, 10).starts_with(&format!("[{}>]", "=".repeat(50))));
        assert_eq!(size4(999), "999B");
        assert_eq!(size4(27_140_000), "27.14MB");
        assert_eq!(size4(1_000), "1kB");
    }
}
