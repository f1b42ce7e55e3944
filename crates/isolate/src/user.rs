//! Docker's `-u user[:group]`: parsing it, and resolving it against a container's own
//! `/etc/passwd` and `/etc/group` the way docker (through runc and moby's `user`
//! package) does.
//!
//! The container's init resolves a [`UserRequest`] given in
//! [`SpawnOptions::user`](crate::SpawnOptions::user) or
//! [`ExecOptions::user`](crate::ExecOptions::user) from the files of the running
//! container, so the caller never reads the image. [`UserRequest::parse`] and
//! [`resolve`] are pure and public so that a caller can validate `-u` when the container
//! is created, and test the rules without a container:
//!
//! ```
//! use isolate::user::{self, UserRequest};
//!
//! let passwd = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
//! let group = "root:x:0:\nwheel:x:10:alice\n";
//! let alice = user::resolve(&UserRequest::parse("alice")?, Some(passwd), Some(group))?;
//! assert_eq!((alice.uid, alice.gid, alice.additional_gids.as_slice()), (1000, 1000, &[1000, 10][..]));
//! assert_eq!(alice.home, "/home/alice");
//! // Numeric ids need no entry; names do.
//! assert_eq!(user::resolve(&UserRequest::parse("4242:4343")?, None, None)?.gid, 4343);
//! let err = user::resolve(&UserRequest::parse("mallory")?, Some(passwd), Some(group));
//! assert_eq!(
//!     err.unwrap_err().to_string(),
//!     "unable to find user mallory: no matching entries in passwd file"
//! );
//! # Ok::<(), isolate::user::UserError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use oci_spec::runtime::Process;
use serde::{Deserialize, Serialize};

/// The largest uid or gid accepted: docker's limit. (`u32::MAX` would mean "leave
/// unchanged" to `setresuid`, so an image must never get to ask for it.)
pub const MAX_ID: u32 = i32::MAX as u32;

/// An unresolved user, as docker's `-u`/`--user`, the image's `User` and `--group-add`
/// give it: names or numeric ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRequest {
    /// A user name, or a numeric uid (always taken as a uid, as docker does).
    pub user: String,
    /// A group name or numeric gid (`user:group`). When given, it replaces the user's
    /// primary group and no supplementary groups are taken from `/etc/group` (docker's
    /// rule).
    pub group: Option<String>,
    /// Extra groups (docker's `--group-add`), names or numeric gids, resolved against
    /// `/etc/group` too.
    #[serde(default)]
    pub additional_groups: Vec<String>,
}

impl UserRequest {
    /// A request for `user`, with no group given.
    pub fn new(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            group: None,
            additional_groups: Vec::new(),
        }
    }

    /// Parse `user[:group]` in any of docker's forms (`alice`, `1000`, `alice:wheel`,
    /// `1000:10`...).
    ///
    /// # Errors
    ///
    /// [`UserError::InvalidSpec`] when the user or the group part is empty.
    pub fn parse(spec: &str) -> Result<Self, UserError> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(UserError::InvalidSpec(spec.to_owned()));
        }
        Ok(Self {
            user: user.to_owned(),
            group: group.map(str::to_owned),
            additional_groups: Vec::new(),
        })
    }
}

impl FromStr for UserRequest {
    type Err = UserError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for UserRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.user)?;
        if let Some(g) = &self.group {
            write!(f, ":{g}")?;
        }
        Ok(())
    }
}

/// A user resolved to numeric ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// The uid.
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// Supplementary gids: the primary group (as docker sets it), the groups of
    /// `/etc/group` that list the user (only when no group was given), then the
    /// `additional_groups`.
    pub additional_gids: Vec<u32>,
    /// The home directory of the passwd entry, `/` without one.
    pub home: String,
}

impl ResolvedUser {
    /// Apply to a process: `user.uid`, `user.gid`, `user.additionalGids` (the resolved
    /// ones, then those the process already had, without duplicates), and `HOME` when the
    /// environment has none.
    pub fn apply_to(&self, process: &mut Process) {
        let mut gids = self.additional_gids.clone();
        let user = process.user_mut();
        for g in user.additional_gids().as_deref().unwrap_or_default() {
            if !gids.contains(g) {
                gids.push(*g);
            }
        }
        user.set_uid(self.uid);
        user.set_gid(self.gid);
        user.set_additional_gids((!gids.is_empty()).then_some(gids));
        let mut env = process.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", self.home));
            process.set_env(Some(env));
        }
    }
}

/// Why a user could not be parsed or resolved. The messages are docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// `-u` was empty on one side of the colon.
    #[error("invalid user specification '{0}'")]
    InvalidSpec(String),
    /// A user name with no passwd entry.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name with no group entry.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// A numeric id (given, or in an entry) outside `0..=MAX_ID`.
    #[error("uids and gids must be in range 0-{max}: {id}", max = MAX_ID)]
    OutOfRange {
        /// The id as written.
        id: String,
    },
    /// The matching entry has a field that is not a valid id.
    #[error("bad {field} in /etc/{file} for {name}")]
    BadEntry {
        /// `passwd` or `group`.
        file: &'static str,
        /// `uid` or `gid`.
        field: &'static str,
        /// The entry's name.
        name: String,
    },
}

/// One line of `/etc/passwd`: `name:password:uid:gid:gecos:home:shell`.
struct PasswdEntry<'a> {
    name: &'a str,
    uid: &'a str,
    gid: &'a str,
    home: Option<&'a str>,
}

/// One line of `/etc/group`: `name:password:gid:member,member`.
struct GroupEntry<'a> {
    name: &'a str,
    gid: &'a str,
    members: &'a str,
}

/// The fields of the non-comment lines with at least `min` fields.
fn records(text: Option<&str>, min: usize) -> impl Iterator<Item = Vec<&str>> {
    text.unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(move |f| f.len() >= min)
}

fn passwd_entries(text: Option<&str>) -> Vec<PasswdEntry<'_>> {
    records(text, 4)
        .map(|f| PasswdEntry {
            name: f[0],
            uid: f[2],
            gid: f[3],
            home: f.get(5).copied(),
        })
        .collect()
}

fn group_entries(text: Option<&str>) -> Vec<GroupEntry<'_>> {
    records(text, 3)
        .map(|f| GroupEntry {
            name: f[0],
            gid: f[2],
            members: f.get(3).copied().unwrap_or(""),
        })
        .collect()
}

/// `Some(id)` when `s` is numeric (then it must be in range), `None` for a name.
fn numeric(s: &str) -> Result<Option<u32>, UserError> {
    let Ok(n) = s.parse::<i64>() else {
        return Ok(None);
    };
    match u32::try_from(n) {
        Ok(id) if id <= MAX_ID => Ok(Some(id)),
        _ => Err(UserError::OutOfRange { id: s.to_owned() }),
    }
}

/// An id field of an entry: a valid id, or the entry is bad.
fn entry_id(
    value: &str,
    file: &'static str,
    field: &'static str,
    name: &str,
) -> Result<u32, UserError> {
    match value.parse::<u32>() {
        Ok(id) if id <= MAX_ID => Ok(id),
        _ => Err(UserError::BadEntry {
            file,
            field,
            name: name.to_owned(),
        }),
    }
}

/// The gid of a group given by name or number (`--group-add`, `user:group`).
fn group_id(g: &str, groups: &[GroupEntry<'_>]) -> Result<u32, UserError> {
    if let Some(gid) = numeric(g)? {
        return Ok(gid);
    }
    match groups.iter().find(|e| e.name == g) {
        Some(e) => entry_id(e.gid, "group", "gid", e.name),
        None => Err(UserError::UnknownGroup(g.to_owned())),
    }
}

/// Resolve `req` with the contents of the container's `/etc/passwd` and `/etc/group`
/// (either may be missing: `None`).
///
/// As docker: a numeric user is a uid (its entry, when there is one, gives the primary
/// group, the home and the supplementary groups; otherwise gid 0 and home `/`); a name
/// must have an entry; a group given explicitly replaces the primary group and then no
/// supplementary groups are looked up; additional groups are appended.
///
/// # Errors
///
/// [`UserError::UnknownUser`], [`UserError::UnknownGroup`], [`UserError::OutOfRange`],
/// [`UserError::BadEntry`].
pub fn resolve(
    req: &UserRequest,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let users = passwd_entries(passwd);
    let groups = group_entries(group);
    let uid_arg = numeric(&req.user)?;
    let entry = match uid_arg {
        Some(uid) => users.iter().find(|e| e.uid.parse() == Ok(uid)),
        None => users.iter().find(|e| e.name == req.user),
    };
    let (uid, mut gid, name, home) = match (entry, uid_arg) {
        (Some(e), _) => (
            entry_id(e.uid, "passwd", "uid", e.name)?,
            entry_id(e.gid, "passwd", "gid", e.name)?,
            Some(e.name),
            e.home.unwrap_or("/").to_owned(),
        ),
        (None, Some(uid)) => (uid, 0, None, "/".to_owned()),
        (None, None) => return Err(UserError::UnknownUser(req.user.clone())),
    };
    let mut additional_gids = Vec::new();
    match (&req.group, name) {
        (Some(g), _) => gid = group_id(g, &groups)?,
        (None, Some(name)) => {
            for e in &groups {
                if e.members.split(',').any(|m| m == name)
                    && let Ok(g) = entry_id(e.gid, "group", "gid", e.name)
                    && g != gid
                    && !additional_gids.contains(&g)
                {
                    additional_gids.push(g);
                }
            }
        }
        (None, None) => {}
    }
    for g in &req.additional_groups {
        let g = group_id(g, &groups)?;
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    // docker (moby's getUser) lists the primary group first among the supplementary
    // ones: `id` as root shows `groups=0(root),10(wheel)`.
    additional_gids.retain(|g| *g != gid);
    additional_gids.insert(0, gid);
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:alice\nalice:x:1000:\nstaff:x:50:bob,alice\n";

    fn r(s: &str) -> Result<ResolvedUser, UserError> {
        resolve(&UserRequest::parse(s)?, Some(PASSWD), Some(GROUP))
    }

    // The CLI's cases (crates/cli/src/parse.rs), unchanged.
    #[test]
    fn users_resolve_like_docker() {
        let alice = r("alice").unwrap();
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert_eq!(alice.additional_gids, [1000, 10, 50]);
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(r("1000").unwrap().uid, 1000);
        let anon = r("4242:4343").unwrap();
        assert_eq!((anon.uid, anon.gid), (4242, 4343));
        assert_eq!(r("alice:wheel").unwrap().gid, 10);
        assert_eq!(r("nobody").unwrap().uid, 65534);
        assert!(
            r("mallory")
                .unwrap_err()
                .to_string()
                .contains("unable to find user mallory")
        );
        assert!(r("alice:nogroup").is_err());
        assert!(UserRequest::parse(":").is_err());
        assert!(resolve(&UserRequest::parse("0").unwrap(), None, None).is_ok());
    }

    #[test]
    fn docker_messages() {
        assert_eq!(
            r("mallory").unwrap_err().to_string(),
            "unable to find user mallory: no matching entries in passwd file"
        );
        assert_eq!(
            r("alice:nogroup").unwrap_err().to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        for bad in [":", "alice:", ":wheel", ""] {
            assert_eq!(
                UserRequest::parse(bad).unwrap_err(),
                UserError::InvalidSpec(bad.to_owned())
            );
        }
        assert_eq!(
            "alice:wheel".parse::<UserRequest>().unwrap().to_string(),
            "alice:wheel"
        );
    }

    #[test]
    fn numeric_users_are_uids_with_their_entry() {
        // The entry found by uid gives the gid, the home and the supplementary groups.
        let u = r("1000").unwrap();
        assert_eq!((u.gid, u.home.as_str()), (1000, "/home/alice"));
        assert_eq!(u.additional_gids, [1000, 10, 50]);
        // Without an entry: gid 0, home /, no groups; files not needed.
        let u = resolve(&UserRequest::parse("4242").unwrap(), None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        assert_eq!(u.additional_gids, [0], "the primary group");
        // A numeric group without an entry is taken as is.
        assert_eq!(r("alice:777").unwrap().gid, 777);
    }

    #[test]
    fn explicit_group_drops_supplementary_groups() {
        let u = r("alice:wheel").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        assert_eq!(u.additional_gids, [10], "only the primary group: {u:?}");
    }

    #[test]
    fn additional_groups_by_name_or_number() {
        let mut req = UserRequest::new("alice");
        req.additional_groups = vec!["root".into(), "wheel".into(), "4000".into()];
        let u = resolve(&req, Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(u.additional_gids, [1000, 10, 50, 0, 4000]);
        req.additional_groups = vec!["nope".into()];
        assert_eq!(
            resolve(&req, Some(PASSWD), Some(GROUP)).unwrap_err(),
            UserError::UnknownGroup("nope".into())
        );
    }

    #[test]
    fn ids_out_of_range_are_refused() {
        for id in ["4294967295", "2147483648", "-1"] {
            assert!(
                matches!(r(id), Err(UserError::OutOfRange { .. })),
                "{id}: {:?}",
                r(id)
            );
            assert!(matches!(
                r(&format!("alice:{id}")),
                Err(UserError::OutOfRange { .. })
            ));
        }
        assert_eq!(r("2147483647").unwrap().uid, MAX_ID);
        // An entry claiming uid -1 ("unchanged" to setresuid) is bad, not root.
        let passwd = "evil:x:4294967295:0::/:/bin/sh\nodd:x:12:nope::/:/bin/sh\n";
        let e = resolve(&UserRequest::new("evil"), Some(passwd), None).unwrap_err();
        assert_eq!(e.to_string(), "bad uid in /etc/passwd for evil");
        let e = resolve(&UserRequest::new("odd"), Some(passwd), None).unwrap_err();
        assert_eq!(e.to_string(), "bad gid in /etc/passwd for odd");
    }

    #[test]
    fn comments_and_short_lines_are_skipped() {
        let passwd = "# alice:x:1:1::/:/bin/sh\nbroken\nalice:x:1000:1000\n";
        let u = resolve(&UserRequest::new("alice"), Some(passwd), None).unwrap();
        assert_eq!((u.uid, u.home.as_str()), (1000, "/"));
    }

    #[test]
    fn applying_sets_ids_groups_and_home_once() {
        let mut p = Process::default();
        p.set_env(Some(vec!["PATH=/bin".into()]));
        p.user_mut().set_additional_gids(Some(vec![50, 7]));
        let u = r("alice").unwrap();
        u.apply_to(&mut p);
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
        assert_eq!(
            p.user().additional_gids().as_deref(),
            Some(&[1000, 10, 50, 7][..])
        );
        assert_eq!(
            p.env().as_deref(),
            Some(&["PATH=/bin".to_string(), "HOME=/home/alice".to_string()][..])
        );
        let mut p = Process::default();
        p.set_env(Some(vec!["HOME=/custom".into()]));
        u.apply_to(&mut p);
        assert_eq!(p.env().as_deref(), Some(&["HOME=/custom".to_string()][..]));
    }
}
