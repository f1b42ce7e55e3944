//! Where the time of an operation goes: phases recorded with the host's monotonic clock
//! (shared with the container's init, whose own phases are merged in), turned into a
//! table of durations for `--log-level debug`.

use std::sync::Mutex;

/// One phase of a traced operation.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseTime {
    /// What ended at this point.
    pub name: String,
    /// Milliseconds since the engine was created.
    pub at_ms: f64,
    /// Milliseconds since the phase before.
    pub took_ms: f64,
}

/// The recorder behind [`Engine::phases`](crate::Engine::phases).
#[derive(Debug)]
pub(crate) struct Trace {
    t0: u64,
    marks: Mutex<Vec<isolate::Phase>>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            t0: isolate::monotonic_ns(),
            marks: Mutex::new(Vec::new()),
        }
    }
}

impl Trace {
    pub(crate) fn mark(&self, name: &str) {
        let at_ns = isolate::monotonic_ns();
        if let Ok(mut m) = self.marks.lock() {
            m.push(isolate::Phase {
                name: name.to_owned(),
                at_ns,
            });
        }
    }

    pub(crate) fn extend(&self, phases: &[isolate::Phase]) {
        if let Ok(mut m) = self.marks.lock() {
            m.extend_from_slice(phases);
        }
    }

    pub(crate) fn take(&self) -> Vec<PhaseTime> {
        let mut marks = self
            .marks
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        table(self.t0, &mut marks)
    }
}

/// Sorts the marks by time and turns them into durations from `t0`.
fn table(t0: u64, marks: &mut [isolate::Phase]) -> Vec<PhaseTime> {
    marks.sort_by_key(|m| m.at_ns);
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut prev = t0;
    marks
        .iter()
        .map(|m| {
            let p = PhaseTime {
                name: m.name.clone(),
                at_ms: ms(m.at_ns.saturating_sub(t0)),
                took_ms: ms(m.at_ns.saturating_sub(prev)),
            };
            prev = prev.max(m.at_ns);
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_ordered_and_measured_from_the_one_before() {
        let p = |name: &str, at_ns| isolate::Phase {
            name: name.into(),
            at_ns,
        };
        let mut marks = vec![p("c", 4_500_000), p("a", 1_000_000), p("b", 2_000_000)];
        let t = table(500_000, &mut marks);
        let names: Vec<_> = t.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let took: Vec<_> = t.iter().map(|x| x.took_ms).collect();
        assert_eq!(took, [0.5, 1.0, 2.5]);
        assert_eq!(t[2].at_ms, 4.0);
    }
}
