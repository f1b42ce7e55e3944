//! `logs`: replays a container's json-file log; `-f` follows it until the container stops.

use crate::cli::LogsArgs;
use crate::ctx::Ctx;
use crate::logs::{self, ReadOpts};
use crate::monitor;
use anyhow::{Context, Result, bail};

pub(crate) fn logs(ctx: &Ctx, args: &LogsArgs) -> Result<()> {
    let rec = monitor::lookup(ctx, &args.container)?;
    if rec.log_driver == "none" {
        bail!("configured logging driver does not support reading");
    }
    let tail = match args.tail.as_str() {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(v) if v < 0 => None,
            Ok(v) => Some(v as usize),
            Err(_) => bail!("invalid value for --tail: {n:?} (a number or \"all\")"),
        },
    };
    let opts = ReadOpts {
        tail,
        since: args
            .since
            .as_deref()
            .map(logs::parse_time_arg)
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(logs::parse_time_arg)
            .transpose()?,
        timestamps: args.timestamps,
    };
    let path = monitor::log_path(ctx, &rec.id);
    // Where following starts: the end of what is replayed now.
    let offset = logs::current_len(&path);
    // Only up to `offset`: what is appended meanwhile is for the follow below (or, without
    // -f, for the next command).
    let entries = logs::read_upto(&path, &opts, offset).context("reading the container's log")?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for e in &entries {
        if logs::print(e, &opts, &mut out, &mut err).is_err() {
            return Ok(()); // stdout closed (`| head`)
        }
    }
    if !args.follow || !monitor::is_active(&rec) || opts.until.is_some() {
        return Ok(());
    }
    let id = rec.id.clone();
    let mut done = || match crate::container::Containers::new(&ctx.root).load(&id) {
        Ok(r) => match monitor::refresh(ctx, r) {
            Ok(Some(r)) => !monitor::is_active(&r),
            _ => true,
        },
        Err(_) => true,
    };
    let follow_opts = ReadOpts { tail: None, ..opts };
    match logs::follow(&path, offset, &follow_opts, &mut done, &mut out, &mut err) {
        Ok(()) => Ok(()),
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}
