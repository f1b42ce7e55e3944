//! Image archives: save/load round trips, archives in the shapes other tools write (old
//! docker with symlinked layers, skopeo's docker-archive, OCI layouts with nested indexes),
//! hostile archives, new layers from tar streams, and the export tree tar.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use common::{Fixture, fixture, rootfs};
use serde_json::{Value, json};
use store::archive::{self, ArchiveFile, ImageName, LoadOptions, Loaded, SaveImage};
use store::testing::{LayerTar, assert_same_tree, diff_id, fixture_layers};
use store::{
    ArchiveReason, Digest, Error, ImageRecord, LayerSource, NewImage, StorageDriver, Store,
    sha256_of,
};

fn copy_driver(store: &Store) -> Arc<dyn StorageDriver> {
    store::driver::by_name(store, "copy").unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// `busybox:latest` -> `docker.io/library/busybox`, `latest`; full names pass through.
fn resolve(name: &str) -> Option<(String, String)> {
    let (repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (name, "latest"),
    };
    let repo = if repo.contains('/') {
        repo.to_owned()
    } else {
        format!("docker.io/library/{repo}")
    };
    Some((repo, tag.to_owned()))
}

/// Records an image made of `layers` (uncompressed tars; stored gzip when `gz`).
fn put_image(
    store: &Store,
    d: &dyn StorageDriver,
    layers: &[Vec<u8>],
    gz: bool,
    name: Option<(&str, &str)>,
) -> ImageRecord {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut parent: Option<Digest> = None;
    for l in layers {
        let (blob, mt) = if gz {
            (gzip(l), "application/vnd.oci.image.layer.v1.tar+gzip")
        } else {
            (l.clone(), "application/vnd.oci.image.layer.v1.tar")
        };
        let digest = store.blobs().write_bytes(&blob, None).unwrap();
        let src = LayerSource {
            digest: digest.clone(),
            media_type: mt.into(),
            diff_id: diff_id(l),
        };
        let (staged, _) = store
            .ingest_layer(d, parent.as_ref(), &src, || -> std::io::Result<&[u8]> {
                unreachable!("the blob is present")
            })
            .unwrap();
        parent = Some(d.commit_layer(staged).unwrap().chain_id);
        descs.push(json!({"mediaType": mt, "digest": digest.to_string(), "size": blob.len()}));
        diff_ids.push(diff_id(l).to_string());
    }
    let config = serde_json::to_vec(&json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_digest = store.blobs().write_bytes(&config, None).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let manifest_digest = store.blobs().write_bytes(&manifest, None).unwrap();
    store
        .add_unpacked_image(
            &NewImage {
                repository: name.map(|n| n.0.to_owned()).unwrap_or_default(),
                tag: name.map(|n| n.1.to_owned()),
                repo_digest: None,
                manifest_digest,
            },
            d,
        )
        .unwrap()
}

fn load_bytes(f: &Fixture, d: &dyn StorageDriver, bytes: &[u8]) -> store::Result<Vec<Loaded>> {
    let path = f
        ._dir
        .path()
        .join(format!("in-{}.tar", sha256_of(bytes).digest()));
    std::fs::write(&path, bytes).unwrap();
    let archive = ArchiveFile::open(&f.store, std::fs::File::open(&path).unwrap())?;
    let r = archive::load(
        &f.store,
        d,
        &archive,
        &LoadOptions {
            resolve_name: &resolve,
        },
    );
    drop(archive);
    std::fs::remove_file(&path).unwrap();
    r
}

/// The archive's entries: name -> content (links as "-> target").
fn entries(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn tree_of(
    d: &Arc<dyn StorageDriver>,
    top: Option<&Digest>,
) -> (store::testing::WritableGuard, std::path::PathBuf) {
    rootfs(d, top)
}

#[test]
fn save_then_load_round_trips_into_another_store() {
    let src = fixture();
    let d = copy_driver(&src.store);
    let layers = fixture_layers();
    let a = put_image(
        &src.store,
        &*d,
        &layers,
        true,
        Some(("docker.io/library/rich", "1")),
    );
    let b = put_image(&src.store, &*d, &layers[..1], false, None);
    let to_save = [
        SaveImage {
            image: a.clone(),
            names: vec![
                ImageName::new("docker.io/library/rich:1", "rich:1"),
                ImageName::new(
                    "example.com:5000/team/rich:2",
                    "example.com:5000/team/rich:2",
                ),
            ],
        },
        SaveImage {
            image: b.clone(),
            names: vec![],
        },
    ];
    let mut bytes = Vec::new();
    archive::save(&src.store, Some(&*d), &to_save, &mut bytes).unwrap();

    // The docker-archive half: layers hash to the diff IDs, configs to the image IDs.
    let e = entries(&bytes);
    let manifest: Value = serde_json::from_slice(&e["manifest.json"]).unwrap();
    assert_eq!(manifest.as_array().unwrap().len(), 2);
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["rich:1", "example.com:5000/team/rich:2"])
    );
    assert_eq!(manifest[1]["RepoTags"], Value::Null);
    let layer_paths = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layer_paths.len(), layers.len());
    for (p, l) in layer_paths.iter().zip(&layers) {
        assert_eq!(sha256_of(&e[p.as_str().unwrap()]), diff_id(l));
    }
    let config = &e[manifest[0]["Config"].as_str().unwrap()];
    assert_eq!(sha256_of(config), a.id);
    // The OCI half: one index entry per name plus one for the untagged image.
    assert_eq!(e["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index: Value = serde_json::from_slice(&e["index.json"]).unwrap();
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        m[0]["annotations"]["io.containerd.image.name"],
        "docker.io/library/rich:1"
    );
    assert_eq!(
        m[1]["annotations"]["org.opencontainers.image.ref.name"],
        "2"
    );
    let repos: Value = serde_json::from_slice(&e["repositories"]).unwrap();
    assert!(repos["rich"]["1"].is_string(), "{repos}");
    // Every blob is named by its digest.
    for (name, data) in &e {
        if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(sha256_of(data).digest(), hex, "{name}");
        }
    }
    // Saving again (without the driver's sizes) gives the same bytes.
    let mut again = Vec::new();
    archive::save(&src.store, None, &to_save, &mut again).unwrap();
    assert!(again == bytes, "save is deterministic");

    // Load into a fresh store: same IDs, names and trees.
    let dst = fixture();
    let d2 = copy_driver(&dst.store);
    let loaded = load_bytes(&dst, &*d2, &bytes).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].image.id, a.id);
    assert_eq!(
        loaded[0].names,
        vec![
            "docker.io/library/rich:1".to_owned(),
            "example.com:5000/team/rich:2".to_owned()
        ]
    );
    assert_eq!(loaded[1].image.id, b.id);
    assert!(loaded[1].names.is_empty());
    assert_eq!(
        dst.store.image("example.com:5000/team/rich:2").unwrap().id,
        a.id
    );
    let (_g1, t1) = tree_of(&d, a.top_chain_id());
    let (_g2, t2) = tree_of(&d2, loaded[0].image.top_chain_id());
    assert_same_tree(&t1, &t2);
    // The docker-archive's manifest reused the OCI manifest of the same archive.
    let oci_manifest = &e[&format!("blobs/sha256/{}", loaded[0].image.manifest_digest.digest())];
    assert_eq!(sha256_of(oci_manifest), loaded[0].image.manifest_digest);
    // Loading into the source store again changes nothing.
    let reloaded = load_bytes(&src, &*d, &bytes).unwrap();
    assert_eq!(reloaded[0].image.id, a.id);
    assert_eq!(std::fs::read_dir(dst.store.tmp_dir()).unwrap().count(), 0);
}

/// An archive in the old docker layout: `<v1 id>/layer.tar`, a duplicate layer as a
/// symlink, a gzip-compressed layer file, `<image id>.json`.
#[test]
fn old_docker_archives_with_symlinked_and_compressed_layers_load() {
    let f = fixture();
    let d = copy_driver(&f.store);
    let l1 = LayerTar::new()
        .dir("etc", 0o755)
        .file("etc/a", b"one", 0o644)
        .finish();
    let l2 = LayerTar::new()
        .file("etc/b", b"two", 0o600)
        .whiteout("etc/a")
        .finish();
    let l3 = l1.clone();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id(&l1).to_string(), diff_id(&l2).to_string(), diff_id(&l3).to_string()]},
    }))
    .unwrap();
    let id = sha256_of(&config);
    let manifest = serde_json::to_vec(&json!([{
        "Config": format!("{}.json", id.digest()),
        "RepoTags": ["old:1"],
        "Layers": ["v1/layer.tar", "v2/layer.tar", "v3/layer.tar"],
    }]))
    .unwrap();
    let bytes = LayerTar::new()
        .dir("v1", 0o755)
        .file("v1/layer.tar", &l1, 0o644)
        .file("v1/VERSION", b"1.0", 0o644)
        .dir("v2", 0o755)
        .file("v2/layer.tar", &gzip(&l2), 0o644)
        .dir("v3", 0o755)
        .symlink("v3/layer.tar", "../v1/layer.tar")
        .file(&format!("{}.json", id.digest()), &config, 0o644)
        .file("manifest.json", &manifest, 0o644)
        .finish();
    let loaded = load_bytes(&f, &*d, &bytes).unwrap();
    assert_eq!(loaded.len(), 1);
    let img = &loaded[0].image;
    assert_eq!(img.id, id);
    assert_eq!(loaded[0].names, vec!["docker.io/library/old:1".to_owned()]);
    assert_eq!(img.layers.len(), 3);
    assert_eq!(
        img.layers[0].digest,
        diff_id(&l1),
        "plain layers are their own blobs"
    );
    assert_eq!(
        img.layers[1].media_type,
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(img.layers[1].digest, sha256_of(&gzip(&l2)));
    let (_g, root) = rootfs(&d, img.top_chain_id());
    assert_eq!(std::fs::read(root.join("etc/a")).unwrap(), b"one");
    assert_eq!(std::fs::read(root.join("etc/b")).unwrap(), b"two");
}

fn oci_blob(t: &mut LayerTar, data: &[u8]) -> (Digest, usize) {
    let d = sha256_of(data);
    t.file(&format!("blobs/sha256/{}", d.digest()), data, 0o644);
    (d, data.len())
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Builds an OCI layout image (one gzip layer) into `t`; returns the manifest descriptor.
fn oci_image(t: &mut LayerTar, layer: &[u8], arch: &str) -> Value {
    let (ld, ls) = oci_blob(t, &gzip(layer));
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id(layer).to_string()]},
    }))
    .unwrap();
    let (cd, cs) = oci_blob(t, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld.to_string(), "size": ls}],
    }))
    .unwrap();
    let (md, ms) = oci_blob(t, &manifest);
    json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": ms,
           "platform": {"os": "linux", "architecture": arch}})
}

#[test]
fn oci_layouts_with_nested_indexes_and_ref_names_load() {
    let f = fixture();
    let d = copy_driver(&f.store);
    let mut t = LayerTar::new();
    let host = LayerTar::new().file("which", b"host", 0o644).finish();
    let other = LayerTar::new().file("which", b"other", 0o644).finish();
    let other_arch = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let m_other = oci_image(&mut t, &other, other_arch);
    let m_host = oci_image(&mut t, &host, host_arch());
    let nested = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [m_other, m_host.clone()],
    }))
    .unwrap();
    let (nd, ns) = oci_blob(&mut t, &nested);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd.to_string(), "size": ns,
             "annotations": {"org.opencontainers.image.ref.name": "example.com/multi:1"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": m_host["digest"], "size": m_host["size"],
             "annotations": {"org.opencontainers.image.ref.name": "latest"}},
        ],
    }))
    .unwrap();
    t.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644);
    t.file("index.json", &index, 0o644);
    let loaded = load_bytes(&f, &*d, &t.finish()).unwrap();
    // Both entries lead to the host's manifest: one image, named once (a bare tag names
    // no repository).
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded[0].names, vec!["example.com/multi:1".to_owned()]);
    assert_eq!(
        loaded[0].image.manifest_digest.to_string(),
        m_host["digest"].as_str().unwrap()
    );
    let (_g, root) = rootfs(&d, loaded[0].image.top_chain_id());
    assert_eq!(std::fs::read(root.join("which")).unwrap(), b"host");
}

#[test]
fn compressed_archives_and_pipes_load() {
    let src = fixture();
    let d = copy_driver(&src.store);
    let img = put_image(
        &src.store,
        &*d,
        &fixture_layers()[..2],
        true,
        Some(("docker.io/library/x", "y")),
    );
    let mut bytes = Vec::new();
    archive::save(
        &src.store,
        Some(&*d),
        &[SaveImage {
            image: img.clone(),
            names: vec![ImageName::new("docker.io/library/x:y", "x:y")],
        }],
        &mut bytes,
    )
    .unwrap();
    for (label, input) in [
        ("gzip", gzip(&bytes)),
        ("zstd", zstd::encode_all(&bytes[..], 1).unwrap()),
    ] {
        let dst = fixture();
        let d2 = copy_driver(&dst.store);
        let loaded = load_bytes(&dst, &*d2, &input).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(loaded[0].image.id, img.id, "{label}");
    }
    // From a pipe-like reader.
    let dst = fixture();
    let d2 = copy_driver(&dst.store);
    let archive = ArchiveFile::from_reader(&dst.store, &gzip(&bytes)[..]).unwrap();
    assert_eq!(
        std::fs::read_dir(dst.store.tmp_dir()).unwrap().count(),
        1,
        "spooled"
    );
    let loaded = archive::load(
        &dst.store,
        &*d2,
        &archive,
        &LoadOptions {
            resolve_name: &resolve,
        },
    )
    .unwrap();
    assert_eq!(loaded[0].names, vec!["docker.io/library/x:y".to_owned()]);
    drop(archive);
    assert_eq!(
        std::fs::read_dir(dst.store.tmp_dir()).unwrap().count(),
        0,
        "spool removed"
    );
}

type Check = fn(&Error) -> bool;

fn docker_archive(config: &[u8], layers: &[(&str, &[u8])], manifest: Value) -> LayerTar {
    let mut t = LayerTar::new();
    for (p, data) in layers {
        t.file(p, data, 0o644);
    }
    t.file("config.json", config, 0o644);
    t.file(
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
        0o644,
    );
    t
}

fn config_for(layers: &[&[u8]]) -> Vec<u8> {
    let ids: Vec<String> = layers.iter().map(|l| diff_id(l).to_string()).collect();
    serde_json::to_vec(&json!({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": ids}})).unwrap()
}

#[test]
fn hostile_archives_are_rejected_and_leave_nothing() {
    let sentinel = tempfile::tempdir().unwrap();
    let s = sentinel.path().to_str().unwrap().to_owned();
    let good = LayerTar::new().file("ok", b"fine", 0o644).finish();
    let cfg = config_for(&[&good]);
    let esc: Check = |e| {
        matches!(
            e,
            Error::ImageArchive {
                reason: ArchiveReason::PathEscapes { .. }
            }
        )
    };
    let mismatch: Check = |e| matches!(e, Error::DigestMismatch { .. });
    let manifest_for =
        |layer: &str| json!([{"Config": "config.json", "RepoTags": ["evil:1"], "Layers": [layer]}]);
    let mut cases: Vec<(&str, Vec<u8>, Check)> = Vec::new();

    let mut t = docker_archive(&cfg, &[("l.tar", &good)], manifest_for("l.tar"));
    t.raw(tar::EntryType::Regular, b"../../escape", b"", 0o644, b"x");
    cases.push(("entry with ..", t.finish(), esc));
    let mut t = docker_archive(&cfg, &[("l.tar", &good)], manifest_for("l.tar"));
    t.raw(
        tar::EntryType::Regular,
        format!("{s}/abs").as_bytes(),
        b"",
        0o644,
        b"x",
    );
    cases.push(("absolute entry", t.finish(), esc));
    cases.push((
        "config outside",
        docker_archive(
            &cfg,
            &[("l.tar", &good)],
            json!([{"Config": "../../etc/passwd", "Layers": ["l.tar"]}]),
        )
        .finish(),
        esc,
    ));
    cases.push((
        "layer at an absolute path",
        docker_archive(
            &cfg,
            &[("l.tar", &good)],
            manifest_for(&format!("{s}/layer.tar")),
        )
        .finish(),
        esc,
    ));
    let mut t = docker_archive(&cfg, &[], manifest_for("l.tar"));
    t.symlink("l.tar", "../../../etc/passwd");
    cases.push(("symlink out of the archive", t.finish(), esc));
    let mut t = docker_archive(&cfg, &[], manifest_for("a.tar"));
    t.symlink("a.tar", "b.tar").symlink("b.tar", "a.tar");
    cases.push(("symlink loop", t.finish(), |e| {
        matches!(
            e,
            Error::ImageArchive {
                reason: ArchiveReason::LinkLoop { .. }
            }
        )
    }));
    cases.push((
        "missing layer",
        docker_archive(&cfg, &[], manifest_for("nope.tar")).finish(),
        |e| {
            matches!(
                e,
                Error::ImageArchive {
                    reason: ArchiveReason::Missing { .. }
                }
            )
        },
    ));
    let other = LayerTar::new().file("ok", b"evil", 0o644).finish();
    cases.push((
        "layer is not its diff ID",
        docker_archive(&cfg, &[("l.tar", &other)], manifest_for("l.tar")).finish(),
        mismatch,
    ));
    cases.push((
        "layer of another size and content",
        docker_archive(&cfg, &[("l.tar", &gzip(&other))], manifest_for("l.tar")).finish(),
        mismatch,
    ));
    let named = format!("{}.json", "ab".repeat(32));
    cases.push((
        "config not its name's digest",
        docker_archive(
            &cfg,
            &[("l.tar", &good)],
            json!([{"Config": named.clone(), "Layers": ["l.tar"]}]),
        )
        .file(&named, &cfg, 0o644)
        .finish(),
        mismatch,
    ));
    let slip = LayerTar::new()
        .raw(
            tar::EntryType::Regular,
            format!("../../../../../../..{s}/slip").as_bytes(),
            b"",
            0o644,
            b"x",
        )
        .finish();
    cases.push((
        "layer content escapes",
        docker_archive(
            &config_for(&[&slip]),
            &[("l.tar", &slip)],
            manifest_for("l.tar"),
        )
        .finish(),
        |e| matches!(e, Error::Unpack { .. }),
    ));
    let mut big = vec![b' '; (archive::MAX_JSON_SIZE + 1) as usize];
    big[0] = b'[';
    *big.last_mut().unwrap() = b']';
    cases.push((
        "huge manifest.json",
        LayerTar::new().file("manifest.json", &big, 0o644).finish(),
        |e| {
            matches!(
                e,
                Error::ImageArchive {
                    reason: ArchiveReason::TooLarge { .. }
                }
            )
        },
    ));
    cases.push((
        "fifo entry",
        docker_archive(&cfg, &[("l.tar", &good)], manifest_for("l.tar"))
            .fifo("pipe", 0o644)
            .finish(),
        |e| {
            matches!(
                e,
                Error::ImageArchive {
                    reason: ArchiveReason::UnsupportedEntry { .. }
                }
            )
        },
    ));
    cases.push((
        "huge PAX header",
        docker_archive(&cfg, &[("l.tar", &good)], manifest_for("l.tar"))
            .raw(
                tar::EntryType::XHeader,
                b"PaxHeader/x",
                b"",
                0o644,
                &vec![b'a'; 2 << 20],
            )
            .file("x", b"", 0o644)
            .finish(),
        |e| {
            matches!(
                e,
                Error::ImageArchive {
                    reason: ArchiveReason::TooLarge { .. }
                }
            )
        },
    ));
    let long = "d/".repeat(3000) + "f";
    cases.push((
        "name longer than PATH_MAX",
        docker_archive(&cfg, &[("l.tar", &good)], manifest_for("l.tar"))
            .pax(&[("path", long.as_bytes())])
            .file("short", b"", 0o644)
            .finish(),
        |e| {
            matches!(
                e,
                Error::ImageArchive {
                    reason: ArchiveReason::TooLarge { .. }
                }
            )
        },
    ));
    cases.push((
        "neither manifest nor index",
        LayerTar::new().file("hello", b"world", 0o644).finish(),
        |e| {
            matches!(
                e,
                Error::ImageArchive {
                    reason: ArchiveReason::UnknownFormat
                }
            )
        },
    ));
    cases.push(("xz", b"\xfd7zXZ\0 and more".to_vec(), |e| {
        matches!(
            e,
            Error::ImageArchive {
                reason: ArchiveReason::Compression("xz")
            }
        )
    }));
    cases.push((
        "too many layers for the config",
        docker_archive(
            &cfg,
            &[("l.tar", &good)],
            json!([{"Config": "config.json", "Layers": ["l.tar", "l.tar"]}]),
        )
        .finish(),
        |e| {
            matches!(
                e,
                Error::ImageArchive {
                    reason: ArchiveReason::Malformed { .. }
                }
            )
        },
    ));
    // OCI layouts: a layer blob whose content is not its digest, and a descriptor whose
    // size is wrong.
    let mut t = LayerTar::new();
    let desc = oci_image(&mut t, &good, host_arch());
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap();
    let mut tampered = LayerTar::new();
    let plain = t.finish();
    let mut a = tar::Archive::new(&plain[..]);
    let layer_hex = sha256_of(&gzip(&good)).digest().to_owned();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if name.ends_with(&layer_hex) {
            // Same length and uncompressed content (so the diff ID holds), other bytes: a
            // different gzip header time.
            let mut enc = flate2::GzBuilder::new()
                .mtime(12345)
                .write(Vec::new(), flate2::Compression::fast());
            enc.write_all(&good).unwrap();
            let other = enc.finish().unwrap();
            assert_eq!(other.len(), data.len());
            assert_ne!(other, data);
            data = other;
        }
        tampered.file(&name, &data, 0o644);
    }
    tampered.file("index.json", &index, 0o644);
    cases.push(("OCI layer blob not its digest", tampered.finish(), mismatch));
    let mut t = LayerTar::new();
    let mut desc = oci_image(&mut t, &good, host_arch());
    desc["size"] = json!(desc["size"].as_u64().unwrap() + 1);
    t.file(
        "index.json",
        &serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap(),
        0o644,
    );
    cases.push(("OCI manifest size lies", t.finish(), |e| {
        matches!(
            e,
            Error::ImageArchive {
                reason: ArchiveReason::SizeMismatch { .. }
            }
        )
    }));

    for (name, bytes, check) in cases {
        let f = fixture();
        let d = copy_driver(&f.store);
        let err = match load_bytes(&f, &*d, &bytes) {
            Ok(l) => panic!("{name}: loaded {l:?}"),
            Err(e) => e,
        };
        assert!(check(&err), "{name}: unexpected error {err:?}");
        assert!(
            f.store.images().unwrap().is_empty(),
            "{name}: an image was recorded"
        );
        assert!(
            f.store.blobs().list().unwrap().is_empty(),
            "{name}: blobs were written"
        );
        assert_eq!(
            std::fs::read_dir(f.store.tmp_dir()).unwrap().count(),
            0,
            "{name}: staging left"
        );
        let outside: Vec<_> = std::fs::read_dir(sentinel.path()).unwrap().collect();
        assert!(outside.is_empty(), "{name}: wrote outside: {outside:?}");
        assert!(!Path::new("/escape").exists() && !Path::new("/slip").exists());
    }
}

#[test]
fn build_layer_streams_a_tar_into_a_blob_and_the_driver() {
    let f = fixture();
    let d = copy_driver(&f.store);
    let base = put_image(&f.store, &*d, &fixture_layers()[..1], true, None);
    let tar = LayerTar::new()
        .file("new-file", b"committed", 0o644)
        .whiteout("etc")
        .finish();
    let layer = archive::build_layer(&f.store, &*d, base.top_chain_id(), &mut |w| {
        w.write_all(&tar).map_err(|e| Error::Io {
            op: "write",
            path: "test".into(),
            source: e,
        })
    })
    .unwrap();
    assert_eq!(layer.diff_id, diff_id(&tar));
    let blob = f.store.blobs().read(&layer.digest).unwrap();
    assert_eq!(sha256_of(&blob), layer.digest);
    assert_eq!(blob.len() as u64, layer.size);
    assert_eq!(gunzip(&blob), tar);
    assert_eq!(layer.info.parent.as_ref(), base.top_chain_id());
    let (_g, root) = rootfs(&d, Some(&layer.info.chain_id));
    assert_eq!(std::fs::read(root.join("new-file")).unwrap(), b"committed");
    assert!(!root.join("etc").exists());

    // Not a tar: an error, and neither blob nor staging is left.
    let blobs = f.store.blobs().list().unwrap().len();
    let err = archive::build_layer(&f.store, &*d, None, &mut |w| {
        w.write_all(&[0x55; 4096]).map_err(|e| Error::Io {
            op: "write",
            path: "test".into(),
            source: e,
        })
    })
    .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArchive { .. } | Error::Unpack { .. }),
        "{err:?}"
    );
    assert_eq!(f.store.blobs().list().unwrap().len(), blobs);
    assert_eq!(std::fs::read_dir(f.store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn the_export_tree_tar_reproduces_the_rootfs() {
    let f = fixture();
    let d = copy_driver(&f.store);
    let img = put_image(&f.store, &*d, &fixture_layers(), true, None);
    let (_g, root) = rootfs(&d, img.top_chain_id());
    let mut tar = Vec::new();
    archive::write_tree(&root, &mut tar).unwrap();
    let names = entries(&tar);
    assert!(
        !names.keys().any(|n| n.contains(".wh.")),
        "no whiteouts in an export"
    );
    let other = fixture();
    let d2 = copy_driver(&other.store);
    let info = d2.apply_layer(None, &diff_id(&tar), &mut &tar[..]).unwrap();
    let (_g2, root2) = rootfs(&d2, Some(&info.chain_id));
    assert_same_tree(&root, &root2);
}

/// `write_tree_one_filesystem` (export of a running container through /proc/PID/root):
/// what is mounted below the root is written as an empty directory or file, not read.
#[test]
fn a_tree_on_one_filesystem_leaves_what_is_mounted_below_empty() {
    if !rustix::process::geteuid().is_root() {
        #[allow(clippy::print_stderr)] // The skip convention: a visible `skipped:` line.
        {
            eprintln!("skipped: mounting needs root");
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/hosts"), "").unwrap();
    struct Unmount(Vec<std::path::PathBuf>);
    impl Drop for Unmount {
        fn drop(&mut self) {
            for p in self.0.iter().rev() {
                let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
            }
        }
    }
    let mut mounted = Unmount(Vec::new());
    rustix::mount::mount(
        "tmpfs",
        root.join("proc"),
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .unwrap();
    mounted.0.push(root.join("proc"));
    std::fs::write(root.join("proc/inside"), "not exported").unwrap();
    // A file of another filesystem bound over one of the tree (a container's /etc/hosts).
    rustix::mount::mount_bind(root.join("proc/inside"), root.join("etc/hosts")).unwrap();
    mounted.0.push(root.join("etc/hosts"));

    let mut tar = Vec::new();
    archive::write_tree_one_filesystem(root, &mut tar).unwrap();
    let e = entries(&tar);
    assert_eq!(
        e.get("etc/passwd").map(Vec::as_slice),
        Some(&b"root:x:0:0::/root:/bin/sh\n"[..])
    );
    assert!(
        e.contains_key("proc/") || e.contains_key("proc"),
        "{:?}",
        e.keys()
    );
    assert!(
        !e.keys().any(|k| k.starts_with("proc/inside")),
        "{:?}",
        e.keys()
    );
    assert_eq!(
        e.get("etc/hosts").map(Vec::len),
        Some(0),
        "a mounted file is not read"
    );
    drop(mounted);
}
