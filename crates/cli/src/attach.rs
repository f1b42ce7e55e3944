//! Attaching a container to our own terminal and streams (`run`, `start -a`, `exec`):
//! the engine copies between them and the container, which only gets pipes or its own
//! pty.

use crate::ctx::Ctx;
use anyhow::Result;

/// Our own standard streams, for the engine to copy to and from (duplicates: the
/// container never gets them).
pub(crate) fn streams(forward_signals: bool) -> Result<engine::Attach> {
    Ok(engine::Attach {
        stdin: rustix::stdio::stdin().try_clone_to_owned()?,
        stdout: rustix::stdio::stdout().try_clone_to_owned()?,
        stderr: rustix::stdio::stderr().try_clone_to_owned()?,
        forward_signals,
    })
}

/// Starts container `id` attached to our streams (`run`, `start -a`); returns its exit
/// code, and reports an OOM kill as docker does.
pub(crate) fn foreground(ctx: &Ctx, id: &str) -> Result<u8> {
    let exit = ctx.engine.run_attached(id, streams(true)?)?;
    if exit.oom {
        eprintln!(
            "mydocker: container {} was killed: out of memory (OOM)",
            &id[..12.min(id.len())]
        );
    }
    Ok(u8::try_from(exit.code).unwrap_or(255))
}
