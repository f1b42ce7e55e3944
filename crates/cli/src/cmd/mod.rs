//! Command handlers: one module per command, `run(ctx, args)`.

use crate::cli::Command;
use crate::ctx::Ctx;

/// Runs `command` and returns the process exit code, printing a failure as one line.
pub(crate) fn dispatch(ctx: &Ctx, command: Command) -> u8 {
    let _ = (ctx, command);
    eprintln!("Error: TEMPORARY");
    125
}
