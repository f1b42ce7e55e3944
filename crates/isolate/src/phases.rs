//! Timestamps of the init's setup steps, for a caller that traces where the time of a
//! start goes (`SpawnOptions::trace`). The clock is `CLOCK_MONOTONIC`, which every
//! process of the host shares, so the caller can place the init's steps among its own.

use serde::{Deserialize, Serialize};

/// A step of the init's setup and when it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// What was done (`rootfs mounted`, `pivot_root`...).
    pub name: String,
    /// When it was done, in [`monotonic_ns`] time.
    pub at_ns: u64,
}

/// `CLOCK_MONOTONIC` in nanoseconds, comparable between the processes of this host.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// The init's recorder: does nothing unless tracing was asked for.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    on: bool,
    phases: Vec<Phase>,
}

impl Marks {
    pub(crate) fn new(on: bool, started_ns: u64) -> Self {
        let mut m = Marks {
            on,
            phases: Vec::new(),
        };
        if on {
            m.phases.push(Phase {
                name: "init running (exec'd, channel read)".into(),
                at_ns: started_ns,
            });
        }
        m
    }

    pub(crate) fn mark(&mut self, name: &str) {
        if self.on {
            self.phases.push(Phase {
                name: name.to_owned(),
                at_ns: monotonic_ns(),
            });
        }
    }

    pub(crate) fn take(&mut self) -> Option<Vec<Phase>> {
        self.on.then(|| std::mem::take(&mut self.phases))
    }
}
