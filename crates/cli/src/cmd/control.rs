//! Controlling containers: `start`, `stop`, `restart`, `kill`, `wait`, `pause`,
//! `unpause`, `rename`, `rm` and `container prune`. Each acts on every container named
//! and prints the name as given when it succeeds, one error line per failure (docker's
//! behaviour and exit code 1).

use crate::args::{
    ContainerPruneArgs, ContainersArgs, KillArgs, RenameArgs, RmArgs, StartArgs, StopArgs,
};
use crate::cmd::{Reported, Status as ExitWith, each, each_line};
use crate::ctx::Ctx;
use crate::format::human_size;
use anyhow::{Result, bail};

pub(crate) fn stop(ctx: &Ctx, args: &StopArgs) -> Result<()> {
    each(&args.containers, |n| {
        Ok(ctx.engine.stop(n, args.time, args.signal.as_deref())?)
    })
}

pub(crate) fn restart(ctx: &Ctx, args: &StopArgs) -> Result<()> {
    each(&args.containers, |n| {
        ctx.engine.stop(n, args.time, args.signal.as_deref())?;
        Ok(ctx.engine.start(n)?)
    })
}

pub(crate) fn kill(ctx: &Ctx, args: &KillArgs) -> Result<()> {
    let sig = engine::parse_signal(&args.signal)?;
    each(&args.containers, |n| Ok(ctx.engine.kill(n, sig)?))
}

pub(crate) fn start(ctx: &Ctx, args: &StartArgs) -> Result<()> {
    let _ = ctx.engine.containers();
    if args.attach || args.interactive {
        let [name] = args.containers.as_slice() else {
            bail!("you cannot start and attach multiple containers at once");
        };
        let rec = ctx.engine.container(name)?;
        if !rec.state.status.can_start(&rec.id)? {
            bail!(
                "container {name} is already running: attaching to a running container is not supported"
            );
        }
        let code = crate::attach::foreground(ctx, &rec.id)?;
        return Err(ExitWith(code).into());
    }
    each(&args.containers, |n| Ok(ctx.engine.start(n)?))
}

pub(crate) fn wait(ctx: &Ctx, args: &ContainersArgs) -> Result<()> {
    each_line(&args.containers, |n| Ok(ctx.engine.wait(n)?.to_string()))
}

pub(crate) fn pause(ctx: &Ctx, args: &ContainersArgs) -> Result<()> {
    each(&args.containers, |n| Ok(ctx.engine.set_paused(n, true)?))
}

pub(crate) fn unpause(ctx: &Ctx, args: &ContainersArgs) -> Result<()> {
    each(&args.containers, |n| Ok(ctx.engine.set_paused(n, false)?))
}

pub(crate) fn rename(ctx: &Ctx, args: &RenameArgs) -> Result<()> {
    Ok(ctx.engine.rename(&args.container, &args.new_name)?)
}

pub(crate) fn rm(ctx: &Ctx, args: &RmArgs) -> Result<()> {
    each(&args.containers, |n| {
        if args.volumes {
            Ok(ctx.engine.remove_with_volumes(n, args.force)?)
        } else {
            Ok(ctx.engine.remove(n, args.force)?)
        }
    })
}

pub(crate) fn prune(ctx: &Ctx, _args: &ContainerPruneArgs) -> Result<()> {
    let engine::control::Pruned {
        deleted,
        reclaimed,
        failed,
    } = ctx.engine.prune_containers()?;
    for (id, e) in &failed {
        eprintln!("Error: removing {id}: {e}");
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    if !failed.is_empty() {
        return Err(Reported.into());
    }
    Ok(())
}

/// `boot`: starts what docker's daemon would start when it starts, printing each name.
pub(crate) fn boot(ctx: &Ctx) -> Result<()> {
    let mut failed = false;
    for (name, outcome) in ctx.engine.boot()? {
        match outcome {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("Error: {name}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}
