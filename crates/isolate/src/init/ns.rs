//! The namespaces the init enters itself (see `crate::nsplan` for the parent's part):
//! becoming root of a user namespace, joining the namespaces given by path (user first,
//! mount last; the PID namespace was entered by the parent around the `clone`), the new
//! namespaces unshared inside a user namespace given by path, and the cgroup namespace,
//! entered after the go-ahead (once the init is in its cgroup).

use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::error::{InitFailure, Stage};
use crate::sys;

/// The order namespaces given by path are joined in.
const JOIN_ORDER: [LinuxNamespaceType; 5] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Mount,
];

fn namespaces(spec: &Spec) -> &[LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default()
}

fn flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => 0,
    }
}

fn join(path: &Path, t: LinuxNamespaceType) -> Result<(), InitFailure> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| InitFailure::os(Stage::Namespaces, "open", &e.into()).at(path))?;
    sys::setns(fd.as_fd(), flag(t))
        .map_err(|e| InitFailure::os(Stage::Namespaces, &format!("setns {t}"), &e).at(path))
}

/// Joins the namespaces given by path, and in a user namespace given by path unshares
/// the new ones (the parent did not clone them: they must belong to that namespace).
/// Then, in any user namespace the spec names, becomes its root.
pub(super) fn enter(spec: &Spec) -> Result<(), InitFailure> {
    let nss = namespaces(spec);
    let mut joined_user = false;
    for t in JOIN_ORDER {
        let Some(path) = nss
            .iter()
            .find(|n| n.typ() == t)
            .and_then(|n| n.path().as_ref())
        else {
            continue;
        };
        join(path, t)?;
        if t == LinuxNamespaceType::User {
            joined_user = true;
            let unshare = nss
                .iter()
                .filter(|n| n.path().is_none())
                .filter(|n| {
                    !matches!(
                        n.typ(),
                        LinuxNamespaceType::Cgroup | LinuxNamespaceType::Pid
                    )
                })
                .fold(0, |acc, n| acc | flag(n.typ()));
            if unshare != 0 {
                sys::unshare(unshare).map_err(|e| {
                    InitFailure::os(Stage::Namespaces, "unshare in the user namespace", &e)
                })?;
            }
        }
    }
    let new_user = nss
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if new_user || joined_user {
        become_root(joined_user)?;
    }
    Ok(())
}

/// Root of the user namespace (the process still has the host's ids, which its mappings
/// may not contain: files it created would have no owner there).
fn become_root(joined: bool) -> Result<(), InitFailure> {
    let err = |what: &str, e: rustix::io::Errno| {
        InitFailure::os(Stage::Namespaces, what, &e.into()).at(Path::new("user namespace"))
    };
    match rustix::thread::set_thread_groups(&[]) {
        Ok(()) => {}
        // A joined namespace may have setgroups denied; the groups then stay as they are.
        Err(rustix::io::Errno::PERM) if joined => {}
        Err(e) => return Err(err("setgroups", e)),
    }
    let gid = rustix::process::Gid::from_raw(0);
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(|e| err("setgid 0 (is 0 mapped?)", e))?;
    let uid = rustix::process::Uid::from_raw(0);
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(|e| err("setuid 0 (is 0 mapped?)", e))
}

/// After the go-ahead: joins the cgroup namespace given by path, or unshares a new one
/// (rooted at the cgroup the init was put in).
pub(super) fn enter_cgroup(spec: &Spec) -> Result<(), InitFailure> {
    let Some(ns) = namespaces(spec)
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Cgroup)
    else {
        return Ok(());
    };
    match ns.path() {
        Some(path) => join(path, LinuxNamespaceType::Cgroup),
        None => sys::unshare(libc::CLONE_NEWCGROUP)
            .map_err(|e| InitFailure::os(Stage::Namespaces, "unshare cgroup", &e)),
    }
}
