//! Pull and push against a real `docker-registry` on 127.0.0.1 (started by test-support),
//! with an independent client (skopeo) cross-checking what we pushed.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions.

use std::io::Read;
use std::process::Command;

use registry::{
    Client, Compression, Descriptor, ErrorCode, ErrorKind, ManifestKind, MediaType, Platform,
    Reference, sha256_digest,
};
use test_support::{Fixture, Fixtures, Registry, test_client_config};

fn client() -> Client {
    Registry::shared().client().unwrap()
}

fn read_blob(client: &Client, r: &Reference, d: &Descriptor) -> Vec<u8> {
    let mut reader = client.open_blob(r, d).unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert!(reader.is_verified());
    out
}

fn check_pull(client: &Client, fixture: &Fixture, reference: &Reference, platform: &Platform) {
    let resolved = client.resolve(reference, platform).unwrap();
    assert_eq!(resolved.digest, fixture.digest, "{}", fixture.name);
    let image = fixture.image_for(platform).unwrap();
    assert_eq!(resolved.manifest.digest, image.manifest_digest);
    assert_eq!(resolved.manifest.bytes, image.manifest);
    assert_eq!(resolved.manifest.media_type(), image.manifest_media_type());
    assert_eq!(resolved.index.is_some(), fixture.is_index());
    if let Some(index) = &resolved.index {
        assert_eq!(index.digest, fixture.digest);
        assert_eq!(index.media_type(), fixture.media_type);
        assert_eq!(resolved.platform.as_ref(), Some(&image.platform));
    }
    assert_eq!(resolved.config().digest(), &image.config_digest);
    let config = client
        .fetch_blob(reference, resolved.config(), 1 << 20)
        .unwrap();
    assert_eq!(config, image.config);
    assert_eq!(resolved.layers().len(), image.layers.len());
    for (got, want) in resolved.layers().iter().zip(&image.layers) {
        assert_eq!(got.digest(), &want.digest);
        assert_eq!(got.media_type().to_string(), want.media_type);
        let bytes = read_blob(client, reference, got);
        assert_eq!(sha256_digest(&bytes), want.digest);
        assert_eq!(bytes, want.blob);
    }
}

#[test]
fn every_fixture_resolves_and_pulls_with_matching_digests() {
    let client = client();
    let host = Platform::host();
    for fixture in Fixtures::shared().all() {
        check_pull(&client, fixture, &fixture.reference, &host);
    }
}

#[test]
fn fixture_media_types_cover_docker_and_oci() {
    let f = Fixtures::shared();
    let compressions: Vec<Compression> = f
        .all()
        .iter()
        .flat_map(|fx| fx.image().layers.iter())
        .filter_map(|l| Compression::of_layer(&l.media_type))
        .collect();
    for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
        assert!(compressions.contains(&c), "{c:?}");
    }
    let kinds: Vec<Option<ManifestKind>> = f
        .all()
        .iter()
        .map(|fx| ManifestKind::from_media_type(fx.media_type))
        .collect();
    for k in [
        ManifestKind::DockerManifest,
        ManifestKind::OciManifest,
        ManifestKind::DockerManifestList,
        ManifestKind::OciIndex,
    ] {
        assert!(kinds.contains(&Some(k)), "{k:?}");
    }
    assert!(f.multilayer.image().layers.len() >= 3);
}

#[test]
fn pull_by_digest_verifies_and_matches() {
    let client = client();
    let host = Platform::host();
    for fixture in Fixtures::shared().all() {
        let pinned = fixture.reference.with_digest(fixture.digest.clone());
        let raw = client.fetch_manifest(&pinned).unwrap();
        assert_eq!(raw.digest, fixture.digest);
        check_pull(&client, fixture, &pinned, &host);
    }
    // A platform manifest of an index, pulled directly by its digest.
    let fx = &Fixtures::shared().multiarch;
    let arm = fx.image_for(&"linux/arm64".parse().unwrap()).unwrap();
    let by_digest: Reference = format!(
        "{}/{}@{}",
        fx.reference.registry(),
        fx.reference.repository(),
        arm.manifest_digest
    )
    .parse()
    .unwrap();
    let resolved = client.resolve(&by_digest, &host).unwrap();
    assert!(resolved.index.is_none());
    assert_eq!(resolved.digest, arm.manifest_digest);
}

#[test]
fn index_platform_choice_and_no_match_error() {
    let client = client();
    for fx in [
        &Fixtures::shared().multiarch,
        &Fixtures::shared().multiarch_docker,
    ] {
        for p in [
            "linux/amd64",
            "linux/arm64",
            "linux/aarch64",
            "linux/arm64/v8",
        ] {
            let platform: Platform = p.parse().unwrap();
            check_pull(&client, fx, &fx.reference, &platform);
        }
        let err = client
            .resolve(&fx.reference, &"linux/s390x".parse().unwrap())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(
            msg.contains("no matching manifest for linux/s390x")
                && msg.contains("linux/amd64, linux/arm64/v8"),
            "{msg}"
        );
    }
}

#[test]
fn unknown_repository_or_tag_is_not_found_with_the_registry_code() {
    let client = client();
    let reg = Registry::shared();
    let err = client
        .fetch_manifest(&reg.reference("does-not/exist:latest").unwrap())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.has_code(&ErrorCode::ManifestUnknown) || err.has_code(&ErrorCode::NameUnknown),
        "{err:?}"
    );

    let r = reg.reference("busybox:nope").unwrap();
    let err = client.resolve(&r, &Platform::host()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.has_code(&ErrorCode::ManifestUnknown));
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/busybox:nope not found: manifest unknown: manifest unknown",
            reg.host()
        )
    );

    let missing = Descriptor::new(
        MediaType::ImageLayerGzip,
        3,
        sha256_digest(b"no such blob anywhere"),
    );
    let err = client
        .open_blob(&reg.reference("busybox:latest").unwrap(), &missing)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.has_code(&ErrorCode::BlobUnknown), "{err:?}");
}

#[test]
fn unreachable_registry_is_reported_as_such() {
    // A port nothing listens on: bind one, then close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r: Reference = format!("127.0.0.1:{port}/x:1").parse().unwrap();
    let err = client().fetch_manifest(&r).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn push_monolithic_and_chunked_then_read_back() {
    let reg = Registry::shared();
    let r = reg.reference("pushtest/blobs:latest").unwrap();
    let mut config = test_client_config(registry::CredentialSource::None);
    config.upload_chunk_size = 4096;
    let small_chunks = Client::new(config).unwrap();
    let client = client();

    for (len, c) in [
        (1000usize, &client),
        (10_000, &small_chunks),
        (4096 * 3, &small_chunks),
    ] {
        let data = pseudo_random(len, len as u64);
        let digest = sha256_digest(&data);
        assert!(!c.blob_exists(&r, &digest).unwrap());
        let mut src = &data[..];
        c.push_blob(&r, &digest, len as u64, &mut src).unwrap();
        assert!(c.blob_exists(&r, &digest).unwrap());
        let d = Descriptor::new(MediaType::ImageLayer, len as u64, digest);
        assert_eq!(read_blob(c, &r, &d), data);
    }

    // Data that does not match its announced digest is refused.
    let data = pseudo_random(5000, 7);
    let wrong = sha256_digest(b"something else");
    let mut src = &data[..];
    let err = small_chunks
        .push_blob(&r, &wrong, 5000, &mut src)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(!client.blob_exists(&r, &wrong).unwrap());
    let mut src = &data[..];
    let err = client.push_blob(&r, &wrong, 5000, &mut src).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Integrity | ErrorKind::InvalidInput),
        "{err}"
    );

    // A source shorter or longer than announced is refused, in both upload modes.
    for c in [&client, &small_chunks] {
        let d = sha256_digest(&data);
        let mut short = &data[..4000];
        let err = c.push_blob(&r, &d, 5000, &mut short).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
        let mut long = &data[..];
        let err = c.push_blob(&r, &d, 4999, &mut long).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
        assert!(!c.blob_exists(&r, &d).unwrap());
    }

    // Cross-repository mount of a fixture layer.
    let layer = &Fixtures::shared().busybox.image().layers[0];
    let target = reg.reference("pushtest/mounted:latest").unwrap();
    assert!(!client.blob_exists(&target, &layer.digest).unwrap());
    assert!(
        client
            .mount_blob(&target, &layer.digest, "busybox")
            .unwrap()
    );
    assert!(client.blob_exists(&target, &layer.digest).unwrap());
    // Mounting something the source lacks starts (and cancels) an upload instead.
    assert!(!client.mount_blob(&target, &wrong, "busybox").unwrap());
}

#[test]
fn three_threads_download_layers_at_once() {
    let client = client();
    let fx = &Fixtures::shared().multilayer;
    let resolved = client.resolve(&fx.reference, &Platform::host()).unwrap();
    let handles: Vec<_> = resolved
        .layers()
        .iter()
        .cloned()
        .map(|layer| {
            let client = client.clone();
            let reference = fx.reference.clone();
            std::thread::spawn(move || {
                let mut reader = client.open_blob(&reference, &layer).unwrap();
                let mut n = 0u64;
                let mut buf = [0u8; 8192];
                loop {
                    let k = reader.read(&mut buf).unwrap();
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                }
                assert!(reader.is_verified());
                n
            })
        })
        .collect();
    let sizes: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let want: Vec<u64> = resolved.layers().iter().map(Descriptor::size).collect();
    assert_eq!(sizes, want);
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("skopeo is installed (cargo xtask deps)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn skopeo_reads_back_what_we_pushed() {
    for fx in Fixtures::shared().all() {
        let url = format!("docker://{}", fx.reference);
        let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &url]);
        assert_eq!(sha256_digest(&raw), fx.digest, "{}", fx.name);

        // skopeo picks the host's platform from indexes itself.
        let info: serde_json::Value =
            serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", &url])).unwrap();
        assert_eq!(info["Digest"], fx.digest.to_string(), "{}", fx.name);
        let image = fx.image_for(&Platform::host()).unwrap();
        let layers: Vec<String> = image.layers.iter().map(|l| l.digest.to_string()).collect();
        assert_eq!(info["Layers"], serde_json::json!(layers), "{}", fx.name);

        let config: serde_json::Value = serde_json::from_slice(&skopeo(&[
            "inspect",
            "--config",
            "--raw",
            "--tls-verify=false",
            &url,
        ]))
        .unwrap();
        let ours: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
        assert_eq!(config, ours, "{}", fx.name);
    }
}

#[test]
fn skopeo_copy_gets_the_same_blobs() {
    for fx in [&Fixtures::shared().multilayer, &Fixtures::shared().zstd] {
        let dir = tempfile::tempdir().unwrap();
        let dest = format!("oci:{}:copy", dir.path().display());
        skopeo(&[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{}", fx.reference),
            &dest,
        ]);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let image = fx.image();
        assert_eq!(
            index["manifests"][0]["digest"],
            image.manifest_digest.to_string(),
            "{}",
            fx.name
        );
        let blobs = dir.path().join("blobs").join("sha256");
        let digests = image
            .layers
            .iter()
            .map(|l| &l.digest)
            .chain([&image.config_digest, &image.manifest_digest]);
        for d in digests {
            let bytes = std::fs::read(blobs.join(d.digest())).unwrap();
            assert_eq!(&sha256_digest(&bytes), d, "{}", fx.name);
        }
    }
}
