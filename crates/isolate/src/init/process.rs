//! The process part of the init: rlimits, user, working directory, and the `execve` of
//! the user's command with docker's `$PATH` lookup and error classification.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use oci_spec::runtime::{PosixRlimit, PosixRlimitType, Process};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::process::{Resource, Rlimit};

use crate::error::{ExecFailure, ExecFailureReason, InitFailure, Stage};
use crate::sys::{self, CStringArray};

/// Docker's default `$PATH` when the process environment has none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(crate) fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitRss => Resource::Rss,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitNice => Resource::Nice,
        PosixRlimitType::RlimitRtprio => Resource::Rtprio,
        PosixRlimitType::RlimitRttime => Resource::Rttime,
    }
}

fn limit(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

fn show(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".to_string(), |v| v.to_string())
}

/// Apply `process.rlimits`. A hard limit above the host's (we may lack
/// CAP_SYS_RESOURCE) is clamped to the current hard limit; each clamp yields a warning.
pub(crate) fn apply_rlimits(rlimits: &[PosixRlimit]) -> Result<Vec<String>, InitFailure> {
    let mut warnings = Vec::new();
    for r in rlimits {
        let res = resource(r.typ());
        let (soft, hard) = (limit(r.soft()), limit(r.hard()));
        let want = Rlimit {
            current: soft,
            maximum: hard,
        };
        match rustix::process::setrlimit(res, want) {
            Ok(()) => {}
            Err(rustix::io::Errno::PERM) => {
                let cur = rustix::process::getrlimit(res);
                let lt = |a: Option<u64>, b: Option<u64>| match (a, b) {
                    (Some(a), Some(b)) => a < b,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                let new_hard = if lt(cur.maximum, hard) {
                    cur.maximum
                } else {
                    hard
                };
                let new_soft = if lt(new_hard, soft) { new_hard } else { soft };
                rustix::process::setrlimit(
                    res,
                    Rlimit {
                        current: new_soft,
                        maximum: new_hard,
                    },
                )
                .map_err(|e| {
                    InitFailure::os(Stage::Limits, &format!("setrlimit {}", r.typ()), &e.into())
                })?;
                warnings.push(format!(
                    "{}: requested soft/hard {}/{} exceeds the host's hard limit {}; clamped to {}/{}",
                    r.typ(),
                    show(soft),
                    show(hard),
                    show(cur.maximum),
                    show(new_soft),
                    show(new_hard)
                ));
            }
            Err(e) => {
                return Err(InitFailure::os(
                    Stage::Limits,
                    &format!("setrlimit {} {}/{}", r.typ(), show(soft), show(hard)),
                    &e.into(),
                ));
            }
        }
    }
    Ok(warnings)
}

/// `process.oomScoreAdj`.
pub(crate) fn set_oom_score_adj(value: i32) -> Result<(), InitFailure> {
    std::fs::write("/proc/self/oom_score_adj", value.to_string())
        .map_err(|e| InitFailure::os(Stage::Limits, "write /proc/self/oom_score_adj", &e))
}

/// Switch supplementary groups, gid and uid (numeric, resolved by the caller).
pub(crate) fn switch_user(process: &Process) -> Result<(), InitFailure> {
    let user = process.user();
    let groups: Vec<rustix::process::Gid> = user
        .additional_gids()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|g| rustix::process::Gid::from_raw(*g))
        .collect();
    let err = |what: &str, e: rustix::io::Errno| InitFailure::os(Stage::User, what, &e.into());
    rustix::thread::set_thread_groups(&groups).map_err(|e| err("setgroups", e))?;
    let gid = rustix::process::Gid::from_raw(user.gid());
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(|e| err(&format!("setgid {}", user.gid()), e))?;
    let uid = rustix::process::Uid::from_raw(user.uid());
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(|e| err(&format!("setuid {}", user.uid()), e))?;
    Ok(())
}

/// Enter the working directory as the final user: resolved inside the (new) root
/// without magic links, then checked to be reachable from it, so that a descriptor of
/// the host can never become the container's cwd (CVE-2024-21626).
pub(crate) fn enter_cwd(cwd: &Path) -> Result<(), InitFailure> {
    let err = |what: &str, e: io::Error| InitFailure::os(Stage::Cwd, what, &e).at(cwd);
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("open /", e.into()))?;
    let mut no_magic_links = true;
    match rustix::fs::openat2(
        &root,
        cwd,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(dir) => rustix::process::fchdir(&dir).map_err(|e| err("chdir", e.into()))?,
        // A seccomp profile that predates openat2 (without no_new_privs the filter is
        // already installed here) refuses it: a plain chdir in the pivoted root, which
        // the reachability check below guards as runc's does.
        Err(rustix::io::Errno::PERM | rustix::io::Errno::NOSYS) => {
            no_magic_links = false;
            rustix::process::chdir(cwd).map_err(|e| err("chdir", e.into()))?
        }
        Err(e) => return Err(err("open", e.into())),
    }
    match rustix::process::getcwd(Vec::new()) {
        Ok(p) if p.as_bytes().first() == Some(&b'/') => Ok(()),
        Ok(_) => Err(InitFailure::new(
            Stage::Cwd,
            "working directory is outside the container root",
        )
        .at(cwd)),
        // A seccomp profile that refuses getcwd: a directory reached without magic
        // links is inside the root.
        Err(rustix::io::Errno::PERM | rustix::io::Errno::NOSYS) if no_magic_links => Ok(()),
        Err(e) => Err(err("getcwd (outside the container root?)", e.into())),
    }
}

/// `argv`, `envp` and the `$PATH` candidates, built before the security steps.
#[derive(Debug)]
pub(crate) struct Command {
    name: String,
    argv: CStringArray,
    envp: CStringArray,
    candidates: Vec<CString>,
}

impl Command {
    pub(crate) fn new(process: &Process) -> Result<Self, InitFailure> {
        let args = process.args().as_deref().unwrap_or_default();
        let Some(name) = args.first() else {
            return Err(InitFailure::new(Stage::Command, "no command given"));
        };
        let cstr = |s: &str| {
            CString::new(s)
                .map_err(|_| InitFailure::new(Stage::Command, format!("NUL byte in {s:?}")))
        };
        let argv = args
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let env = process.env().as_deref().unwrap_or_default();
        let envp = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
        let path = env
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        let candidates = if name.contains('/') {
            vec![cstr(name)?]
        } else {
            path.split(':')
                .map(|dir| {
                    let dir = if dir.is_empty() { "." } else { dir };
                    let mut p = Path::new(dir).join(name).into_os_string().into_vec();
                    p.retain(|b| *b != 0);
                    CString::new(p).map_err(|_| InitFailure::new(Stage::Command, "bad PATH"))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Self {
            name: name.clone(),
            argv: CStringArray::new(argv),
            envp: CStringArray::new(envp),
            candidates,
        })
    }

    /// Execute the command; returns only on failure. Like `execvp`, missing candidates
    /// are skipped, and a candidate that exists but cannot be executed makes the final
    /// answer "permission denied" rather than "not found".
    pub(crate) fn exec(&self) -> ExecFailure {
        let mut denied = None;
        let mut last = libc::ENOENT;
        for path in &self.candidates {
            let err = sys::execve(path, &self.argv, &self.envp);
            let errno = err.raw_os_error().unwrap_or(libc::EIO);
            match errno {
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {
                    last = errno
                }
                libc::EACCES | libc::EISDIR | libc::EPERM => {
                    denied.get_or_insert(errno);
                }
                libc::ENOEXEC => return self.failure(ExecFailureReason::BadFormat, errno),
                _ => return self.failure(ExecFailureReason::Other, errno),
            }
        }
        match denied {
            Some(errno) => self.failure(ExecFailureReason::PermissionDenied, errno),
            None => self.failure(ExecFailureReason::NotFound, last),
        }
    }

    /// Whether a candidate exists and may be executed by this process (`execvp`'s
    /// search without the exec), checked before waiting on a start gate so that a
    /// missing command fails the runtime's `create` rather than its `start`.
    pub(crate) fn check_exists(&self) -> Result<(), ExecFailure> {
        let mut denied = None;
        for path in &self.candidates {
            match rustix::fs::access(path.as_c_str(), rustix::fs::Access::EXEC_OK) {
                Ok(()) => {
                    let is_dir = rustix::fs::stat(path.as_c_str())
                        .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir());
                    if !is_dir {
                        return Ok(());
                    }
                    denied.get_or_insert(libc::EISDIR);
                }
                Err(rustix::io::Errno::ACCESS) | Err(rustix::io::Errno::PERM) => {
                    denied.get_or_insert(libc::EACCES);
                }
                Err(_) => {}
            }
        }
        Err(match denied {
            Some(errno) => self.failure(ExecFailureReason::PermissionDenied, errno),
            None => self.failure(ExecFailureReason::NotFound, libc::ENOENT),
        })
    }

    fn failure(&self, reason: ExecFailureReason, errno: i32) -> ExecFailure {
        ExecFailure {
            command: self.name.clone(),
            reason,
            errno: Some(errno),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_candidates_follow_path() {
        let mut p = Process::default();
        p.set_args(Some(vec!["ls".into(), "-l".into()]));
        p.set_env(Some(vec!["PATH=/bin::/usr/bin".into()]));
        let c = Command::new(&p).unwrap();
        let names: Vec<_> = c
            .candidates
            .iter()
            .map(|c| c.to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, vec!["/bin/ls", "./ls", "/usr/bin/ls"]);
        p.set_args(Some(vec!["./x".into()]));
        assert_eq!(Command::new(&p).unwrap().candidates.len(), 1);
        p.set_args(Some(vec![]));
        assert_eq!(Command::new(&p).unwrap_err().stage, Stage::Command);
    }
}
