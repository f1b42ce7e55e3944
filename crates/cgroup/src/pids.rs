//! The `pids` controller, whose files are the same in v1 and v2.

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::PidsStats;
use crate::error::Result;
use crate::fs::{parse_max, read_file, read_u64, write_file};

const MAX: &str = "pids.max";

/// Writes `pids.max`: a positive limit, or `max` for 0 and negative values.
pub(crate) fn apply(resources: &LinuxResources, dir: &Path) -> Result<()> {
    if let Some(pids) = resources.pids() {
        let value = match pids.limit() {
            limit if limit > 0 => limit.to_string(),
            _ => "max".to_string(),
        };
        write_file(dir, MAX, &value)?;
    }
    Ok(())
}

/// `pids.current` and `pids.max`.
pub(crate) fn stats(dir: &Path) -> Result<PidsStats> {
    Ok(PidsStats {
        current: read_u64(dir, "pids.current")?,
        limit: parse_max(&dir.join(MAX), &read_file(dir, MAX)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{pids_resources, set_fixture};

    #[test]
    fn limit_is_written_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        set_fixture(dir, MAX, "max\n");
        set_fixture(dir, "pids.current", "3\n");
        apply(&pids_resources(20), dir).unwrap();
        assert_eq!(read_file(dir, MAX).unwrap(), "20");
        assert_eq!(
            stats(dir).unwrap(),
            PidsStats {
                current: 3,
                limit: Some(20)
            }
        );
        for unlimited in [0, -1] {
            apply(&pids_resources(unlimited), dir).unwrap();
            assert_eq!(read_file(dir, MAX).unwrap(), "max");
            assert_eq!(stats(dir).unwrap().limit, None);
        }
        // No pids section: the file is left alone.
        set_fixture(dir, MAX, "7");
        apply(&LinuxResources::default(), dir).unwrap();
        assert_eq!(read_file(dir, MAX).unwrap(), "7");
    }
}
