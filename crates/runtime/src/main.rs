//! `mydocker-runc`: runc's command line (as containerd's runc v2 shim, conmon and podman
//! call it) over the `oci_runtime` library.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod log;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The container's init (and an exec'd process's): this binary re-executed through
    // the protected /proc/self/exe copy.
    if std::env::args_os().nth(1).is_some_and(|a| a == "init") {
        isolate::init_main();
    }
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let log = match log::Log::open(&args.global) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mydocker-runc: {e}");
            return ExitCode::from(1);
        }
    };
    let code = cli::dispatch(args, &log);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
