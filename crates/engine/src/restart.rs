//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`): which exits
//! restart a container, and docker's back-off between restarts (100 ms, doubled at every
//! restart up to a minute, back to 100 ms after a run of 10 s or more).
//!
//! The owner of a detached container (its monitor's [`Supervisor`](crate::supervisor))
//! applies the policy when the container exits; `stop` and `kill` mark the container as
//! stopped by the user, which ends the loop; [`Engine::boot`] is the daemonless
//! equivalent of docker's daemon start, bringing back what a reboot ended.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Engine;
use crate::error::{Error, Result};
use crate::recovery::sweep;

/// The first delay before a restart.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay before a restart.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay to [`FIRST_DELAY`].
const RESET_AFTER: Duration = Duration::from_secs(10);

/// A container's restart policy (docker's `HostConfig.RestartPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name", content = "max_retries")]
pub enum RestartPolicy {
    /// Never restart (docker's `no`).
    #[default]
    No,
    /// Restart after a non-zero exit, at most `N` times (0: without limit).
    OnFailure(u32),
    /// Always restart, unless stopped by the user (a user-stopped one comes back at
    /// boot).
    Always,
    /// Always restart, unless stopped by the user (then not at boot either).
    UnlessStopped,
}

impl RestartPolicy {
    /// Parses docker's `--restart` value.
    ///
    /// # Errors
    /// Docker's messages: `invalid restart policy format: ...`, `invalid restart policy:
    /// unknown policy ...`.
    pub fn parse(s: &str) -> Result<Self> {
        let (name, count) = match s.split_once(':') {
            Some(("", _)) => {
                return Err(Error::Invalid(
                    "invalid restart policy format: no policy provided before colon".into(),
                ));
            }
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let count = match count {
            None | Some("") => None,
            Some(c) => Some(c.parse::<i64>().map_err(|_| {
                Error::Invalid(
                    "invalid restart policy format: maximum retry count must be an integer".into(),
                )
            })?),
        };
        let policy = match name {
            "" | "no" => RestartPolicy::No,
            "on-failure" => {
                let n = count.unwrap_or(0);
                if n < 0 {
                    return Err(Error::Invalid(
                        "invalid restart policy: maximum retry count cannot be negative".into(),
                    ));
                }
                return Ok(RestartPolicy::OnFailure(
                    u32::try_from(n).unwrap_or(u32::MAX),
                ));
            }
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            other => {
                return Err(Error::Invalid(format!(
                    "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
                )));
            }
        };
        if count.is_some_and(|c| c != 0) {
            return Err(Error::Invalid(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                    .into(),
            ));
        }
        Ok(policy)
    }

    /// Docker's name (`HostConfig.RestartPolicy.Name`).
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure(_) => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// `HostConfig.RestartPolicy.MaximumRetryCount`.
    pub fn max_retries(self) -> u32 {
        match self {
            RestartPolicy::OnFailure(n) => n,
            _ => 0,
        }
    }

    /// Whether the policy restarts at all.
    pub fn is_none(self) -> bool {
        self == RestartPolicy::No
    }

    /// Whether a container that exited with `code`, after `count` restarts, restarts
    /// (a container stopped by the user never does).
    pub fn should_restart(self, code: i32, count: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => code != 0 && (max == 0 || count < max),
        }
    }

    /// Whether [`Engine::boot`](crate::config::Engine::boot) starts a container that
    /// is not running: docker's daemon start brings back `always` containers (also
    /// those stopped by the user), `unless-stopped` ones not stopped by the user, and
    /// `on-failure` ones whose last exit was a failure within the retry limit.
    pub fn starts_at_boot(self, code: i32, count: u32, stopped_by_user: bool) -> bool {
        match self {
            RestartPolicy::Always => true,
            other => other.should_restart(code, count, stopped_by_user),
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::OnFailure(n) if *n > 0 => write!(f, "on-failure:{n}"),
            other => f.write_str(other.name()),
        }
    }
}

impl Engine {
    /// The daemonless equivalent of docker's daemon start, for a boot unit: every
    /// container whose owner is gone (a reboot, a killed monitor) is recorded as ended,
    /// then each container that was started before and whose restart policy brings it
    /// back ([`RestartPolicy::starts_at_boot`]) is started under a new monitor. Returns
    /// the names of the containers started, each with the outcome.
    ///
    /// # Errors
    /// The records cannot be read.
    pub fn boot(&self) -> Result<Vec<(String, Result<()>)>> {
        let mut out = Vec::new();
        let mut records = sweep(self)?;
        // Oldest first, as they were created.
        records.reverse();
        for rec in records {
            let st = &rec.state;
            if rec.is_active()
                || st.started_at.is_empty()
                || !rec.options.restart.starts_at_boot(
                    st.exit_code,
                    st.restart_count,
                    st.stopped_by_user,
                )
            {
                continue;
            }
            let started = self.start(&rec.id);
            out.push((rec.name, started));
        }
        Ok(out)
    }
}

/// Docker's back-off between restarts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Backoff {
    delay: Option<Duration>,
}

impl Backoff {
    /// The delay before the next restart of a container that ran for `ran`.
    pub(crate) fn next(&mut self, ran: Duration) -> Duration {
        let d = match self.delay {
            Some(d) if ran < RESET_AFTER => (d * 2).min(MAX_DELAY),
            _ => FIRST_DELAY,
        };
        self.delay = Some(d);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_with_dockers_messages() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), RestartPolicy::No);
        assert_eq!(
            RestartPolicy::parse("always").unwrap(),
            RestartPolicy::Always
        );
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap(),
            RestartPolicy::UnlessStopped
        );
        assert_eq!(
            RestartPolicy::parse("on-failure").unwrap(),
            RestartPolicy::OnFailure(0)
        );
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            RestartPolicy::OnFailure(3)
        );
        let err = |s: &str| RestartPolicy::parse(s).unwrap_err().to_string();
        assert!(err("sometimes").contains("unknown policy 'sometimes'"));
        assert!(err("on-failure:x").contains("must be an integer"));
        assert!(err("on-failure:-1").contains("cannot be negative"));
        assert!(err(":3").contains("no policy provided before colon"));
        assert!(err("always:3").contains("only be used with 'on-failure'"));
        assert_eq!(RestartPolicy::OnFailure(3).to_string(), "on-failure:3");
    }

    #[test]
    fn which_exits_restart() {
        let p = RestartPolicy::OnFailure(2);
        assert!(p.should_restart(1, 0, false));
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(RestartPolicy::OnFailure(0).should_restart(1, 1000, false));
        assert!(RestartPolicy::Always.should_restart(0, 5, false));
        assert!(!RestartPolicy::Always.should_restart(0, 5, true));
        assert!(RestartPolicy::Always.starts_at_boot(0, 5, true));
        assert!(!RestartPolicy::UnlessStopped.starts_at_boot(0, 5, true));
        assert!(RestartPolicy::UnlessStopped.starts_at_boot(137, 0, false));
        assert!(!RestartPolicy::No.should_restart(1, 0, false));
    }

    #[test]
    fn backoff_doubles_and_resets_after_a_long_run() {
        let mut b = Backoff::default();
        let short = Duration::from_secs(1);
        assert_eq!(b.next(short), Duration::from_millis(100));
        assert_eq!(b.next(short), Duration::from_millis(200));
        assert_eq!(b.next(short), Duration::from_millis(400));
        assert_eq!(b.next(Duration::from_secs(10)), Duration::from_millis(100));
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), Duration::from_secs(60));
    }
}
