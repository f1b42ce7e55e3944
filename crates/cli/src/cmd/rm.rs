//! `rm` and `container prune`: removing containers with everything they hold (mounts,
//! writable layer, cgroup, network attachments, state).

use crate::cli::{ContainerPruneArgs, RmArgs};
use crate::cmd::Reported;
use crate::container::Containers;
use crate::ctx::Ctx;
use crate::format::human_size;
use crate::launch;
use crate::monitor;
use anyhow::{Result, bail};
use rustix::process::Signal;
use std::time::Duration;

/// How long `rm -f` waits for a killed container's monitor to record its end.
const AFTER_KILL: Duration = Duration::from_secs(30);

/// Removes one container; `force` kills a running one first.
pub(crate) fn remove_container(ctx: &Ctx, name: &str, force: bool) -> Result<()> {
    let rec = monitor::lookup(ctx, name)?;
    let containers = Containers::new(&ctx.root);
    if monitor::is_active(&rec) {
        if !force {
            bail!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                rec.name
            );
        }
        let _ = monitor::signal_process(rec.state.pid, rec.state.pid_start, Signal::KILL);
        if rec.state.status == crate::container::Status::Paused
            && let Ok(cg) = launch::cgroup_of(&rec)
        {
            let _ = cg.thaw();
        }
        // The monitor records the end and releases the runtime resources (and removes a
        // `--rm` container itself).
        if monitor::wait_finished(ctx, &rec.id, Some(AFTER_KILL))?.is_none() {
            return Ok(());
        }
    }
    let Ok(_lock) = containers.lock(&rec.id) else {
        return Ok(()); // removed meanwhile
    };
    let Ok(rec) = containers.load(&rec.id) else {
        return Ok(());
    };
    if monitor::is_active(&rec) {
        bail!(
            "cannot remove container \"/{}\": it was started again meanwhile",
            rec.name
        );
    }
    launch::remove(ctx, &rec)
}

pub(crate) fn rm(ctx: &Ctx, args: &RmArgs) -> Result<()> {
    crate::cmd::each(&args.containers, |n| remove_container(ctx, n, args.force))
}

pub(crate) fn prune(ctx: &Ctx, _args: &ContainerPruneArgs) -> Result<()> {
    let containers = Containers::new(&ctx.root);
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    let mut failed = false;
    for rec in monitor::sweep(ctx)? {
        if monitor::is_active(&rec) {
            continue;
        }
        let Ok(_lock) = containers.lock(&rec.id) else {
            continue;
        };
        let Ok(rec) = containers.load(&rec.id) else {
            continue;
        };
        if monitor::is_active(&rec) {
            continue;
        }
        // The bytes of its writable layer, before it goes (0 when unknown).
        let size = ctx
            .store()
            .and_then(|s| Ok(store::driver::by_name(&s, &rec.driver)?.writable_size(&rec.id)?))
            .unwrap_or(0);
        match launch::remove(ctx, &rec) {
            Ok(()) => {
                reclaimed += size;
                deleted.push(rec.id);
            }
            Err(e) => {
                eprintln!("Error: removing {}: {e:#}", rec.id);
                failed = true;
            }
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}
