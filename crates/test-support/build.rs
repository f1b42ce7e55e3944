//! Builds `probe/container_probe.rs` as a static executable (`test_support::PROBE`): the
//! tests run it inside busybox containers, which have no libc.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "probe/container_probe.rs";
    println!("cargo:rerun-if-changed={src}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "-O",
            "-C",
            "target-feature=+crt-static",
        ])
        .arg("-o")
        .arg(out.join("container-probe"))
        .arg(src)
        .status()
        .expect("running rustc for the container probe");
    assert!(
        status.success(),
        "building the container probe failed: {status}"
    );
}
