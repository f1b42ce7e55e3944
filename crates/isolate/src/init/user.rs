//! Resolving a [`UserRequest`] from the container's own `/etc/passwd` and `/etc/group`,
//! read inside its root (symlinks never lead out of it, special files are not opened).

use std::borrow::Cow;
use std::path::Path;

use oci_spec::runtime::Process;

use super::root::RootDir;
use crate::error::{InitFailure, Stage};
use crate::user::{self, UserRequest};

/// Largest passwd or group file read: they are small, and a hostile image must not make
/// the init read gigabytes.
const MAX_SIZE: u64 = 4 << 20;

/// `process` with the requested user resolved and applied (uid, gid, groups, `HOME`);
/// unchanged without a request.
pub(super) fn resolve_process<'a>(
    process: &'a Process,
    request: Option<&UserRequest>,
    root: &RootDir,
) -> Result<Cow<'a, Process>, InitFailure> {
    let Some(request) = request else {
        return Ok(Cow::Borrowed(process));
    };
    let passwd = read(root, "/etc/passwd")?;
    let group = read(root, "/etc/group")?;
    let resolved = user::resolve(request, passwd.as_deref(), group.as_deref())
        .map_err(|e| InitFailure::new(Stage::User, e.to_string()))?;
    let mut process = process.clone();
    resolved.apply_to(&mut process);
    Ok(Cow::Owned(process))
}

fn read(root: &RootDir, path: &str) -> Result<Option<String>, InitFailure> {
    let data = root
        .read_file(Path::new(path), MAX_SIZE)
        .map_err(|e| InitFailure::os(Stage::User, "read", &e).at(path))?;
    Ok(data.map(|d| String::from_utf8_lossy(&d).into_owned()))
}
