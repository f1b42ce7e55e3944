//! `exec`: another process in a running container, with the container's namespaces,
//! cgroup, capabilities, seccomp profile and environment (overridden by the flags). The
//! exit code is the command's; 126/127 when it cannot be invoked or is not found.

use crate::cli::ExecArgs;
use crate::cmd::Status as ExitWith;
use crate::container::{Containers, Status};
use crate::ctx::Ctx;
use crate::launch;
use crate::logs::Stream;
use crate::monitor::{self, Copier, StdinPump};
use crate::parse;
use anyhow::{Context, Result, bail};
use oci_spec::runtime::{Process, Spec};
use std::path::Path;

/// Docker's exit code when `exec` itself fails.
const EXIT_FAILED: u8 = 126;

/// How long output is still copied after the process exited (from its background
/// children that still hold the pipes).
const OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// The process to run: the container's own settings, with the flags applied.
fn process_for(args: &ExecArgs, spec: &Spec, pid: u32) -> Result<Process> {
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(args.tty));
    process.set_console_size(None);
    let mut env = process.env().clone().unwrap_or_default();
    if args.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_owned());
    }
    let mut overrides = Vec::new();
    for f in &args.env_file {
        overrides.extend(parse::env_file(f)?);
    }
    for e in &args.env {
        overrides.extend(parse::env_arg(e)?);
    }
    parse::merge_env(&mut env, overrides);
    process.set_env(Some(env));
    if let Some(w) = &args.workdir {
        if !w.starts_with('/') {
            bail!("the working directory '{w}' is invalid, it needs to be an absolute path");
        }
        process.set_cwd(parse::clean_abs(Path::new(w)));
    }
    if let Some(u) = &args.user {
        // Names resolve against the container's own files, seen through its init.
        let root = Path::new("/proc").join(pid.to_string()).join("root");
        let passwd = crate::rootfs::read_in_root(&root, "/etc/passwd")?;
        let group = crate::rootfs::read_in_root(&root, "/etc/group")?;
        let user = parse::resolve_user(&parse::user_spec(u)?, passwd.as_deref(), group.as_deref())?;
        let mut ou = oci_spec::runtime::User::default();
        ou.set_uid(user.uid);
        ou.set_gid(user.gid);
        ou.set_additional_gids((!user.additional_gids.is_empty()).then_some(user.additional_gids));
        process.set_user(ou);
    }
    if args.privileged {
        process.set_capabilities(Some(isolate::caps::resolve::<&str>(&[], &[], true)?));
    }
    Ok(process)
}

pub(crate) fn exec(ctx: &Ctx, args: &ExecArgs) -> Result<()> {
    let rec = monitor::lookup(ctx, &args.container)?;
    match rec.state.status {
        Status::Running => {}
        Status::Paused => bail!(
            "Container {} is paused, unpause the container before exec",
            rec.id
        ),
        _ => bail!("container {} is not running", rec.id),
    }
    let dir = Containers::new(&ctx.root).dir(&rec.id);
    let spec: Spec = serde_json::from_slice(
        &std::fs::read(dir.join("config.json"))
            .with_context(|| format!("reading the spec of container {}", rec.id))?,
    )?;
    let process = process_for(args, &spec, rec.state.pid)?;
    let seccomp = if args.privileged {
        None
    } else {
        spec.linux().as_ref().and_then(|l| l.seccomp().clone())
    };
    let cg = launch::cgroup_of(&rec)?;
    let mut opts = isolate::ExecOptions::new(["mydocker", "init"]);
    opts.cgroup_procs = cg.paths().iter().map(|p| p.join("cgroup.procs")).collect();
    // The process gets pipes (or its own pty with -t), never our descriptors: we copy.
    if !args.detach && !args.tty {
        if args.interactive {
            opts.stdin = isolate::Stdio::Piped;
        }
        opts.stdout = isolate::Stdio::Piped;
        opts.stderr = isolate::Stdio::Piped;
    }
    let mut running =
        match isolate::Container::exec(rec.state.pid as i32, &process, seccomp.as_ref(), opts) {
            Ok(r) => r,
            Err(e) => {
                let code = u8::try_from(e.exit_code()).unwrap_or(EXIT_FAILED);
                eprintln!("Error: exec failed: {e}");
                return Err(ExitWith(code).into());
            }
        };
    if args.detach {
        // The process is reparented to the container's init when we exit.
        return Ok(());
    }
    let forwarder = isolate::SignalForwarder::start(running.pid())?;
    let proxy = match running.take_pty_master() {
        Some(master) => Some(isolate::PtyProxy::start(master)?),
        None => None,
    };
    let mut sources = Vec::new();
    if let Some(out) = running.stdout.take() {
        sources.push(monitor::source(out, Stream::Stdout));
    }
    if let Some(err) = running.stderr.take() {
        sources.push(monitor::source(err, Stream::Stderr));
    }
    let copier = (!sources.is_empty())
        .then(|| Copier::start(sources, None, true))
        .transpose()?;
    let pump = match running.stdin.take() {
        Some(pipe) => Some(StdinPump::start(pipe)?),
        None => None,
    };
    let status = running.wait()?;
    if let Some(p) = pump {
        p.stop();
    }
    if let Some(p) = proxy {
        let _ = p.wait();
    }
    if let Some(c) = copier {
        c.finish(OUTPUT_GRACE);
    }
    drop(forwarder);
    Err(ExitWith(u8::try_from(status.code()).unwrap_or(255)).into())
}
