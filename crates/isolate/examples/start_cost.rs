//! Measures the start-to-exit time of `true` in a busybox rootfs with each
//! [`ExeProtection`], as root: `cargo run --release -p mydocker-isolate --example start_cost`.
//!
//! The binary is its own init (`start_cost init`), as `mydocker` is.

#![allow(
    clippy::print_stdout,
    reason = "a measuring program prints its results"
)]

use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use isolate::{Container, ExeProtection, SpawnOptions, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("init") {
        isolate::init_main();
    }
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("bin"))?;
    std::fs::copy("/bin/busybox", dir.path().join("bin/busybox"))?;
    symlink("busybox", dir.path().join("bin/true"))?;
    let mut spec = isolate::spec::docker_spec(dir.path(), &["true"]);
    spec.set_hostname(Some("bench".into()));
    if let Some(p) = spec.process_mut().as_mut() {
        p.set_rlimits(None);
    }
    let exe_size = std::fs::metadata("/proc/self/exe")?.len();
    println!("init binary: {} KiB", exe_size / 1024);
    for protection in [ExeProtection::ReadOnlyBind, ExeProtection::SealedMemfd] {
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..21 {
            let mut opts = SpawnOptions::new(["start_cost", "init"]);
            opts.stdin = Stdio::Null;
            opts.exe_protection = protection;
            let t = Instant::now();
            let mut running = Container::spawn(&spec, opts)?.start()?;
            let status = running.wait()?;
            times.push(t.elapsed());
            assert_eq!(status.code(), 0);
        }
        times.sort();
        println!(
            "{protection:?}: median {:?}, min {:?}, max {:?} (21 runs)",
            times[10], times[0], times[20]
        );
    }
    Ok(())
}
