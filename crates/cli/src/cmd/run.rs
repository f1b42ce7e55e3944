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
    // Docker's CLI claims the ID file before creating anything.
    let cidfile = match &opts.cidfile {
        Some(path) => Some(claim_cidfile(path)?),
        None => None,
    };
    let progress = Progress::to_stderr(run.quiet);
    let rec = ctx.engine.create(&opts, source, &progress);
    if let Some((mut file, path)) = cidfile {
        use std::io::Write;
        match &rec {
            Ok(rec) => file.write_all(rec.id.as_bytes()).map_err(|e| {
                anyhow::anyhow!("failed to write the container ID to the file: {e}")
            })?,
            Err(_) => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(rec?)
}

/// Creates `--cidfile PATH`, refusing one that exists as docker does.
fn claim_cidfile(path: &str) -> Result<(std::fs::File, String)> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => Ok((f, path.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "Container ID file found, make sure the other container isn't running or delete {path}"
        ),
        Err(e) => anyhow::bail!("failed to create the container ID file: {e}"),
    }
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
