//! `run` and `create`: a container from an image, run in the foreground (its streams
//! copied to ours, our signals forwarded) or detached under a monitor (`-d`). The exit
//! code is the container's, 128+N when a signal N killed it, and 125/126/127 when
//! mydocker failed, the command could not be invoked or was not found.

use crate::args::RunArgs;
use crate::cmd::Status as ExitWith;
use crate::ctx::Ctx;
use crate::progress::Progress;
use anyhow::Result;

/// Docker's exit code when mydocker itself fails.
pub(crate) const EXIT_MYDOCKER: u8 = 125;

/// Creates the container `run` or `create` asks for; a missing image is pulled with its
/// progress on stderr (stdout belongs to the container).
fn create(ctx: &Ctx, run: &RunArgs) -> Result<engine::Record> {
    let opts = run.to_options()?;
    engine::logs::LogOpts::check(&opts.log_driver, &opts.log_opt)?;
    // Containers whose owner died may hold addresses or ports this one needs.
    let _ = ctx.engine.containers();
    let source = engine::ImageSource {
        pull: run.pull.parse()?,
        platform: run.platform.as_deref(),
    };
    let progress = Progress::to_stderr(run.quiet);
    Ok(ctx.engine.create(&opts, source, &progress)?)
}

pub(crate) fn run(ctx: &Ctx, run: &RunArgs) -> Result<()> {
    let rec = create(ctx, run)?;
    if run.detach {
        ctx.engine.start_detached(&rec.id)?;
        println!("{}", rec.id);
        return Ok(());
    }
    let code = crate::attach::foreground(ctx, &rec.id)?;
    Err(ExitWith(code).into())
}

/// `create`: a container in state `created`; prints its ID.
pub(crate) fn create_only(ctx: &Ctx, run: &RunArgs) -> Result<()> {
    let rec = create(ctx, run)?;
    println!("{}", rec.id);
    Ok(())
}
