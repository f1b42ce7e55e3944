//! `pull` and `push`: the engine's image transfers with docker's progress display.

use crate::args::{PullArgs, PushArgs};
use crate::ctx::Ctx;
use crate::progress::Progress;
use anyhow::Result;

pub(crate) fn pull(ctx: &Ctx, args: &PullArgs) -> Result<()> {
    let progress = Progress::new(args.quiet);
    let pulled = ctx
        .engine
        .pull(&args.image, args.platform.as_deref(), &progress)?;
    if args.quiet {
        println!("{}", pulled.reference);
    }
    Ok(())
}

pub(crate) fn push(ctx: &Ctx, args: &PushArgs) -> Result<()> {
    let progress = Progress::new(args.quiet);
    let (reference, digest, size) = ctx.engine.push(&args.image, &progress)?;
    if args.quiet {
        println!("{reference}");
    } else {
        let tag = reference.tag().unwrap_or("latest");
        println!("{tag}: digest: {digest} size: {size}");
    }
    Ok(())
}
