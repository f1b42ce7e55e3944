//! Blob store, image records, references, removal and GC, and concurrency. No root needed.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use store::{Digest, Error, ErrorKind, NewImage, RemoveOptions, Store, sha256_of};

/// Writes an image (config, manifest, layer blobs) into the store's blobs and returns the
/// `NewImage` to record. `layers` are the layer blob contents (not parsed in these tests).
fn put_image(store: &Store, created: &str, layers: &[&[u8]]) -> (NewImage, Digest) {
    let mut layer_json = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let d = store.blobs().write_bytes(l, None).unwrap();
        layer_json.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": d.to_string(),
            "size": l.len(),
        }));
        diff_ids.push(d.to_string());
    }
    let config = serde_json::json!({
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = store.blobs().write_bytes(&config, None).unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config.len()},
        "layers": layer_json,
    });
    let manifest_digest = store
        .blobs()
        .write_bytes(&serde_json::to_vec(&manifest).unwrap(), None)
        .unwrap();
    (
        NewImage {
            repository: "docker.io/library/test".into(),
            tag: Some("latest".into()),
            repo_digest: Some(manifest_digest.clone()),
            manifest_digest,
        },
        config_digest,
    )
}

fn tmp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("root")).unwrap();
    (dir, store)
}

fn tmp_entries(store: &Store) -> usize {
    std::fs::read_dir(store.tmp_dir()).unwrap().count()
}

#[test]
fn open_creates_the_layout() {
    let (_d, store) = tmp_store();
    for sub in ["blobs/sha256", "images", "layers", "containers", "tmp"] {
        assert!(store.root().join(sub).is_dir(), "{sub}");
    }
}

#[test]
fn blob_writer_commits_verified_content_and_dedupes() {
    let (_d, store) = tmp_store();
    let data = b"some layer bytes";
    let digest = sha256_of(data);
    assert!(!store.blobs().has(&digest).unwrap());
    let mut w = store.blobs().writer().unwrap();
    w.write_all(data).unwrap();
    assert_eq!(w.written(), data.len() as u64);
    w.commit(&digest).unwrap();
    assert!(store.blobs().has(&digest).unwrap());
    assert_eq!(store.blobs().size(&digest).unwrap(), data.len() as u64);
    assert_eq!(store.blobs().read(&digest).unwrap(), data);
    // Writing it again is fine (dedupe) and leaves no temp file.
    store.blobs().write_bytes(data, Some(&digest)).unwrap();
    assert_eq!(tmp_entries(&store), 0);
}

#[test]
fn blob_writer_rejects_mismatch_and_cleans_up() {
    let (_d, store) = tmp_store();
    let wrong = sha256_of(b"other");
    let mut w = store.blobs().writer().unwrap();
    w.write_all(b"content").unwrap();
    let err = w.commit(&wrong).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::DataCorruption);
    assert!(!store.blobs().has(&wrong).unwrap());
    assert!(!store.blobs().has(&sha256_of(b"content")).unwrap());
    assert_eq!(tmp_entries(&store), 0);
    // Dropped without commit: removed too.
    let mut w = store.blobs().writer().unwrap();
    w.write_all(b"partial").unwrap();
    assert_eq!(tmp_entries(&store), 1);
    drop(w);
    assert_eq!(tmp_entries(&store), 0);
    assert!(matches!(
        store.blobs().open(&wrong).unwrap_err(),
        Error::BlobNotFound { .. }
    ));
}

#[test]
fn stale_temp_files_of_dead_processes_are_removed_on_open() {
    let (_d, store) = tmp_store();
    // A name as a crashed process would leave it (PID above pid_max, never alive).
    let stale = store.tmp_dir().join("blob-2147483647-3-0");
    std::fs::write(&stale, b"half").unwrap();
    let live = store.blobs().writer().unwrap();
    let reopened = Store::open(store.root()).unwrap();
    assert!(!stale.exists());
    assert!(live.temp_path().exists(), "a live writer's file is kept");
    drop(reopened);
}

#[test]
fn concurrent_pullers_download_each_blob_once() {
    let (_d, store) = tmp_store();
    let root = store.root().to_path_buf();
    let content: Arc<Vec<u8>> = Arc::new((0..200_000u32).map(|i| (i % 251) as u8).collect());
    let digest = sha256_of(&content);
    let downloads = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (root, content, digest, downloads) = (
                root.clone(),
                content.clone(),
                digest.clone(),
                downloads.clone(),
            );
            std::thread::spawn(move || {
                // Each thread opens its own Store: its own lock file descriptions, as
                // separate processes would.
                let store = Store::open(&root).unwrap();
                let _lease = store.lease().unwrap();
                let _lock = store.blobs().lock(&digest).unwrap();
                if !store.blobs().has(&digest).unwrap() {
                    downloads.fetch_add(1, Ordering::SeqCst);
                    let mut w = store.blobs().writer().unwrap();
                    for chunk in content.chunks(4096) {
                        w.write_all(chunk).unwrap();
                        std::thread::yield_now();
                    }
                    w.commit(&digest).unwrap();
                }
                assert_eq!(store.blobs().read(&digest).unwrap(), *content);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(downloads.load(Ordering::SeqCst), 1);
}

#[test]
fn concurrent_add_image_keeps_every_tag() {
    let (_d, store) = tmp_store();
    let root = store.root().to_path_buf();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                let store = Store::open(&root).unwrap();
                let _lease = store.lease().unwrap();
                let layer = format!("layer {i}");
                let (mut new, _) = put_image(&store, "2024-01-01T00:00:00Z", &[layer.as_bytes()]);
                new.tag = Some(format!("t{i}"));
                store.add_image(&new).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rows = store.list().unwrap();
    assert_eq!(rows.len(), 8);
    for i in 0..8 {
        store
            .image(&format!("docker.io/library/test:t{i}"))
            .unwrap();
    }
}

#[test]
fn add_image_requires_blobs_and_computes_chain_ids() {
    let (_d, store) = tmp_store();
    let (new, config) = put_image(&store, "2024-03-01T10:00:00Z", &[b"l1", b"l2"]);
    let rec = store.add_image(&new).unwrap();
    assert_eq!(rec.id, config);
    assert_eq!(rec.created.as_deref(), Some("2024-03-01T10:00:00Z"));
    assert_eq!(rec.size, 4);
    assert_eq!(rec.layers.len(), 2);
    assert_eq!(rec.layers[0].chain_id, rec.layers[0].diff_id);
    assert_eq!(
        rec.layers[1].chain_id,
        store::chain_id(Some(&rec.layers[0].chain_id), &rec.layers[1].diff_id).unwrap()
    );
    assert_eq!(rec.repo_tags, vec!["docker.io/library/test:latest"]);

    // A missing layer blob makes the image incomplete.
    let (new2, _) = put_image(&store, "2024-03-01T10:00:00Z", &[b"l3"]);
    std::fs::remove_file(store.blobs().path(&sha256_of(b"l3")).unwrap()).unwrap();
    let err = store.add_image(&new2).unwrap_err();
    assert!(
        matches!(err, Error::Incomplete { what: "layer", .. }),
        "{err}"
    );
}

#[test]
fn lookups_by_tag_id_prefix_and_digest() {
    let (_d, store) = tmp_store();
    let (new, id) = put_image(&store, "2024-01-01T00:00:00Z", &[b"a"]);
    store.add_image(&new).unwrap();
    let hex = id.digest().to_owned();
    for r in [
        "docker.io/library/test:latest".to_owned(),
        id.to_string(),
        hex.clone(),
        hex[..5].to_owned(),
        format!("sha256:{}", &hex[..12]),
        format!("docker.io/library/test@{}", new.manifest_digest),
    ] {
        assert_eq!(store.image(&r).unwrap().id, id, "{r}");
    }
    for r in [
        "docker.io/library/test:nope",
        "docker.io/library/other@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "zzz",
        "",
    ] {
        let e = store.image(r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{r}: {e}");
    }
    // Make an ambiguous prefix: find a second image sharing the first hex digit.
    let mut other = None;
    for i in 0..64 {
        let (mut n, id2) = put_image(
            &store,
            "2024-01-01T00:00:00Z",
            &[format!("b{i}").as_bytes()],
        );
        if id2.digest()[..1] == hex[..1] {
            n.tag = Some("second".into());
            store.add_image(&n).unwrap();
            other = Some(id2);
            break;
        }
    }
    assert!(other.is_some());
    let e = store.image(&hex[..1]).unwrap_err();
    assert!(matches!(e, Error::AmbiguousImage { count: 2, .. }), "{e}");
}

#[test]
fn rmi_untags_then_deletes_and_collects_garbage() {
    let (_d, store) = tmp_store();
    let (new, id) = put_image(&store, "2024-01-01T00:00:00Z", &[b"shared", b"only-a"]);
    store.add_image(&new).unwrap();
    store
        .tag("docker.io/library/test:latest", "docker.io/library/test:v2")
        .unwrap();
    let (mut new_b, id_b) = put_image(&store, "2024-02-01T00:00:00Z", &[b"shared", b"only-b"]);
    new_b.tag = Some("b".into());
    store.add_image(&new_b).unwrap();
    assert_eq!(store.list().unwrap().len(), 3);

    // Another tag remains: only untagged.
    let r = store
        .remove_image("docker.io/library/test:latest", &RemoveOptions::unused())
        .unwrap();
    assert_eq!(r.untagged, vec!["docker.io/library/test:latest"]);
    assert!(r.deleted.is_empty() && r.gc.blobs.is_empty());

    // Last tag: the digest reference goes too and the image is deleted; its private blobs
    // are collected, the shared layer stays.
    let r = store
        .remove_image("docker.io/library/test:v2", &RemoveOptions::unused())
        .unwrap();
    assert_eq!(r.untagged.len(), 2, "{:?}", r.untagged);
    assert_eq!(r.deleted, vec![id.clone()]);
    assert!(!store.blobs().has(&sha256_of(b"only-a")).unwrap());
    assert!(!store.blobs().has(&id).unwrap());
    assert!(store.blobs().has(&sha256_of(b"shared")).unwrap());
    assert_eq!(r.gc.blobs.len(), 3, "layer, config, manifest");
    assert!(store.image(id.digest()).is_err());
    store.image(id_b.digest()).unwrap();
}

#[test]
fn rmi_refuses_images_in_use_unless_forced() {
    let (_d, store) = tmp_store();
    let (new, id) = put_image(&store, "2024-01-01T00:00:00Z", &[b"x"]);
    store.add_image(&new).unwrap();
    let in_use_id = id.clone();
    let in_use = move |d: &Digest| (*d == in_use_id).then(|| "c0ffee".to_owned());
    let opts = RemoveOptions {
        force: false,
        in_use: &in_use,
    };
    let e = store
        .remove_image("docker.io/library/test:latest", &opts)
        .unwrap_err();
    assert!(matches!(e, Error::ImageInUse { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("c0ffee"));
    store.image("docker.io/library/test:latest").unwrap();
    let e = store.remove_image(id.digest(), &opts).unwrap_err();
    assert!(matches!(e, Error::ImageInUse { .. }), "{e}");

    // Forced: untagged, but kept as a dangling image so the container's layers stay.
    let forced = RemoveOptions {
        force: true,
        in_use: &in_use,
    };
    let r = store
        .remove_image("docker.io/library/test:latest", &forced)
        .unwrap();
    assert!(!r.untagged.is_empty());
    assert!(r.deleted.is_empty());
    let rows = store.list().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].repository.is_none());
    assert!(store.blobs().has(&sha256_of(b"x")).unwrap());
}

#[test]
fn rmi_by_id_with_several_repositories_needs_force() {
    let (_d, store) = tmp_store();
    let (new, id) = put_image(&store, "2024-01-01T00:00:00Z", &[b"x"]);
    store.add_image(&new).unwrap();
    store
        .tag(id.digest(), "localhost:5000/mirror/test:1")
        .unwrap();
    let e = store
        .remove_image(&id.digest()[..8], &RemoveOptions::unused())
        .unwrap_err();
    assert!(matches!(e, Error::ImageMultipleRepositories { .. }), "{e}");
    let forced = RemoveOptions {
        force: true,
        in_use: &|_| None,
    };
    let r = store.remove_image(&id.digest()[..8], &forced).unwrap();
    assert_eq!(r.untagged.len(), 3);
    assert_eq!(r.deleted, vec![id]);
    assert!(store.blobs().list().unwrap().is_empty());
}

#[test]
fn prune_removes_dangling_images_and_df_reports_reclaimable() {
    let (_d, store) = tmp_store();
    let (new_old, old) = put_image(&store, "2024-01-01T00:00:00Z", &[b"old"]);
    store.add_image(&new_old).unwrap();
    // Re-pulling the tag with new content leaves the old image dangling.
    let (new_cur, cur) = put_image(&store, "2024-02-01T00:00:00Z", &[b"new"]);
    store.add_image(&new_cur).unwrap();
    let rows = store.list().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].image.id, cur, "newest first");
    assert_eq!(rows[0].tag.as_deref(), Some("latest"));
    assert_eq!(rows[0].repo_digest.as_ref(), Some(&new_cur.manifest_digest));
    // The old one keeps its repo digest row (docker shows `<none>` tag with the digest).
    assert_eq!(rows[1].image.id, old);
    assert!(rows[1].tag.is_none());

    let usage = store.disk_usage(&|_| None).unwrap();
    assert_eq!(usage.images, 2);
    assert_eq!(usage.active_images, 0);
    assert!(usage.blobs_size > 0);
    assert_eq!(usage.reclaimable, usage.total());

    store
        .untag(&format!(
            "docker.io/library/test@{}",
            new_old.manifest_digest
        ))
        .unwrap();
    let r = store.prune(false, &RemoveOptions::unused()).unwrap();
    assert_eq!(r.deleted, vec![old]);
    assert!(!store.blobs().has(&sha256_of(b"old")).unwrap());
    assert!(store.blobs().has(&sha256_of(b"new")).unwrap());

    let r = store.prune(true, &RemoveOptions::unused()).unwrap();
    assert_eq!(r.deleted, vec![cur]);
    assert!(store.blobs().list().unwrap().is_empty());
    assert_eq!(store.disk_usage(&|_| None).unwrap().total(), 0);
}
