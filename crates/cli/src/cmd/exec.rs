//! `exec`: another process in a running container. The exit code is the command's;
//! 126/127 when it cannot be invoked or is not found.

use crate::args::ExecArgs;
use crate::cmd::Status as ExitWith;
use crate::ctx::Ctx;
use anyhow::Result;

pub(crate) fn exec(ctx: &Ctx, args: &ExecArgs) -> Result<()> {
    let mut env = Vec::new();
    for f in &args.env_file {
        env.extend(crate::args::env_file(f)?);
    }
    for e in &args.env {
        env.extend(crate::args::env_arg(e)?);
    }
    let opts = engine::ExecOptions {
        command: args.command.clone(),
        tty: args.tty,
        interactive: args.interactive,
        env,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        privileged: args.privileged,
    };
    let attach = if args.detach {
        None
    } else {
        Some(crate::attach::streams(true)?)
    };
    match ctx.engine.exec(&args.container, &opts, attach) {
        Ok(None) => Ok(()),
        Ok(Some(exit)) => Err(ExitWith(u8::try_from(exit.code).unwrap_or(255)).into()),
        Err(e @ engine::Error::Isolate(_)) => {
            eprintln!("Error: exec failed: {e}");
            Err(ExitWith(e.exit_code()).into())
        }
        // An unknown user: docker's sentence, and its code for a command that cannot run.
        Err(engine::Error::StartFailed { message, .. }) => {
            eprintln!("Error: {message}");
            Err(ExitWith(126).into())
        }
        Err(e) => Err(e.into()),
    }
}
