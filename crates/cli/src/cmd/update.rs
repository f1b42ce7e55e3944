//! `update`: new limits and restart policy for each container named; prints each name
//! as given, one error line per failure (exit 1), as docker.

use crate::args::UpdateArgs;
use crate::cmd::each;
use crate::ctx::Ctx;
use anyhow::{Result, bail};

/// The engine's update from the flags (docker's checks and messages).
fn update_of(args: &UpdateArgs) -> Result<engine::Update> {
    let bytes = |v: &Option<String>| -> Result<Option<i64>> {
        Ok(match v.as_deref() {
            None => None,
            Some("-1") => Some(-1),
            Some(s) => Some(engine::options::ram_in_bytes(s)?),
        })
    };
    let online_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let update = engine::Update {
        cpus: args
            .cpus
            .as_deref()
            .map(|c| engine::options::parse_cpus(c, online_cpus))
            .transpose()?,
        cpu_period: args.cpu_period,
        cpu_quota: args.cpu_quota,
        cpu_shares: args.cpu_shares,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        memory: bytes(&args.memory)?,
        memory_swap: bytes(&args.memory_swap)?,
        memory_reservation: bytes(&args.memory_reservation)?,
        blkio_weight: args.blkio_weight,
        pids_limit: args.pids_limit,
        restart: args
            .restart
            .as_deref()
            .map(engine::RestartPolicy::parse)
            .transpose()?,
    };
    if update.is_empty() {
        bail!("You must provide one or more flags when using this command.");
    }
    Ok(update)
}

pub(crate) fn update(ctx: &Ctx, args: &UpdateArgs) -> Result<()> {
    let update = update_of(args)?;
    each(&args.containers, |n| Ok(ctx.engine.update(n, &update)?))
}
