//! Command handlers: one module per command family, each `fn(ctx, args) -> Result<..>`.

mod archive;
mod auth;
mod commit;
mod control;
mod exec;
pub(crate) mod images;
mod info;
mod inspect;
mod logs;
mod network;
pub(crate) mod ps;
pub(crate) mod pull;
mod push;
mod rm;
pub(crate) mod run;
mod top;

use crate::cli::{Command, ContainerCommand, ImageCommand, NetworkCommand, SystemCommand};
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

/// docker's multi-container commands (`stop a b c`): runs `f` on each name in turn and
/// prints the line it returns; a failure prints `Error: ...` and the others still run.
/// Fails with [`Reported`] when any failed.
pub(crate) fn each_line(
    names: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(())
}

/// [`each_line`] printing the name itself on success.
pub(crate) fn each(
    names: &[String],
    mut f: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    each_line(names, |n| f(n).map(|()| n.to_owned()))
}

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
        Command::Run(_) | Command::Container(ContainerCommand::Run(_)) => run::EXIT_MYDOCKER,
        Command::Create(_) | Command::Container(ContainerCommand::Create(_)) => run::EXIT_MYDOCKER,
        _ => 1,
    };
    let result = match command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => run::run(ctx, &a),
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
            run::create(ctx, &a)
        }
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => ps::ps(ctx, &a),
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => logs::logs(ctx, &a),
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => exec::exec(ctx, &a),
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
            control::start(ctx, &a)
        }
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => control::stop(ctx, &a),
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
            control::restart(ctx, &a)
        }
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => control::kill(ctx, &a),
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => control::wait(ctx, &a),
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
            control::pause(ctx, &a)
        }
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
            control::unpause(ctx, &a)
        }
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => {
            control::rename(ctx, &a)
        }
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => rm::rm(ctx, &a),
        Command::Container(ContainerCommand::Prune(a)) => rm::prune(ctx, &a),
        Command::Inspect(a) => inspect::inspect(ctx, &a),
        Command::Container(ContainerCommand::Inspect(a)) => inspect::inspect(
            ctx,
            &crate::cli::InspectAnyArgs {
                kind: Some("container".into()),
                ..a
            },
        ),
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => top::top(ctx, &a),
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => top::stats(ctx, &a),
        Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => ps::port(ctx, &a),
        Command::Monitor(a) => crate::monitor::run(ctx, &a.id),
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
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
            commit::commit(ctx, &a)
        }
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => commit::import(ctx, &a),
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
            archive::export(ctx, &a)
        }
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(ctx, &a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(ctx, &a),
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }
}
