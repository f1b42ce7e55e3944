//! v1 `freezer`: `freezer.state` is written, then read until the kernel confirms.

use std::path::Path;

use crate::FreezerState;
use crate::error::{Error, Result};
use crate::fs::{Backoff, read_file, write_file};

const STATE: &str = "freezer.state";

/// Every this many attempts, thaw and start over: a freeze can get stuck behind a task
/// that is itself waiting (vfork, a frozen parent), as runc found.
const RETHAW_EVERY: u32 = 25;

pub(crate) fn state(dir: &Path) -> Result<FreezerState> {
    let content = read_file(dir, STATE)?;
    match content.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        _ => Err(Error::Parse {
            path: dir.join(STATE),
            content,
        }),
    }
}

pub(crate) fn freeze(dir: &Path, backoff: Backoff) -> Result<()> {
    let mut last = FreezerState::Thawed;
    for attempt in 0..backoff.attempts {
        if attempt > 0 && attempt % RETHAW_EVERY == 0 {
            write_file(dir, STATE, "THAWED")?;
        }
        write_file(dir, STATE, "FROZEN")?;
        last = state(dir)?;
        if last == FreezerState::Frozen {
            return Ok(());
        }
        backoff.sleep(attempt);
    }
    // Do not leave the container half frozen.
    write_file(dir, STATE, "THAWED")?;
    Err(Error::FreezeTimeout {
        path: dir.to_path_buf(),
        wanted: FreezerState::Frozen,
        last,
    })
}

pub(crate) fn thaw(dir: &Path, backoff: Backoff) -> Result<()> {
    let mut last = FreezerState::Frozen;
    for attempt in 0..backoff.attempts {
        write_file(dir, STATE, "THAWED")?;
        last = state(dir)?;
        if last == FreezerState::Thawed {
            return Ok(());
        }
        backoff.sleep(attempt);
    }
    Err(Error::FreezeTimeout {
        path: dir.to_path_buf(),
        wanted: FreezerState::Thawed,
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::set_fixture;
    use std::time::Duration;

    #[test]
    fn freeze_and_thaw_write_the_state() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, STATE, "THAWED\n");
        assert_eq!(state(dir).unwrap(), FreezerState::Thawed);
        freeze(dir, Backoff::DEFAULT).unwrap();
        assert_eq!(state(dir).unwrap(), FreezerState::Frozen);
        thaw(dir, Backoff::DEFAULT).unwrap();
        assert_eq!(state(dir).unwrap(), FreezerState::Thawed);
    }

    #[test]
    fn unknown_state_is_a_parse_error() {
        let tmp = tempfile::tempdir().unwrap();
        set_fixture(tmp.path(), STATE, "MELTING\n");
        assert!(matches!(state(tmp.path()), Err(Error::Parse { .. })));
    }

    #[test]
    fn missing_freezer_file_names_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let quick = Backoff {
            attempts: 3,
            max_sleep: Duration::from_millis(1),
        };
        let err = freeze(tmp.path(), quick).unwrap_err();
        assert!(err.to_string().contains(STATE), "{err}");
    }
}
