//! `exec`: another process in a running container, with the container's namespaces,
//! cgroup, capabilities, seccomp profile and environment (overridden by the options).
//! Its streams are pipes (or its own pty) copied to and from the caller's descriptors.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use oci_spec::runtime::Process;

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::{Error, Result, invalid};
use crate::lifecycle::{cgroup_of, load_spec};
use crate::logs::Stream;
use crate::options::{clean_abs, merge_env};
use crate::recovery::lookup;
use crate::stdio::{Copier, StdinPump, Tee};
use crate::supervisor::{Attach, Exit};

/// How long output is still copied after the process exited (from its background
/// children that still hold the pipes).
const OUTPUT_GRACE: Duration = Duration::from_secs(3);

/// What `exec` runs.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `NAME=value` pairs over the container's environment (`-e`, `--env-file`).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u name|uid[:group|gid]`, resolved inside the container.
    pub user: Option<String>,
    /// `--privileged`.
    pub privileged: bool,
}

/// The process to run: the container's own settings, with the options applied.
fn process_for(opts: &ExecOptions, spec: &oci_spec::runtime::Spec) -> Result<Process> {
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(opts.command.clone()));
    process.set_terminal(Some(opts.tty));
    process.set_console_size(None);
    let mut env = process.env().clone().unwrap_or_default();
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_owned());
    }
    merge_env(&mut env, opts.env.iter().cloned());
    process.set_env(Some(env));
    if let Some(w) = &opts.workdir {
        if !w.starts_with('/') {
            invalid!("the working directory '{w}' is invalid, it needs to be an absolute path");
        }
        process.set_cwd(clean_abs(Path::new(w)));
    }
    if opts.privileged {
        process.set_capabilities(Some(isolate::caps::resolve::<&str>(&[], &[], true)?));
    }
    Ok(process)
}

impl Engine {
    /// Runs `opts.command` in running container `name`. With `attach`, its streams are
    /// copied to and from the caller's descriptors and its exit code returned; without
    /// (`-d`), it runs on its own and `None` is returned once it started.
    ///
    /// # Errors
    /// No such container, not running, or the command could not be run (the error's
    /// `exit_code` is 126 when it cannot be invoked, 127 when not found).
    pub fn exec(
        &self,
        name: &str,
        opts: &ExecOptions,
        attach: Option<Attach>,
    ) -> Result<Option<Exit>> {
        let rec = lookup(self, name)?;
        rec.state.status.can_exec(&rec.id)?;
        self.mark("exec: container looked up");
        let dir = Containers::new(&self.config.root).dir(&rec.id);
        let spec = load_spec(&dir, &rec.id)?;
        let process = process_for(opts, &spec)?;
        self.mark("exec: spec loaded, process made");
        let seccomp = if opts.privileged {
            None
        } else {
            spec.linux().as_ref().and_then(|l| l.seccomp().clone())
        };
        let cg = cgroup_of(&rec)?;
        let mut io = isolate::ExecOptions::new(["mydocker", "init"]);
        io.cgroup_procs = cg.paths().iter().map(|p| p.join("cgroup.procs")).collect();
        if let Some(u) = &opts.user {
            io.user = Some(crate::spec::user_request(u)?);
        }
        // The process gets pipes (or its own pty with -t), never our descriptors.
        if attach.is_some() && !opts.tty {
            if opts.interactive {
                io.stdin = isolate::Stdio::Piped;
            }
            io.stdout = isolate::Stdio::Piped;
            io.stderr = isolate::Stdio::Piped;
        }
        let mut running =
            isolate::Container::exec(rec.state.pid as i32, &process, seccomp.as_ref(), io)
                .map_err(crate::error::from_isolate)?;
        self.mark("exec: process started in the container");
        let Some(attach) = attach else {
            // The process is reparented to the container's init when we exit.
            return Ok(None);
        };
        let forwarder = if attach.forward_signals {
            Some(
                isolate::SignalForwarder::start(running.pid())
                    .map_err(|e| Error::os("forwarding signals", e))?,
            )
        } else {
            None
        };
        let streams = ExecStreams::start(&mut running, attach, opts.interactive)?;
        self.mark("exec: output copiers started");
        let status = running.wait()?;
        self.mark("exec: process exited (reaped)");
        streams.finish();
        drop(forwarder);
        self.mark("exec: output drained, threads joined");
        Ok(Some(Exit {
            code: status.code(),
            oom: false,
        }))
    }
}

/// The threads moving an exec'd process's streams.
struct ExecStreams {
    proxy: Option<isolate::PtyProxy>,
    pump: Option<StdinPump>,
    copier: Option<Copier>,
}

impl ExecStreams {
    fn start(running: &mut isolate::Running, attach: Attach, interactive: bool) -> Result<Self> {
        if let Some(master) = running.take_pty_master() {
            let input: OwnedFd = attach.stdin;
            let proxy = isolate::PtyProxy::start_with(master, input, attach.stdout)
                .map_err(|e| Error::os("proxying the terminal", e))?;
            return Ok(ExecStreams {
                proxy: Some(proxy),
                pump: None,
                copier: None,
            });
        }
        let mut sources = Vec::new();
        if let Some(out) = running.stdout.take() {
            sources.push((OwnedFd::from(out), Stream::Stdout));
        }
        if let Some(err) = running.stderr.take() {
            sources.push((OwnedFd::from(err), Stream::Stderr));
        }
        let tee = Tee {
            stdout: File::from(attach.stdout),
            stderr: File::from(attach.stderr),
        };
        let copier = Copier::start(sources, None, Some(tee))?;
        let pump = match running.stdin.take() {
            Some(pipe) if interactive => Some(StdinPump::start(attach.stdin, pipe)?),
            _ => None,
        };
        Ok(ExecStreams {
            proxy: None,
            pump,
            copier: Some(copier),
        })
    }

    fn finish(self) {
        if let Some(p) = self.pump {
            p.stop();
        }
        if let Some(p) = self.proxy {
            let _ = p.wait();
        }
        if let Some(c) = self.copier {
            c.finish(OUTPUT_GRACE);
        }
    }
}

impl Engine {
    /// Starts `command` in running container `rec` as a health check: the container's
    /// own process settings, its output to the given descriptors, stdin empty.
    pub(crate) fn exec_probe(
        &self,
        rec: &crate::record::Record,
        command: Vec<String>,
        stdout: isolate::Stdio,
        stderr: isolate::Stdio,
    ) -> Result<isolate::Running> {
        let dir = Containers::new(&self.config.root).dir(&rec.id);
        let spec = load_spec(&dir, &rec.id)?;
        let opts = ExecOptions {
            command,
            ..ExecOptions::default()
        };
        let process = process_for(&opts, &spec)?;
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        let cg = cgroup_of(rec)?;
        let mut io = isolate::ExecOptions::new(["mydocker", "init"]);
        io.cgroup_procs = cg.paths().iter().map(|p| p.join("cgroup.procs")).collect();
        io.stdout = stdout;
        io.stderr = stderr;
        // As docker, the check runs as the container's user.
        if !rec.user.is_empty() {
            io.user = Some(crate::spec::user_request(&rec.user)?);
        }
        isolate::Container::exec(rec.state.pid as i32, &process, seccomp.as_ref(), io)
            .map_err(crate::error::from_isolate)
    }
}
