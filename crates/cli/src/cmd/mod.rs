//! Command handlers: one module per command family, each `fn(ctx, args) -> Result<..>`.

mod archive;
mod attach;
mod auth;
mod build;
mod commit;
mod control;
mod cp;
mod exec;
mod images;
mod info;
mod inspect;
mod logs;
mod network;
mod ps;
mod pull;
mod run;
mod top;
mod update;
mod volume;

use crate::args::{Command, ContainerCommand, ImageCommand, NetworkCommand, SystemCommand};
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
                eprintln!("Error: {}", one_line(&e));
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

/// The command with docker's top-level shortcuts (`run`, `ps`, `images`...) turned into
/// their management command (`container run`, `container ls`, `image ls`...).
fn canonical(command: Command) -> Command {
    use ContainerCommand as C;
    use ImageCommand as I;
    match command {
        Command::Run(a) => Command::Container(C::Run(a)),
        Command::Create(a) => Command::Container(C::Create(a)),
        Command::Ps(a) => Command::Container(C::Ls(a)),
        Command::Logs(a) => Command::Container(C::Logs(a)),
        Command::Attach(a) => Command::Container(C::Attach(a)),
        Command::Exec(a) => Command::Container(C::Exec(a)),
        Command::Start(a) => Command::Container(C::Start(a)),
        Command::Stop(a) => Command::Container(C::Stop(a)),
        Command::Restart(a) => Command::Container(C::Restart(a)),
        Command::Kill(a) => Command::Container(C::Kill(a)),
        Command::Wait(a) => Command::Container(C::Wait(a)),
        Command::Pause(a) => Command::Container(C::Pause(a)),
        Command::Unpause(a) => Command::Container(C::Unpause(a)),
        Command::Rename(a) => Command::Container(C::Rename(a)),
        Command::Update(a) => Command::Container(C::Update(a)),
        Command::Rm(a) => Command::Container(C::Rm(a)),
        Command::Top(a) => Command::Container(C::Top(a)),
        Command::Stats(a) => Command::Container(C::Stats(a)),
        Command::Port(a) => Command::Container(C::Port(a)),
        Command::Commit(a) => Command::Container(C::Commit(a)),
        Command::Export(a) => Command::Container(C::Export(a)),
        Command::Cp(a) => Command::Container(C::Cp(a)),
        Command::Diff(a) => Command::Container(C::Diff(a)),
        Command::Build(a) => Command::Image(I::Build(a)),
        Command::Pull(a) => Command::Image(I::Pull(a)),
        Command::Push(a) => Command::Image(I::Push(a)),
        Command::Images(a) => Command::Image(I::Ls(a)),
        Command::Rmi(a) => Command::Image(I::Rm(a)),
        Command::History(a) => Command::Image(I::History(a)),
        Command::Tag(a) => Command::Image(I::Tag(a)),
        Command::Import(a) => Command::Image(I::Import(a)),
        Command::Save(a) => Command::Image(I::Save(a)),
        Command::Load(a) => Command::Image(I::Load(a)),
        Command::Info(a) => Command::System(SystemCommand::Info(a)),
        other => other,
    }
}

fn container(ctx: &Ctx, command: ContainerCommand) -> anyhow::Result<()> {
    use ContainerCommand as C;
    match command {
        C::Run(a) => run::run(ctx, &a),
        C::Create(a) => run::create_only(ctx, &a),
        C::Ls(a) => ps::ps(ctx, &a),
        C::Logs(a) => logs::logs(ctx, &a),
        C::Attach(a) => attach::attach(ctx, &a),
        C::Exec(a) => exec::exec(ctx, &a),
        C::Start(a) => control::start(ctx, &a),
        C::Stop(a) => control::stop(ctx, &a),
        C::Restart(a) => control::restart(ctx, &a),
        C::Kill(a) => control::kill(ctx, &a),
        C::Wait(a) => control::wait(ctx, &a),
        C::Pause(a) => control::pause(ctx, &a),
        C::Unpause(a) => control::unpause(ctx, &a),
        C::Rename(a) => control::rename(ctx, &a),
        C::Update(a) => update::update(ctx, &a),
        C::Rm(a) => control::rm(ctx, &a),
        C::Prune(a) => control::prune(ctx, &a),
        C::Inspect(a) => inspect::inspect(
            ctx,
            &crate::args::InspectAnyArgs {
                kind: Some("container".into()),
                ..a
            },
        ),
        C::Top(a) => top::top(ctx, &a),
        C::Stats(a) => top::stats(ctx, &a),
        C::Port(a) => ps::port(ctx, &a),
        C::Commit(a) => commit::commit(ctx, &a),
        C::Export(a) => archive::export(ctx, &a),
        C::Cp(a) => cp::cp(ctx, &a),
        C::Diff(a) => {
            for (kind, path) in ctx.engine.container_changes(&a.container)? {
                println!("{} {}", kind.letter(), path.display());
            }
            Ok(())
        }
    }
}

fn image(ctx: &Ctx, command: ImageCommand) -> anyhow::Result<()> {
    use ImageCommand as I;
    match command {
        I::Build(a) => build::build(ctx, &a),
        I::Pull(a) => pull::pull(ctx, &a),
        I::Push(a) => pull::push(ctx, &a),
        I::Ls(a) => images::images(ctx, &a),
        I::Rm(a) => images::rmi(ctx, &a),
        I::Tag(a) => images::tag(ctx, &a),
        I::Inspect(a) => images::inspect(ctx, &a),
        I::History(a) => images::history(ctx, &a),
        I::Prune(a) => images::prune(ctx, &a),
        I::Import(a) => commit::import(ctx, &a),
        I::Save(a) => archive::save(ctx, &a),
        I::Load(a) => archive::load(ctx, &a),
    }
}

fn network(ctx: &Ctx, command: NetworkCommand) -> anyhow::Result<()> {
    use NetworkCommand as N;
    match command {
        N::Create(a) => network::create(ctx, &a),
        N::Ls(a) => network::ls(ctx, &a),
        N::Inspect(a) => network::inspect(ctx, &a),
        N::Rm(a) => network::rm(ctx, &a),
        N::Connect(a) => network::connect(ctx, &a),
        N::Disconnect(a) => network::disconnect(ctx, &a),
        N::Prune(_) => network::prune(ctx),
    }
}

/// Runs `command` and returns the process exit code, printing a failure as one line.
pub(crate) fn dispatch(ctx: &Ctx, command: Command) -> u8 {
    let command = canonical(command);
    // Docker's CLI exits 1 when a command fails; `run` uses 125 for its own failures.
    let fail_code = match command {
        Command::Container(ContainerCommand::Run(_) | ContainerCommand::Create(_)) => {
            run::EXIT_MYDOCKER
        }
        _ => 1,
    };
    let result = match command {
        Command::Container(c) => container(ctx, c),
        Command::Image(c) => image(ctx, c),
        Command::Network(c) => network(ctx, c),
        Command::Volume(c) => volume::volume(ctx, c),
        Command::System(SystemCommand::Df) => images::df(ctx),
        Command::System(SystemCommand::Info(a)) => info::run(ctx, a.format.as_deref()),
        Command::Inspect(a) => inspect::inspect(ctx, &a),
        Command::Boot => control::boot(ctx),
        Command::Login(a) => auth::login(ctx, &a),
        Command::Logout(a) => auth::logout(ctx, &a),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let mut cmd = crate::args::Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "mydocker", &mut script);
            use std::io::Write;
            // A closed pipe (`| head`) ends the output quietly.
            let _ = std::io::stdout().write_all(&script);
            Ok(())
        }
        Command::Version(a) => info::version(ctx, a.format.as_deref()),
        // Every shortcut was turned into its management command above.
        _ => Err(anyhow::anyhow!("unhandled command")),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            if let Some(Status(code)) = e.downcast_ref::<Status>() {
                return *code;
            }
            if e.downcast_ref::<Reported>().is_some() {
                return fail_code;
            }
            // `run` failures read like docker's `docker: Error ...`, with the exit code of
            // the start (125 mydocker, 126 cannot invoke, 127 not found).
            if fail_code == run::EXIT_MYDOCKER {
                eprintln!("mydocker: {}", one_line(&e));
                return e
                    .downcast_ref::<engine::Error>()
                    .map_or(fail_code, engine::Error::exit_code);
            }
            eprintln!("Error: {}", one_line(&e));
            fail_code
        }
    }
}

/// An error and its causes as one line, each cause once: a cause whose text its
/// predecessor already ends with (engine and library errors include their sources) is
/// not repeated.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        crate::args::Cli::command().debug_assert();
    }

    #[test]
    fn completions_know_the_new_commands() {
        use clap::CommandFactory;
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut crate::args::Cli::command(),
                "mydocker",
                &mut script,
            );
            let script = String::from_utf8(script).unwrap();
            for word in ["volume", "cp", "history", "diff", "label-file"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }

    /// The subcommands build their arguments only when used (`defer`): a doc comment on a
    /// flattened argument struct would then replace the subcommand's own `about`.
    #[test]
    fn deferred_subcommands_keep_their_about() {
        use clap::CommandFactory;
        let before: Vec<(String, String)> = crate::args::Cli::command()
            .get_subcommands()
            .map(|c| {
                let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
                (c.get_name().to_owned(), about)
            })
            .collect();
        assert!(before.iter().any(|(n, _)| n == "run"));
        let mut built = crate::args::Cli::command();
        built.build();
        for (name, about) in before {
            let sub = built.find_subcommand(&name).unwrap();
            assert!(
                sub.get_arguments().next().is_some(),
                "{name}: no arguments built"
            );
            let after = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert_eq!(after, about, "{name}");
        }
    }

    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::other("disk on fire");
        let e = engine::Error::io("writing", "/x", io);
        let e = anyhow::Error::from(e).context("saving the record");
        assert_eq!(
            super::one_line(&e),
            "saving the record: writing /x: disk on fire"
        );
    }
}
