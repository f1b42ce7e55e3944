//! v2 freezing: write `cgroup.freeze`, then wait for `frozen` in `cgroup.events`.

use std::path::Path;

use crate::FreezerState;
use crate::error::{Error, Result};
use crate::fs::{Backoff, read_file, read_keyed_optional, write_file};

const FREEZE: &str = "cgroup.freeze";
const EVENTS: &str = "cgroup.events";

fn frozen(dir: &Path) -> Result<bool> {
    let events = read_keyed_optional(dir, EVENTS)?.ok_or_else(|| Error::Read {
        path: dir.join(EVENTS),
        source: std::io::ErrorKind::NotFound.into(),
    })?;
    Ok(events.get("frozen").is_some_and(|v| *v == 1))
}

pub(crate) fn state(dir: &Path) -> Result<FreezerState> {
    let wanted = read_file(dir, FREEZE)?;
    match (wanted.trim(), frozen(dir)?) {
        ("0", _) => Ok(FreezerState::Thawed),
        ("1", true) => Ok(FreezerState::Frozen),
        ("1", false) => Ok(FreezerState::Freezing),
        _ => Err(Error::Parse {
            path: dir.join(FREEZE),
            content: wanted,
        }),
    }
}

fn set(dir: &Path, freeze: bool, backoff: Backoff) -> Result<()> {
    write_file(dir, FREEZE, if freeze { "1" } else { "0" })?;
    for attempt in 0..backoff.attempts {
        if frozen(dir)? == freeze {
            return Ok(());
        }
        backoff.sleep(attempt);
    }
    let last = state(dir)?;
    if freeze {
        // Do not leave the container half frozen.
        write_file(dir, FREEZE, "0")?;
    }
    let wanted = if freeze {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    };
    Err(Error::FreezeTimeout {
        path: dir.to_path_buf(),
        wanted,
        last,
    })
}

pub(crate) fn freeze(dir: &Path, backoff: Backoff) -> Result<()> {
    set(dir, true, backoff)
}

pub(crate) fn thaw(dir: &Path, backoff: Backoff) -> Result<()> {
    set(dir, false, backoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::set_fixture;
    use std::time::Duration;

    const QUICK: Backoff = Backoff {
        attempts: 3,
        max_sleep: Duration::from_millis(1),
    };

    #[test]
    fn states_follow_freeze_and_events() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, FREEZE, "0\n");
        set_fixture(dir, EVENTS, "populated 1\nfrozen 0\n");
        assert_eq!(state(dir).unwrap(), FreezerState::Thawed);
        set_fixture(dir, FREEZE, "1\n");
        assert_eq!(state(dir).unwrap(), FreezerState::Freezing);
        set_fixture(dir, EVENTS, "populated 1\nfrozen 1\n");
        assert_eq!(state(dir).unwrap(), FreezerState::Frozen);
    }

    #[test]
    fn freeze_waits_for_the_kernel_and_gives_up_thawed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, FREEZE, "0\n");
        // A "kernel" that already reports frozen: success.
        set_fixture(dir, EVENTS, "populated 1\nfrozen 1\n");
        freeze(dir, QUICK).unwrap();
        assert_eq!(read_file(dir, FREEZE).unwrap(), "1");
        // One that never does: a timeout, and the cgroup is thawed again.
        set_fixture(dir, EVENTS, "populated 1\nfrozen 0\n");
        let err = freeze(dir, QUICK).unwrap_err();
        assert!(matches!(
            err,
            Error::FreezeTimeout {
                wanted: FreezerState::Frozen,
                last: FreezerState::Freezing,
                ..
            }
        ));
        assert_eq!(err.kind(), crate::ErrorKind::Timeout);
        assert_eq!(read_file(dir, FREEZE).unwrap(), "0");
        thaw(dir, QUICK).unwrap();
    }
}
