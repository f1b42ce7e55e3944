//! `exec`: another process in a running (or created) container, from a `--process`
//! JSON file (containerd's shim and conmon write one) or from the command line on top of
//! the container's own process settings.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use isolate::{Container as Isolate, ExecOptions as IsolateExec, Stdio};
use oci_spec::runtime::{Capability, Process, Spec, User};

use crate::bundle::{self, Lsm};
use crate::console::send_console;
use crate::error::{Error, Result};
use crate::state::{StateRoot, Status};

/// The options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// The container ID.
    pub id: String,
    /// The process to run.
    pub process: Process,
    /// Where to send the pty master (`process.terminal`).
    pub console_socket: Option<PathBuf>,
    /// Where to write the process's pid.
    pub pid_file: Option<PathBuf>,
    /// Return once the process runs.
    pub detach: bool,
    /// Descriptors 3, 4, ... passed to the process.
    pub preserve_fds: u32,
    /// Allow exec in a paused container.
    pub ignore_paused: bool,
}

/// The command-line form of `exec`: changes to the container's own process.
#[derive(Debug, Clone, Default)]
pub struct ExecArgs {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Working directory.
    pub cwd: Option<String>,
    /// `KEY=VALUE` entries added to (or replacing in) the environment.
    pub env: Vec<String>,
    /// `UID[:GID]`.
    pub user: Option<String>,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Capabilities added to every set.
    pub caps: Vec<String>,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// AppArmor profile.
    pub apparmor: Option<String>,
    /// SELinux label.
    pub process_label: Option<String>,
}

/// Reads a process JSON from `path` (`-`: standard input).
pub fn process_from_file(path: &Path) -> Result<Process> {
    let data = if path == Path::new("-") {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
            .map_err(Error::io("read", "-"))?;
        v
    } else {
        std::fs::read(path).map_err(Error::io("read", path))?
    };
    serde_json::from_slice(&data).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

/// The container's process changed by the command-line flags.
pub fn process_from_args(base: &Process, a: &ExecArgs) -> Result<Process> {
    if a.args.is_empty() {
        return Err(Error::InvalidInput(
            "exec needs a command (or --process FILE)".into(),
        ));
    }
    let mut p = base.clone();
    p.set_args(Some(a.args.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.into());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::InvalidInput(format!("--user {u:?}: expected UID[:GID]")))
        };
        let mut user = User::default();
        user.set_uid(num(uid)?);
        user.set_gid(num(gid)?);
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if !a.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.caps {
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase()))
                    .map_err(|_| Error::InvalidInput(format!("unknown capability {name:?}")))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            caps.set_inheritable(add(caps.inheritable()));
            caps.set_ambient(add(caps.ambient()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if a.apparmor.is_some() {
        p.set_apparmor_profile(a.apparmor.clone());
    }
    if a.process_label.is_some() {
        p.set_selinux_label(a.process_label.clone());
    }
    Ok(p)
}

/// A process started by `exec`, until it exits.
#[derive(Debug)]
pub struct ExecHandle {
    running: isolate::Running,
    proxy: Option<isolate::PtyProxy>,
}

/// `exec`: starts the process. Returns the handle (to [`ExecHandle::wait`] unless
/// detached) and warnings.
pub fn exec(root: &StateRoot, opts: &ExecOptions) -> Result<(ExecHandle, Vec<String>)> {
    let c = root.load(&opts.id)?;
    let status = c.status();
    let refused = match status {
        Status::Stopped | Status::Creating => true,
        Status::Paused => !opts.ignore_paused,
        Status::Created | Status::Running => false,
    };
    if refused {
        return Err(Error::WrongStatus {
            action: "cannot exec in a container that is not running",
            id: opts.id.clone(),
            status,
        });
    }
    let mut only_process = Spec::default();
    only_process.set_linux(None);
    only_process.set_process(Some(opts.process.clone()));
    let warnings = bundle::check_support(&only_process, Lsm::detect())?;
    let terminal = opts.process.terminal().unwrap_or(false);
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::InvalidInput(
            "cannot use a console socket: the process has no terminal".into(),
        ));
    }
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::InvalidInput(
            "cannot allocate a terminal for a detached process without --console-socket".into(),
        ));
    }
    let mut io = IsolateExec::new(["mydocker-runc", "init"]);
    io.stdin = Stdio::Inherit;
    io.stdout = Stdio::Inherit;
    io.stderr = Stdio::Inherit;
    io.preserve_fds = opts.preserve_fds;
    if let Some(cg) = c.cgroup() {
        io.cgroup_procs = cg.paths().iter().map(|p| p.join("cgroup.procs")).collect();
    }
    let seccomp = c
        .record
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone());
    let mut running = Isolate::exec(c.record.pid, &opts.process, seccomp.as_ref(), io)?;
    let proxy = match (running.take_pty_master(), &opts.console_socket) {
        (Some(m), Some(socket)) => {
            send_console(socket, m.as_fd())?;
            None
        }
        (Some(m), None) => Some(isolate::PtyProxy::start(m).map_err(Error::sys("terminal proxy"))?),
        (None, _) => None,
    };
    if let Some(p) = &opts.pid_file {
        fsutil::write_atomic_unsynced(p, running.pid().to_string().as_bytes())?;
    }
    Ok((ExecHandle { running, proxy }, warnings))
}

impl ExecHandle {
    /// Host pid of the process.
    pub fn pid(&self) -> i32 {
        self.running.pid()
    }

    /// Waits for the process; returns its exit code (128+N when killed by signal N).
    pub fn wait(mut self) -> Result<i32> {
        let status = self.running.wait()?;
        if let Some(p) = self.proxy.take() {
            let _ = p.wait();
        }
        Ok(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_change_the_base_process() {
        let mut base = Process::default();
        base.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        let a = ExecArgs {
            args: vec!["sh".into()],
            tty: true,
            cwd: Some("/tmp".into()),
            env: vec!["A=2".into(), "B=3".into()],
            user: Some("1000:100".into()),
            caps: vec!["cap_sys_admin".into()],
            ..ExecArgs::default()
        };
        let p = process_from_args(&base, &a).unwrap();
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(
            p.env().as_deref(),
            Some(&["PATH=/bin".to_string(), "A=2".into(), "B=3".into()][..])
        );
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        let caps = p.capabilities().as_ref().unwrap();
        assert!(
            caps.bounding()
                .as_ref()
                .unwrap()
                .contains(&Capability::SysAdmin)
        );
        let bad = ExecArgs {
            args: vec!["sh".into()],
            caps: vec!["CAP_NOPE".into()],
            ..ExecArgs::default()
        };
        assert!(process_from_args(&base, &bad).is_err());
        assert!(process_from_args(&base, &ExecArgs::default()).is_err());
    }
}
