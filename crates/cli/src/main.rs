//! `mydocker`: a daemonless, Docker-compatible container tool.
//!
//! The command line lives in [`args`] (clap structs whose doc comments are the help
//! text), the handlers in `cmd/` (one module per command family) call the `engine`
//! crate and format what it returns as docker does (tables, templates, progress).
//! Errors reach the user as one line on stderr, with docker's exit codes.

#![allow(clippy::print_stdout, clippy::print_stderr)] // The CLI is what prints.

mod args;
mod attach;
mod cmd;
mod ctx;
mod format;
mod progress;
mod seed;
mod template;

use clap::{CommandFactory, FromArgMatches};
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The container's init and the monitor of a detached container: this binary
    // re-executed by the engine.
    engine::helper_main();
    let argv: Vec<OsString> = std::env::args_os().collect();
    let command = args::Cli::command();
    let argv = rewrite_seed_syntax(&command, argv);
    let matches = match command.try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let cli = match args::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(125);
        }
    };
    let ctx = match ctx::Ctx::new(&cli.global) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(125);
        }
    };
    let code = cmd::dispatch(&ctx, cli.command);
    ctx.print_phases();
    ExitCode::from(code)
}

/// Applies [`seed::rewrite`] to the words after the subcommand name, using clap's own
/// definition of the subcommand to know which options take a value.
fn rewrite_seed_syntax(command: &clap::Command, argv: Vec<OsString>) -> Vec<OsString> {
    // Find the subcommand word: the first word that names one (skipping global options).
    let Some(pos) = argv.iter().skip(1).position(|a| {
        a.to_str()
            .is_some_and(|s| command.find_subcommand(s).is_some())
    }) else {
        return argv;
    };
    let pos = pos + 1;
    let Some(sub) = argv[pos].to_str().and_then(|s| command.find_subcommand(s)) else {
        return argv;
    };
    // The subcommands are deferred (see `args::Command`): this one's arguments are built
    // here, and only when a flag is looked up.
    let built = std::cell::OnceCell::new();
    let takes_value = |flag: &str| {
        let sub = built.get_or_init(|| {
            let mut sub = sub.clone();
            sub.build();
            sub
        });
        sub.get_arguments().any(|a| {
            let long = flag.strip_prefix("--").filter(|_| flag.starts_with("--"));
            let matches = match long {
                Some(l) => {
                    a.get_long() == Some(l) || a.get_all_aliases().is_some_and(|v| v.contains(&l))
                }
                None => {
                    let mut chars = flag.chars().skip(1);
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => a.get_short() == Some(c),
                        _ => false,
                    }
                }
            };
            matches && a.get_action().takes_values()
        })
    };
    let mut out: Vec<OsString> = argv[..=pos].to_vec();
    out.extend(seed::rewrite(argv[pos + 1..].to_vec(), &takes_value));
    out
}
