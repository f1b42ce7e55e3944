//! Two tags of one image pulled by two different manifests (a Docker v2 schema 2 manifest
//! and an OCI manifest over the same config and layers): each tag keeps the digest it was
//! pulled by, re-pulling a tag that still points at the same image reports
//! `Image is up to date`, and `image inspect` lists both repo digests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failure is a test failure.
mod common;

use common::{Mydocker, blob_gets};
use registry::{Compression, media_types};
use test_support::{Fixtures, Flavour, Image, Registry};

/// The same image as `docker` (same config, same layer blobs), described by an OCI
/// manifest instead: a different manifest digest, the same image ID.
fn as_oci(docker: &Image) -> Image {
    let mut oci = docker.clone();
    oci.flavour = Flavour::Oci;
    for l in &mut oci.layers {
        l.media_type = Flavour::Oci.layer_media_type(Compression::Gzip).to_owned();
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {
            "mediaType": media_types::OCI_CONFIG,
            "digest": oci.config_digest.to_string(),
            "size": oci.config.len(),
        },
        "layers": oci.layers.iter().map(|l| serde_json::json!({
            "mediaType": l.media_type,
            "digest": l.digest.to_string(),
            "size": l.blob.len(),
        })).collect::<Vec<_>>(),
    });
    oci.manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    oci.manifest_digest = registry::sha256_digest(&oci.manifest);
    oci
}

/// `images --digests` rows as (repository, tag, digest).
fn digest_rows(md: &Mydocker) -> Vec<(String, String, String)> {
    md.ok(&["images", "--digests"])
        .lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols[0].to_owned(), cols[1].to_owned(), cols[2].to_owned())
        })
        .collect()
}

fn digest_of(rows: &[(String, String, String)], repo: &str, tag: &str) -> String {
    let found: Vec<&String> = rows
        .iter()
        .filter(|(r, t, _)| r == repo && t == tag)
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(found.len(), 1, "one row for {repo}:{tag} in {rows:?}");
    found[0].clone()
}

#[test]
fn each_tag_keeps_the_digest_it_was_pulled_by() {
    let registry = Registry::shared();
    let client = registry.client().unwrap();
    // A repository of this test's own, so the access log counts only its pulls.
    let latest = registry.reference("repodigests/busybox:latest").unwrap();
    let oci_tag = registry.reference("repodigests/busybox:oci").unwrap();
    let docker = Fixtures::shared().busybox.image().clone();
    assert_eq!(docker.flavour, Flavour::Docker);
    let oci = as_oci(&docker);
    assert_ne!(docker.manifest_digest, oci.manifest_digest);
    assert_eq!(
        docker.push(&client, &latest).unwrap(),
        docker.manifest_digest
    );
    assert_eq!(oci.push(&client, &oci_tag).unwrap(), oci.manifest_digest);
    let repo = latest.name();
    let (latest_s, oci_s) = (latest.to_string(), oci_tag.to_string());

    let md = Mydocker::new();
    let out = md.ok(&["pull", &latest_s]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {latest_s}")),
        "{out}"
    );
    let out = md.ok(&["pull", &oci_s]);
    assert!(
        out.contains(&format!("Digest: {}", oci.manifest_digest)),
        "{out}"
    );
    // A new tag: docker says "Downloaded newer image" although every layer was there.
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {oci_s}")),
        "{out}"
    );
    assert!(out.contains("Already exists"), "{out}");

    // Pulling the first tag again: the registry serves the manifest the tag was pulled
    // by, and the tag points at that same image: nothing is new and nothing downloads.
    let blobs_before = {
        let mut b = md.files_under("blobs");
        b.sort();
        b
    };
    let gets = |d: &registry::Digest| blob_gets(registry, d.as_ref());
    let layer = &docker.layers[0].digest;
    let gets_before = (gets(layer), gets(&docker.config_digest));
    let out = md.ok(&["pull", &latest_s]);
    assert!(
        out.contains(&format!("Digest: {}", docker.manifest_digest)),
        "{out}"
    );
    assert!(
        out.contains(&format!("Status: Image is up to date for {latest_s}")),
        "{out}"
    );
    assert!(!out.contains("Downloaded newer image"), "{out}");
    let blobs_after = {
        let mut b = md.files_under("blobs");
        b.sort();
        b
    };
    assert_eq!(blobs_before, blobs_after, "the third pull wrote blobs");
    assert_eq!(
        gets_before,
        (gets(layer), gets(&docker.config_digest)),
        "the third pull fetched blobs"
    );

    // One image, each tag with its own manifest digest.
    assert_eq!(md.ok(&["images", "-q"]).lines().count(), 1);
    let rows = digest_rows(&md);
    assert_eq!(
        digest_of(&rows, &repo, "latest"),
        docker.manifest_digest.to_string()
    );
    assert_eq!(
        digest_of(&rows, &repo, "oci"),
        oci.manifest_digest.to_string()
    );
    // The same the other way round: the OCI tag again is up to date too, and keeps its
    // digest.
    let out = md.ok(&["pull", &oci_s]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {oci_s}")),
        "{out}"
    );
    let rows = digest_rows(&md);
    assert_eq!(
        digest_of(&rows, &repo, "latest"),
        docker.manifest_digest.to_string()
    );
    assert_eq!(
        digest_of(&rows, &repo, "oci"),
        oci.manifest_digest.to_string()
    );

    // Inspect lists every repo digest of the image, once each.
    let inspect = md.ok(&["image", "inspect", &latest_s]);
    let doc: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let mut repo_digests: Vec<String> = doc[0]["RepoDigests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    repo_digests.sort();
    let mut want = vec![
        format!("{repo}@{}", docker.manifest_digest),
        format!("{repo}@{}", oci.manifest_digest),
    ];
    want.sort();
    assert_eq!(repo_digests, want);
    let mut tags: Vec<String> = doc[0]["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    assert_eq!(tags, vec![latest_s.clone(), oci_s.clone()]);

    // A tag made by `tag` was pulled by nothing: in the same repository it shows a repo
    // digest of the repository (as docker does), in another repository `<none>`.
    md.ok(&["tag", &latest_s, &format!("{repo}:mine")]);
    md.ok(&["tag", &latest_s, "elsewhere/busybox:mine"]);
    let rows = digest_rows(&md);
    let mine = digest_of(&rows, &repo, "mine");
    assert!(
        mine == docker.manifest_digest.to_string() || mine == oci.manifest_digest.to_string(),
        "{rows:?}"
    );
    assert_eq!(digest_of(&rows, "elsewhere/busybox", "mine"), "<none>");
    // The pulled tags are unchanged by that.
    assert_eq!(
        digest_of(&rows, &repo, "latest"),
        docker.manifest_digest.to_string()
    );
    assert_eq!(
        digest_of(&rows, &repo, "oci"),
        oci.manifest_digest.to_string()
    );
}
