//! `commit` and `import`: new images from a container's changes or from a filesystem tar.

use crate::args::{CommitArgs, ImportArgs};
use crate::ctx::Ctx;
use anyhow::{Context, Result, bail};
use std::io::Read;

pub(crate) fn commit(ctx: &Ctx, args: &CommitArgs) -> Result<()> {
    let opts = engine::CommitOptions {
        repository: args.repository.clone(),
        author: args.author.clone(),
        message: args.message.clone(),
        changes: args.change.clone(),
        pause: args.pause,
    };
    let image = ctx.engine.commit(&args.container, &opts)?;
    println!("{}", image.id);
    Ok(())
}

pub(crate) fn import(ctx: &Ctx, args: &ImportArgs) -> Result<()> {
    if args.file.contains("://") {
        bail!("importing from a URL is not supported: download the file and import it");
    }
    let input: Box<dyn Read + Send> = if args.file == "-" {
        if rustix::termios::isatty(std::io::stdin()) {
            bail!("requested import from stdin, but stdin is a terminal");
        }
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file))?)
    };
    let opts = engine::ImportOptions {
        source: args.file.clone(),
        repository: args.repository.clone(),
        message: args.message.clone(),
        changes: args.change.clone(),
        platform: args.platform.clone(),
    };
    let image = ctx.engine.import(input, &opts)?;
    println!("{}", image.id);
    Ok(())
}
