//! `push-layered`: builds an image of many small layers (the busybox fixture's layer at the
//! base, then one layer per extra file) and pushes it to a running registry, for the
//! overlay-mount benchmark of `cargo xtask bench overlay`. Prints the pushed reference.
//!
//! ```text
//! push-layered --registry 127.0.0.1:PORT [--name layers:latest] [--layers 125]
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)] // Test diagnostics (seeds, skips).

use std::process::ExitCode;

use registry::{Client, Compression, CredentialSource, Reference};
use test_support::{
    Flavour, ImageBuilder, Layer, LayerBuilder, Meta, busybox_tar, test_client_config,
};

const USAGE: &str = "usage: push-layered --registry HOST:PORT [--name NAME:TAG] [--layers N]";

struct Args {
    registry: String,
    name: String,
    layers: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut registry = None;
    let mut name = "layers:latest".to_owned();
    let mut layers = 125usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match a.as_str() {
            "--registry" => registry = Some(value("--registry")?),
            "--name" => name = value("--name")?,
            "--layers" => {
                let v = value("--layers")?;
                layers = v.parse().map_err(|_| format!("bad --layers {v:?}"))?;
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let registry = registry.ok_or(format!("--registry is required\n{USAGE}"))?;
    if layers == 0 {
        return Err("--layers must be at least 1".to_owned());
    }
    Ok(Args {
        registry,
        name,
        layers,
    })
}

fn run(args: &Args) -> Result<Reference, String> {
    let flavour = Flavour::Oci;
    let mut image = ImageBuilder::new(flavour)
        .layer(
            Layer::new(
                busybox_tar().map_err(|e| e.to_string())?,
                Compression::Gzip,
                flavour,
            )
            .map_err(|e| e.to_string())?,
        )
        .cmd(&["sh"]);
    for i in 1..args.layers {
        let mut tar = LayerBuilder::new();
        tar.dir("layers", Meta::mode(0o755)).file(
            &format!("layers/{i:04}"),
            format!("layer {i}\n").as_bytes(),
            Meta::mode(0o644),
        );
        let tar = tar.finish().map_err(|e| e.to_string())?;
        let layer = Layer::new(&tar, Compression::Gzip, flavour).map_err(|e| e.to_string())?;
        image = image.layer(layer);
    }
    let image = image.build().map_err(|e| e.to_string())?;
    let reference =
        Reference::parse(&format!("{}/{}", args.registry, args.name)).map_err(|e| e.to_string())?;
    let client =
        Client::new(test_client_config(CredentialSource::None)).map_err(|e| e.to_string())?;
    image.push(&client, &reference).map_err(|e| e.to_string())?;
    Ok(reference)
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
        Ok(reference) => {
            println!("{reference}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("push-layered: {e}");
            ExitCode::FAILURE
        }
    }
}
