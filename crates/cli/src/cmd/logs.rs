//! `logs`: replays a container's json-file log; `-f` follows it until the container stops.

use crate::args::LogsArgs;
use crate::ctx::Ctx;
use anyhow::{Result, bail};
use engine::logs::{ReadOpts, Stream, parse_time_arg};
use std::io::Write;
use std::time::SystemTime;

pub(crate) fn logs(ctx: &Ctx, args: &LogsArgs) -> Result<()> {
    let tail = match args.tail.as_str() {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(v) if v < 0 => None,
            Ok(v) => Some(v as usize),
            Err(_) => bail!("invalid value for --tail: {n:?} (a number or \"all\")"),
        },
    };
    let now = SystemTime::now();
    let time = |s: &Option<String>| s.as_deref().map(|s| parse_time_arg(s, now)).transpose();
    let opts = ReadOpts {
        tail,
        since: time(&args.since)?,
        until: time(&args.until)?,
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let timestamps = args.timestamps;
    ctx.engine
        .logs(&args.container, &opts, args.follow, &mut |e| {
            let w: &mut dyn Write = match e.stream {
                Stream::Stdout => &mut out,
                Stream::Stderr => &mut err,
            };
            if timestamps {
                write!(w, "{} ", e.time)?;
            }
            w.write_all(e.log.as_bytes())?;
            w.flush()
        })?;
    Ok(())
}
