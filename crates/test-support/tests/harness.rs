//! The harness itself: the fixture-registry binary's lifecycle, the big image generator,
//! and cleanup of private registries.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use registry::{Platform, Reference};
use test_support::{Registry, RegistryOptions, big_image, test_client_config};

fn answers(host: &str) -> bool {
    std::net::TcpStream::connect_timeout(&host.parse().unwrap(), Duration::from_millis(300)).is_ok()
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    panic!("fixture-registry did not exit");
}

/// Starts the binary and reads its output up to the `REGISTRY=` line.
fn start_fixture_registry() -> (Child, Vec<String>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fixture-registry"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut refs = Vec::new();
    let host = loop {
        let line = lines.next().expect("output ends before REGISTRY=").unwrap();
        match line.strip_prefix("REGISTRY=") {
            Some(h) => break h.to_owned(),
            None => refs.push(line),
        }
    };
    (child, refs, host)
}

#[test]
fn fixture_registry_serves_until_stdin_closes() {
    let (mut child, refs, host) = start_fixture_registry();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
    assert_eq!(refs.len(), 6, "{refs:?}");
    let client =
        registry::Client::new(test_client_config(registry::CredentialSource::None)).unwrap();
    for r in &refs {
        let r: Reference = r.parse().unwrap();
        assert_eq!(r.registry(), host);
        client.resolve(&r, &Platform::host()).unwrap();
    }
    drop(child.stdin.take());
    assert!(wait_exit(&mut child).success());
    assert!(!answers(&host), "the registry still answers on {host}");
}

#[test]
fn fixture_registry_stops_on_sigterm() {
    let (mut child, _refs, host) = start_fixture_registry();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(wait_exit(&mut child).success());
    // The registry is stopped before the binary exits.
    assert!(!answers(&host), "the registry still answers on {host}");
}

#[test]
fn private_registry_is_gone_after_drop() {
    let reg = Registry::start(RegistryOptions::default()).unwrap();
    let host = reg.host().to_owned();
    let dir = reg.dir().to_owned();
    assert!(dir.join("config.yml").exists());
    assert!(answers(&host));
    drop(reg);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!answers(&host));
}

#[test]
fn small_big_image_pushes_and_pulls_verified() {
    let reg = Registry::start(RegistryOptions::default()).unwrap();
    let big = big_image(&reg, "big:small", 6 << 20, 3).unwrap();
    assert_eq!(big.layers.len(), 3);
    assert!(big.uncompressed_size() >= 6 << 20);
    let client = reg.client().unwrap();
    let resolved = client.resolve(&big.reference, &Platform::host()).unwrap();
    assert_eq!(resolved.digest, big.digest);
    for (got, want) in resolved.layers().iter().zip(&big.layers) {
        assert_eq!(got.digest(), &want.digest);
        let mut n = 0u64;
        let mut blob = client.open_blob(&big.reference, got).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = blob.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        assert_eq!(n, want.size);
        assert!(blob.is_verified());
    }
    // Same inputs, same image.
    let again = big_image(&reg, "big:again", 6 << 20, 3).unwrap();
    assert_eq!(again.digest, big.digest);
}

#[test]
fn registry_is_cleaned_up_when_its_owner_is_killed() {
    let (mut child, _refs, host) = start_fixture_registry();
    // SIGKILL: no chance to clean up; the supervisor sees its stdin pipe close.
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while answers(&host) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!answers(&host), "the registry outlived its owner");
}
