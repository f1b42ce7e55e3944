//! Command handlers: one module per command family, each `fn(ctx, args) -> Result<..>`.

mod auth;
pub(crate) mod images;
mod info;
mod network;
pub(crate) mod pull;
mod push;
pub(crate) mod run;

use crate::cli::{Command, ImageCommand, NetworkCommand, SystemCommand};
use crate::ctx::Ctx;

/// An error whose message was already printed (for example one line per failed image of
/// `rmi`); the command just exits with its failure code.
#[derive(Debug)]
pub(crate) struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Reported {}

/// An exit status chosen by the command itself (a container's exit code, 125/126/127).
#[derive(Debug)]
pub(crate) struct Status(pub(crate) u8);

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Status {}

/// Runs `command` and returns the process exit code, printing a failure as one line.
pub(crate) fn dispatch(ctx: &Ctx, command: Command) -> u8 {
    // Docker's CLI exits 1 when a command fails; `run` uses 125 for its own failures.
    let fail_code = match command {
        Command::Run(_) => run::EXIT_MYDOCKER,
        _ => 1,
    };
    let result = match command {
        Command::Run(a) => run::run(ctx, &a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => pull::run(ctx, &a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => push::run(ctx, &a),
        Command::Login(a) => auth::login(ctx, &a),
        Command::Logout(a) => auth::logout(ctx, &a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::images(ctx, &a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::rmi(ctx, &a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(ctx, &a),
        Command::Image(ImageCommand::Inspect(a)) => images::inspect(ctx, &a),
        Command::Image(ImageCommand::Prune(a)) => images::prune(ctx, &a),
        Command::System(SystemCommand::Df) => images::df(ctx),
        Command::Info | Command::System(SystemCommand::Info) => info::run(ctx),
        Command::Network(NetworkCommand::Create(a)) => network::create(ctx, &a),
        Command::Network(NetworkCommand::Ls(a)) => network::ls(ctx, &a),
        Command::Network(NetworkCommand::Inspect(a)) => network::inspect(ctx, &a),
        Command::Network(NetworkCommand::Rm(a)) => network::rm(ctx, &a),
        Command::Network(NetworkCommand::Connect(a)) => network::connect(ctx, &a),
        Command::Network(NetworkCommand::Disconnect(a)) => network::disconnect(ctx, &a),
        Command::Network(NetworkCommand::Prune(_)) => network::prune(ctx),
        Command::Version => {
            println!("mydocker version {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            if let Some(Status(code)) = e.downcast_ref::<Status>() {
                return *code;
            }
            if e.downcast_ref::<Reported>().is_none() {
                // `run` failures read like docker's `docker: Error ...`.
                if fail_code == run::EXIT_MYDOCKER {
                    eprintln!("mydocker: {e:#}");
                } else {
                    eprintln!("Error: {e:#}");
                }
            }
            fail_code
        }
    }
}
