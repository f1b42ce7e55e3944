//! `fixture-registry`: starts a local `docker-registry` on 127.0.0.1, pushes the fixture
//! images (and with `--big` the benchmark image), prints one line per image reference and
//! then `REGISTRY=127.0.0.1:PORT` (so once that line is out, everything is pushed), and
//! keeps running until its stdin reaches EOF or it gets SIGTERM or SIGINT. Then it stops
//! the registry and removes its directory.
//!
//! ```text
//! fixture-registry [--big] [--big-size BYTES] [--big-layers N] [--no-stdin]
//! ```
//!
//! `--no-stdin` ignores stdin (for when it is `/dev/null`) and waits for a signal only.

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics (seeds, skips).

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::mpsc;

use signal_hook::consts::{SIGINT, SIGTERM};
use test_support::{Fixtures, Registry, RegistryOptions, big_image};

struct Args {
    big: bool,
    big_size: u64,
    big_layers: usize,
    watch_stdin: bool,
}

const USAGE: &str =
    "usage: fixture-registry [--big] [--big-size BYTES] [--big-layers N] [--no-stdin]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        big: false,
        big_size: 500_000_000,
        big_layers: 5,
        watch_stdin: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--big" => args.big = true,
            "--big-size" => {
                let v = it.next().ok_or("--big-size needs a value")?;
                args.big_size = v.parse().map_err(|_| format!("bad --big-size {v:?}"))?;
                args.big = true;
            }
            "--big-layers" => {
                let v = it.next().ok_or("--big-layers needs a value")?;
                args.big_layers = v.parse().map_err(|_| format!("bad --big-layers {v:?}"))?;
                args.big = true;
            }
            "--no-stdin" => args.watch_stdin = false,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn run(args: &Args) -> Result<(), String> {
    // Listen for signals before doing anything slow, so a SIGTERM during setup still
    // leads to a clean stop.
    let (tx, rx) = mpsc::channel::<&'static str>();
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
    let signal_tx = tx.clone();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = signal_tx.send("signal");
        }
    });

    let registry = Registry::start(RegistryOptions::default()).map_err(|e| e.to_string())?;
    if let Ok(reason) = rx.try_recv() {
        eprintln!("fixture-registry: stopping ({reason})");
        return Ok(());
    }
    let fixtures = Fixtures::push(&registry).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let print = |out: &mut std::io::StdoutLock<'_>, line: String| -> Result<(), String> {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())
    };
    for f in fixtures.all() {
        print(&mut out, f.reference.to_string())?;
    }
    if args.big {
        if let Ok(reason) = rx.try_recv() {
            eprintln!("fixture-registry: stopping ({reason})");
            return Ok(());
        }
        let big = big_image(&registry, "big:latest", args.big_size, args.big_layers)
            .map_err(|e| e.to_string())?;
        eprintln!(
            "fixture-registry: {} has {} layers, {} bytes compressed, {} uncompressed",
            big.reference,
            big.layers.len(),
            big.compressed_size(),
            big.uncompressed_size()
        );
        print(&mut out, big.reference.to_string())?;
    }
    print(&mut out, format!("REGISTRY={}", registry.host()))?;
    drop(out);

    if args.watch_stdin {
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let _ = tx.send("end of stdin");
        });
    }
    let reason = rx.recv().unwrap_or("channel closed");
    eprintln!("fixture-registry: stopping ({reason})");
    registry.stop();
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixture-registry: {e}");
            ExitCode::FAILURE
        }
    }
}
