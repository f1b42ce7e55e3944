//! Streaming pulls: a compressed layer is stored as a blob and unpacked while it streams
//! in, once, even when several pullers race; a corrupt download stores nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{driver, fixture, rootfs};
use store::testing::{LayerTar, diff_id};
use store::{Ingested, LayerSource, sha256_of};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 1).unwrap()
}

fn layer() -> Vec<u8> {
    let mut t = LayerTar::new();
    t.dir("data", 0o755);
    for i in 0..50 {
        t.file(
            &format!("data/f{i}"),
            format!("content {i}").repeat(100).as_bytes(),
            0o644,
        );
    }
    t.finish()
}

#[test]
fn gzip_zstd_and_plain_layers_stream_into_blob_and_driver() {
    let f = fixture();
    let copy = driver(&f.store, "copy").unwrap();
    let tar = layer();
    let cases = [
        ("application/vnd.oci.image.layer.v1.tar+gzip", gzip(&tar)),
        ("application/vnd.oci.image.layer.v1.tar+zstd", zstd(&tar)),
        ("application/vnd.docker.image.rootfs.diff.tar", tar.clone()),
    ];
    // The same diff on three different parents: three layers, three blobs.
    let mut parent = None;
    for (mt, blob) in &cases {
        let src = LayerSource {
            digest: sha256_of(blob),
            media_type: (*mt).to_owned(),
            diff_id: diff_id(&tar),
        };
        let (staged, how) = f
            .store
            .ingest_layer(&*copy, parent.as_ref(), &src, || Ok(&blob[..]))
            .unwrap();
        assert_eq!(how, Ingested::Downloaded, "{mt}");
        let info = copy.commit_layer(staged).unwrap();
        assert_eq!(f.store.blobs().read(&src.digest).unwrap(), *blob);
        // Again: nothing to do, the stream is not even opened.
        let (staged, how) = f
            .store
            .ingest_layer(
                &*copy,
                parent.as_ref(),
                &src,
                || -> std::io::Result<&[u8]> { panic!("downloaded twice") },
            )
            .unwrap();
        assert_eq!(how, Ingested::Present);
        assert!(staged.is_present());
        parent = Some(info.chain_id);
    }
    let (_g, root) = rootfs(&copy, parent.as_ref());
    assert_eq!(
        std::fs::read(root.join("data/f7")).unwrap(),
        "content 7".repeat(100).as_bytes()
    );
}

#[test]
fn a_present_blob_is_unpacked_without_download() {
    let f = fixture();
    let copy = driver(&f.store, "copy").unwrap();
    let tar = layer();
    let blob = gzip(&tar);
    let src = LayerSource {
        digest: f.store.blobs().write_bytes(&blob, None).unwrap(),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        diff_id: diff_id(&tar),
    };
    let (staged, how) = f
        .store
        .ingest_layer(&*copy, None, &src, || -> std::io::Result<&[u8]> {
            panic!("no download expected")
        })
        .unwrap();
    assert_eq!(how, Ingested::FromBlob);
    copy.commit_layer(staged).unwrap();
}

/// A reader that hands out data slowly so racing pullers overlap.
struct Slow<'a> {
    data: &'a [u8],
}

impl Read for Slow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.data.len()).min(4096);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        std::thread::yield_now();
        Ok(n)
    }
}

#[test]
fn racing_pullers_download_and_unpack_once() {
    let f = fixture();
    let root = f.store.root().to_path_buf();
    let tar = Arc::new(layer());
    let blob = Arc::new(gzip(&tar));
    let downloads = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (root, tar, blob, downloads) =
                (root.clone(), tar.clone(), blob.clone(), downloads.clone());
            std::thread::spawn(move || {
                let store = store::Store::open(&root).unwrap();
                let _lease = store.lease().unwrap();
                let d = store::driver::by_name(&store, "copy").unwrap();
                let src = LayerSource {
                    digest: sha256_of(&blob),
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                    diff_id: diff_id(&tar),
                };
                let (staged, _) = store
                    .ingest_layer(&*d, None, &src, || {
                        downloads.fetch_add(1, Ordering::SeqCst);
                        Ok(Slow { data: &blob[..] })
                    })
                    .unwrap();
                d.commit_layer(staged).unwrap()
            })
        })
        .collect();
    let infos: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(downloads.load(Ordering::SeqCst), 1);
    assert!(infos.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_corrupt_download_stores_nothing() {
    let f = fixture();
    let copy = driver(&f.store, "copy").unwrap();
    let tar = layer();
    let blob = gzip(&tar);
    let src = LayerSource {
        // The manifest promises other content than the registry sends.
        digest: sha256_of(b"what the manifest promised"),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        diff_id: diff_id(&tar),
    };
    let err = f
        .store
        .ingest_layer(&*copy, None, &src, || Ok(&blob[..]))
        .unwrap_err();
    assert!(
        matches!(err, store::Error::DigestMismatch { what: "blob", .. }),
        "{err}"
    );
    assert!(!f.store.blobs().has(&src.digest).unwrap());
    // The staged layer was dropped with the error: nothing committed, nothing staged.
    assert!(!copy.has_layer(&src.diff_id).unwrap());
    assert_eq!(std::fs::read_dir(f.store.tmp_dir()).unwrap().count(), 0);
}

#[test]
fn full_pull_then_rmi_collects_blobs_and_layers() {
    let f = fixture();
    let d = store::driver::choose(&f.store, None).unwrap();
    let tars = [
        layer(),
        LayerTar::new()
            .file("data/f1", b"changed", 0o600)
            .whiteout("data/f2")
            .finish(),
    ];
    let blobs: Vec<Vec<u8>> = tars.iter().map(|t| gzip(t)).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2025-01-02T03:04:05Z", "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": tars.iter().map(|t| diff_id(t).to_string()).collect::<Vec<_>>()},
    }))
    .unwrap();
    let config_digest = f.store.blobs().write_bytes(&config, None).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config_digest.to_string(), "size": config.len()},
        "layers": blobs.iter().map(|b| serde_json::json!({
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "digest": sha256_of(b).to_string(), "size": b.len()})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let manifest_digest = f.store.blobs().write_bytes(&manifest, None).unwrap();
    let new = store::NewImage {
        repository: "localhost:5000/test/app".into(),
        tag: Some("v1".into()),
        repo_digest: Some(manifest_digest.clone()),
        manifest_digest,
    };
    let _lease = f.store.lease().unwrap();
    let chains = store::chain_ids(&tars.iter().map(|t| diff_id(t)).collect::<Vec<_>>()).unwrap();
    // Both layers stream in at once; commits go base first.
    let staged: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let (d, f, tars, blobs, chains) = (&d, &f, &tars, &blobs, &chains);
                s.spawn(move || {
                    let src = LayerSource {
                        digest: sha256_of(&blobs[i]),
                        media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
                        diff_id: diff_id(&tars[i]),
                    };
                    let parent = i.checked_sub(1).map(|p| chains[p].clone());
                    f.store
                        .ingest_layer(&**d, parent.as_ref(), &src, || Ok(&blobs[i][..]))
                        .unwrap()
                        .0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Not yet committed: the image cannot be recorded.
    let e = f.store.add_unpacked_image(&new, &*d).unwrap_err();
    assert!(matches!(e, store::Error::Incomplete { .. }), "{e}");
    for s in staged {
        d.commit_layer(s).unwrap();
    }
    let rec = f.store.add_unpacked_image(&new, &*d).unwrap();
    assert_eq!(rec.top_chain_id(), chains.last());
    assert_eq!(rec.created.as_deref(), Some("2025-01-02T03:04:05Z"));
    drop(_lease);
    {
        let (_g, root) = rootfs(&d, rec.top_chain_id());
        assert_eq!(std::fs::read(root.join("data/f1")).unwrap(), b"changed");
        assert!(!root.join("data/f2").exists());
    }
    let usage = f.store.disk_usage(&|_| None).unwrap();
    assert!(usage.layers_size > 0 && usage.blobs_size > 0);
    let r = f
        .store
        .remove_image(
            "localhost:5000/test/app:v1",
            &store::RemoveOptions::unused(),
            &store::driver::all(&f.store).unwrap(),
        )
        .unwrap();
    assert_eq!(r.deleted, vec![rec.id.clone()]);
    assert_eq!(r.gc.layers.len(), 2, "{:?}", r.gc.layers);
    assert_eq!(r.gc.blobs.len(), 4);
    for c in &chains {
        assert!(!d.has_layer(c).unwrap());
    }
    assert_eq!(f.store.disk_usage(&|_| None).unwrap().total(), 0);
    if d.name() == "overlay" {
        let links = f.store.root().join("layers/overlay/l");
        assert_eq!(
            std::fs::read_dir(links).unwrap().count(),
            0,
            "short links removed"
        );
    }
}
