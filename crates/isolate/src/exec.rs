//! Parent side of `exec`: running another process in a running container.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, LinuxSeccomp, Process};

use crate::channel::{ExecConfig, ExecOutcome, ReadyReport};
use crate::error::{Error, ProtocolError};
use crate::exe::ExeProtection;
use crate::launch;
use crate::spawn::{Container, Running, Stdio};
use crate::sys;
use crate::user::UserRequest;

/// Options of [`Container::exec`].
#[derive(Debug)]
pub struct ExecOptions {
    /// The init binary (see [`SpawnOptions`](crate::SpawnOptions)). Default
    /// `/proc/self/exe`.
    pub init_exe: PathBuf,
    /// `argv` of the init, e.g. `["mydocker", "init"]`.
    pub init_args: Vec<String>,
    /// Standard input of the process (ignored with a terminal).
    pub stdin: Stdio,
    /// Standard output of the process.
    pub stdout: Stdio,
    /// Standard error of the process.
    pub stderr: Stdio,
    /// How the init binary is protected from the container.
    pub exe_protection: ExeProtection,
    /// The `cgroup.procs` files of the container's cgroups (one per v1 hierarchy, or the
    /// v2 one), joined before the namespaces.
    pub cgroup_procs: Vec<PathBuf>,
    /// A user to resolve inside the container (`docker exec -u`), from the container's
    /// own `/etc/passwd` and `/etc/group`, read after joining its mount namespace.
    /// `None` (the default): `process.user` is used as given. See
    /// [`SpawnOptions::user`](crate::SpawnOptions::user).
    pub user: Option<UserRequest>,
}

impl ExecOptions {
    /// Options with the current executable as init, called with `init_args`.
    pub fn new<S: Into<String>>(init_args: impl IntoIterator<Item = S>) -> Self {
        Self {
            init_exe: PathBuf::from("/proc/self/exe"),
            init_args: init_args.into_iter().map(Into::into).collect(),
            stdin: Stdio::Null,
            stdout: Stdio::Null,
            stderr: Stdio::Null,
            exe_protection: ExeProtection::default(),
            cgroup_procs: Vec::new(),
            user: None,
        }
    }
}

/// The namespaces of `pid` that differ from ours, in joining order.
fn namespaces_to_join(pid: i32) -> Result<Vec<LinuxNamespaceType>, Error> {
    let all = [
        ("user", LinuxNamespaceType::User),
        ("cgroup", LinuxNamespaceType::Cgroup),
        ("ipc", LinuxNamespaceType::Ipc),
        ("uts", LinuxNamespaceType::Uts),
        ("net", LinuxNamespaceType::Network),
        ("pid", LinuxNamespaceType::Pid),
        ("mnt", LinuxNamespaceType::Mount),
    ];
    let mut out = Vec::new();
    for (name, t) in all {
        let theirs_path = format!("/proc/{pid}/ns/{name}");
        let theirs = std::fs::metadata(&theirs_path).map_err(Error::path("stat", &theirs_path))?;
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"))
            .map_err(Error::path("stat", format!("/proc/self/ns/{name}")))?;
        if (theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino()) {
            out.push(t);
        }
    }
    Ok(out)
}

impl Container {
    /// Run `process` inside the running container whose PID 1 has host pid
    /// `target_pid` (docker `exec`): join its cgroups (`opts.cgroup_procs`) and every
    /// namespace it does not share with us, fork into its PID namespace, apply the
    /// process's user, cwd, env, rlimits, capabilities and `seccomp` (the container's
    /// profile), and execute the command. Returns once the command runs, or with its
    /// typed exec error; the process is a child of the caller ([`Running::wait`]).
    pub fn exec(
        target_pid: i32,
        process: &Process,
        seccomp: Option<&LinuxSeccomp>,
        opts: ExecOptions,
    ) -> Result<Running, Error> {
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::InvalidSpec {
                reason: "the process has no command (process.args is empty)",
            });
        }
        let namespaces = namespaces_to_join(target_pid)?;
        let stdio = if process.terminal().unwrap_or(false) {
            [Stdio::Null, Stdio::Null, Stdio::Null]
        } else {
            [opts.stdin, opts.stdout, opts.stderr]
        };
        let launched = launch::launch_init(
            0,
            None,
            &opts.init_exe,
            &opts.init_args,
            opts.exe_protection,
            stdio,
        )?;
        let intermediate = launched.pid;
        let ch = launched.ch;
        let reap_intermediate = |kill: bool| {
            if kill {
                let _ = sys::kill(intermediate, libc::SIGKILL);
            }
            launch::wait_pid(intermediate)
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        let config = ExecConfig {
            target_pid,
            namespaces,
            cgroup_procs: opts.cgroup_procs,
            process: process.clone(),
            seccomp: seccomp.cloned(),
            user: opts.user,
        };
        if let Err(e) = ch.send_exec(config) {
            let status = reap_intermediate(true);
            return Err(match e {
                ProtocolError::Io(_) => Error::Protocol(ProtocolError::Died {
                    step: "receiving its configuration",
                    status,
                }),
                other => Error::Protocol(other),
            });
        }
        let collected = ch.wait_exec_collect();
        // The intermediate exits right after reporting the pid (or failing).
        let intermediate_status = reap_intermediate(false);
        joined_process(collected, intermediate_status, launched.stdio)
    }
}

/// The joined process, from what the intermediate init and the joined process reported.
fn joined_process(
    collected: Result<(ExecOutcome, Option<i32>, ReadyReport), ProtocolError>,
    intermediate_status: String,
    stdio: [Option<File>; 3],
) -> Result<Running, Error> {
    let (outcome, joined, report) = match collected {
        Ok(c) => c,
        Err(e) => return Err(Error::Protocol(e)),
    };
    let Some(pid) = joined else {
        return Err(match outcome {
            ExecOutcome::Failed(f) => Error::Init(f),
            ExecOutcome::ExecFailed(f) => Error::Exec(f),
            ExecOutcome::Executed => Error::Protocol(ProtocolError::Died {
                step: "joining the container",
                status: intermediate_status,
            }),
        });
    };
    let fail = |e: Error| {
        let _ = sys::kill(pid, libc::SIGKILL);
        let _ = launch::wait_pid(pid);
        e
    };
    match outcome {
        ExecOutcome::Executed => Ok(Running::new(pid, report, stdio)),
        ExecOutcome::ExecFailed(f) => Err(fail(Error::Exec(f))),
        ExecOutcome::Failed(f) => Err(fail(Error::Init(f))),
    }
}
