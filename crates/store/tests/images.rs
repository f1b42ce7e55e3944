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
        .remove_image(
            "docker.io/library/test:latest",
            &RemoveOptions::unused(),
            &store::driver::all(&store).unwrap(),
        )
        .unwrap();
    assert_eq!(r.untagged, vec!["docker.io/library/test:latest"]);
    assert!(r.deleted.is_empty() && r.gc.blobs.is_empty());

    // Last tag: the digest reference goes too and the image is deleted; its private blobs
    // are collected, the shared layer stays.
    let r = store
        .remove_image(
            "docker.io/library/test:v2",
            &RemoveOptions::unused(),
            &store::driver::all(&store).unwrap(),
        )
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
        .remove_image(
            "docker.io/library/test:latest",
            &opts,
            &store::driver::all(&store).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::ImageInUse { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("c0ffee"));
    store.image("docker.io/library/test:latest").unwrap();
    let e = store
        .remove_image(id.digest(), &opts, &store::driver::all(&store).unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::ImageInUse { .. }), "{e}");

    // Forced: untagged, but kept as a dangling image so the container's layers stay.
    let forced = RemoveOptions {
        force: true,
        in_use: &in_use,
    };
    let r = store
        .remove_image(
            "docker.io/library/test:latest",
            &forced,
            &store::driver::all(&store).unwrap(),
        )
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
        .remove_image(
            &id.digest()[..8],
            &RemoveOptions::unused(),
            &store::driver::all(&store).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::ImageMultipleRepositories { .. }), "{e}");
    let forced = RemoveOptions {
        force: true,
        in_use: &|_| None,
    };
    let r = store
        .remove_image(
            &id.digest()[..8],
            &forced,
            &store::driver::all(&store).unwrap(),
        )
        .unwrap();
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
    let r = store
        .prune(
            false,
            &RemoveOptions::unused(),
            &store::driver::all(&store).unwrap(),
        )
        .unwrap();
    assert_eq!(r.deleted, vec![old]);
    assert!(!store.blobs().has(&sha256_of(b"old")).unwrap());
    assert!(store.blobs().has(&sha256_of(b"new")).unwrap());

    let r = store
        .prune(
            true,
            &RemoveOptions::unused(),
            &store::driver::all(&store).unwrap(),
        )
        .unwrap();
    assert_eq!(r.deleted, vec![cur]);
    assert!(store.blobs().list().unwrap().is_empty());
    assert_eq!(store.disk_usage(&|_| None).unwrap().total(), 0);
}

/// A second manifest for the image `new` records: the same config and layers, with Docker
/// v2 schema 2 media types, so a different manifest digest for the same image ID.
fn docker_manifest_of(store: &Store, new: &NewImage) -> Digest {
    let oci: serde_json::Value =
        serde_json::from_slice(&store.blobs().read(&new.manifest_digest).unwrap()).unwrap();
    let mut m = oci.clone();
    m["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    m["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json".into();
    for l in m["layers"].as_array_mut().unwrap() {
        l["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar".into();
    }
    let d = store
        .blobs()
        .write_bytes(&serde_json::to_vec(&m).unwrap(), None)
        .unwrap();
    assert_ne!(d, new.manifest_digest);
    d
}

/// (tag, digest) of every row of `repo`.
fn tag_digests(store: &Store, repo: &str) -> Vec<(Option<String>, Option<Digest>)> {
    let mut rows: Vec<_> = store
        .list()
        .unwrap()
        .into_iter()
        .filter(|e| e.repository.as_deref() == Some(repo))
        .map(|e| (e.tag, e.repo_digest))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn each_tag_keeps_the_digest_it_was_pulled_by() {
    let (_d, store) = tmp_store();
    let repo = "docker.io/library/test";
    // `latest` by an OCI manifest, `docker` by a Docker manifest of the same image.
    let (latest, id) = put_image(&store, "2024-01-01T00:00:00Z", &[b"same"]);
    let docker = NewImage {
        tag: Some("docker".into()),
        repo_digest: Some(docker_manifest_of(&store, &latest)),
        manifest_digest: docker_manifest_of(&store, &latest),
        ..latest.clone()
    };
    let (m_oci, m_docker) = (
        latest.manifest_digest.clone(),
        docker.manifest_digest.clone(),
    );
    assert_eq!(store.add_image(&latest).unwrap().id, id);
    assert_eq!(store.add_image(&docker).unwrap().id, id);
    // Re-recording `latest` by its own manifest changes nothing for either tag.
    store.add_image(&latest).unwrap();
    let want = vec![
        (Some("docker".to_owned()), Some(m_docker.clone())),
        (Some("latest".to_owned()), Some(m_oci.clone())),
    ];
    assert_eq!(tag_digests(&store, repo), want);
    store.add_image(&docker).unwrap();
    assert_eq!(tag_digests(&store, repo), want);

    // One image with both repo digests.
    let rec = store.image(&format!("{repo}:latest")).unwrap();
    assert_eq!(rec.id, id);
    let mut digests = rec.repo_digests.clone();
    digests.sort();
    let mut both = vec![format!("{repo}@{m_oci}"), format!("{repo}@{m_docker}")];
    both.sort();
    assert_eq!(digests, both);
    assert_eq!(store.images().unwrap().len(), 1);

    // `tag` in the same repository: pulled by nothing, so one of the repository's digests
    // (docker shows the repository's digests); in another repository none.
    store
        .tag(&format!("{repo}:latest"), &format!("{repo}:mine"))
        .unwrap();
    store
        .tag(&format!("{repo}:latest"), "localhost:5000/other:mine")
        .unwrap();
    let rows = tag_digests(&store, repo);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows[2].1 == Some(m_oci.clone()) || rows[2].1 == Some(m_docker.clone()),
        "{rows:?}"
    );
    assert_eq!(
        tag_digests(&store, "localhost:5000/other"),
        vec![(Some("mine".to_owned()), None)]
    );
    // Re-tagging a pulled tag to the image it already names keeps its digest.
    store
        .tag(&format!("{repo}:mine"), &format!("{repo}:docker"))
        .unwrap();
    assert_eq!(tag_digests(&store, repo)[0], want[0]);

    // Removing the digest a tag was pulled by: the tag falls back to the repository's
    // other digest.
    store.untag(&format!("{repo}@{m_docker}")).unwrap();
    assert_eq!(
        tag_digests(&store, repo)[0],
        (Some("docker".to_owned()), Some(m_oci.clone()))
    );

    // A tag moved to another image forgets the digest it was pulled by.
    let (mut other, other_id) = put_image(&store, "2024-02-01T00:00:00Z", &[b"other"]);
    other.tag = Some("latest".into());
    other.repo_digest = None;
    store.add_image(&other).unwrap();
    let rows = store.list().unwrap();
    let row = rows
        .iter()
        .find(|e| e.tag.as_deref() == Some("latest"))
        .unwrap();
    assert_eq!(row.image.id, other_id);
    assert_eq!(row.repo_digest, None);
}

/// `references.json` as the previous release wrote it (tags and digests map straight to
/// image IDs) loads, and the first write migrates it, giving each tag the digest it can
/// only have been pulled by.
#[test]
fn references_of_the_previous_release_load_and_migrate() {
    let (_d, store) = tmp_store();
    let repo = "docker.io/library/test";
    let (latest, id) = put_image(&store, "2024-01-01T00:00:00Z", &[b"same"]);
    let (b, id_b) = put_image(&store, "2024-02-01T00:00:00Z", &[b"b"]);
    // Records as the previous release wrote them: record files come from add_image (their
    // format is unchanged), references.json is written by hand in the old format.
    store.add_image(&latest).unwrap();
    store.add_image(&b).unwrap();
    let old = serde_json::json!({
        "tags": {
            format!("{repo}:latest"): id.to_string(),
            format!("{repo}:b"): id_b.to_string(),
        },
        "digests": {
            format!("{repo}@{}", latest.manifest_digest): id.to_string(),
            format!("{repo}@{}", b.manifest_digest): id_b.to_string(),
        },
    });
    let refs = store.root().join("images/references.json");
    std::fs::write(&refs, serde_json::to_vec_pretty(&old).unwrap()).unwrap();

    assert_eq!(
        tag_digests(&store, repo),
        vec![
            (Some("b".to_owned()), Some(b.manifest_digest.clone())),
            (
                Some("latest".to_owned()),
                Some(latest.manifest_digest.clone())
            ),
        ]
    );
    assert_eq!(store.image(&format!("{repo}:b")).unwrap().id, id_b);
    let rec = store
        .image(&format!("{repo}@{}", latest.manifest_digest))
        .unwrap();
    assert_eq!(rec.repo_tags, vec![format!("{repo}:latest")]);

    // A second manifest of `latest`'s image arrives under another tag: `latest` keeps the
    // digest it was migrated with, and the file is in the new format.
    let docker = NewImage {
        tag: Some("docker".into()),
        repo_digest: Some(docker_manifest_of(&store, &latest)),
        manifest_digest: docker_manifest_of(&store, &latest),
        ..latest.clone()
    };
    store.add_image(&docker).unwrap();
    assert_eq!(
        tag_digests(&store, repo),
        vec![
            (Some("b".to_owned()), Some(b.manifest_digest.clone())),
            (
                Some("docker".to_owned()),
                Some(docker.manifest_digest.clone())
            ),
            (
                Some("latest".to_owned()),
                Some(latest.manifest_digest.clone())
            ),
        ]
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&refs).unwrap()).unwrap();
    assert_eq!(
        written["tag_digests"][format!("{repo}:latest")],
        latest.manifest_digest.to_string()
    );
    // Every old key is still there with its old meaning, so the previous release can still
    // read the file.
    assert_eq!(written["tags"][format!("{repo}:latest")], id.to_string());
    assert_eq!(
        written["digests"][format!("{repo}@{}", latest.manifest_digest)],
        id.to_string()
    );
    assert_eq!(tmp_entries(&store), 0);
}
