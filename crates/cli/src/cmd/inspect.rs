//! `inspect` (and `container inspect`): docker's container document, or an image's when
//! no container has that name.

use crate::args::InspectAnyArgs;
use crate::cmd::Reported;
use crate::ctx::Ctx;
use anyhow::{Result, bail};

pub(crate) fn inspect(ctx: &Ctx, args: &InspectAnyArgs) -> Result<()> {
    let kind = args.kind.as_deref().unwrap_or("");
    if !matches!(kind, "" | "container" | "image") {
        bail!("\"{kind}\" is not a valid value for --type");
    }
    let mut docs = Vec::new();
    let mut failed = false;
    for name in &args.names {
        if kind != "image"
            && let Ok(rec) = ctx.engine.container(name)
        {
            docs.push(engine::container_document(&ctx.engine, &rec)?);
            continue;
        }
        if kind != "container"
            && let Ok(doc) = ctx.engine.image_document(name)
        {
            docs.push(doc);
            continue;
        }
        eprintln!("Error: No such object: {name}");
        failed = true;
    }
    crate::format::print_inspect(&docs, args.format.as_deref())?;
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}
