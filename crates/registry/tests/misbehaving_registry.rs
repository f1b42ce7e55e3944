//! A fake registry on 127.0.0.1 that misbehaves on purpose: corrupt or oversized blobs,
//! connections dropped mid-blob (with and without Range support), server errors,
//! oversized and malformed manifests.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use registry::{
    Client, CredentialSource, Descriptor, Error, ErrorKind, MediaType, Platform, Reference,
    media_types, sha256_digest,
};
use test_support::{FakeServer, HttpRequest, HttpResponse, test_client_config};

fn client() -> Client {
    Client::new(test_client_config(CredentialSource::None)).unwrap()
}

fn data(len: usize) -> Arc<Vec<u8>> {
    let mut x: u32 = 0x1234_5678;
    Arc::new(
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect(),
    )
}

fn reference(server: &FakeServer) -> Reference {
    format!("{}/repo:1", server.host()).parse().unwrap()
}

/// Reads everything, returning the bytes delivered before the outcome.
fn drain(reader: &mut impl Read) -> (Vec<u8>, io::Result<()>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return (out, Ok(())),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Err(e)),
        }
    }
}

fn range_start(req: &HttpRequest) -> Option<usize> {
    req.header("range")?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

#[test]
fn corrupt_blob_fails_at_eof_with_an_integrity_error() {
    let good = data(50_000);
    let mut bad = good.as_ref().clone();
    bad[25_000] ^= 0xff;
    let bad = Arc::new(bad);
    let server = FakeServer::start(move |_| HttpResponse::new(200).body(bad.as_slice())).unwrap();
    let d = Descriptor::new(
        MediaType::ImageLayerGzip,
        good.len() as u64,
        sha256_digest(&good),
    );
    let mut reader = client().open_blob(&reference(&server), &d).unwrap();
    let (delivered, outcome) = drain(&mut reader);
    // Every byte came through; only the end of the stream reports the mismatch.
    assert_eq!(delivered.len(), good.len());
    let err = outcome.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let err = Error::from_io(err, "layer");
    assert_eq!(err.kind(), ErrorKind::Integrity);
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
    assert!(!reader.is_verified());
    // The reader stays failed.
    assert!(reader.read(&mut [0u8; 16]).is_err());
}

#[test]
fn oversized_blob_is_an_integrity_error() {
    let blob = data(10_000);
    let served = Arc::clone(&blob);
    let server =
        FakeServer::start(move |_| HttpResponse::new(200).body(served.as_slice())).unwrap();
    // The descriptor claims fewer bytes than the server sends.
    let d = Descriptor::new(MediaType::ImageLayer, 9_000, sha256_digest(&blob[..9_000]));
    let mut reader = client().open_blob(&reference(&server), &d).unwrap();
    let (delivered, outcome) = drain(&mut reader);
    assert!(delivered.len() <= 9_000);
    let err = Error::from_io(outcome.unwrap_err(), "layer");
    assert!(
        matches!(
            err,
            Error::SizeMismatch {
                expected: 9_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_blob_is_retried_a_bounded_number_of_times_then_fails() {
    let blob = data(10_000);
    let short = Arc::new(blob[..6_000].to_vec());
    let server = FakeServer::start(move |_| HttpResponse::new(200).body(short.as_slice())).unwrap();
    let d = Descriptor::new(MediaType::ImageLayer, 10_000, sha256_digest(&blob));
    let c = client();
    let mut reader = c.open_blob(&reference(&server), &d).unwrap();
    let (_, outcome) = drain(&mut reader);
    let err = Error::from_io(outcome.unwrap_err(), "layer");
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    // The first request plus one per retry, no more.
    assert_eq!(server.requests().len(), 1 + c.config().max_retries as usize);
}

#[test]
fn dropped_connection_resumes_with_a_range_request() {
    let blob = data(200_000);
    let served = Arc::clone(&blob);
    let first = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&first);
    let server = FakeServer::start(move |req| match range_start(req) {
        Some(start) => HttpResponse::new(206)
            .header(
                "Content-Range",
                format!("bytes {start}-{}/{}", served.len() - 1, served.len()),
            )
            .body(&served[start..]),
        None => {
            let resp = HttpResponse::new(200).body(served.as_slice());
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                resp.cut_after(70_000)
            } else {
                resp
            }
        }
    })
    .unwrap();
    let d = Descriptor::new(
        MediaType::ImageLayerGzip,
        blob.len() as u64,
        sha256_digest(&blob),
    );
    let mut reader = client().open_blob(&reference(&server), &d).unwrap();
    let (got, outcome) = drain(&mut reader);
    outcome.unwrap();
    assert_eq!(got, *blob);
    assert!(reader.is_verified());
    assert_eq!(reader.resumes(), 1);
    let reqs = server.requests();
    let ranges: Vec<usize> = reqs.iter().filter_map(range_start).collect();
    assert_eq!(ranges.len(), 1, "{reqs:?}");
    assert!(ranges[0] > 0 && ranges[0] <= 70_000, "{ranges:?}");
    assert_eq!(reqs.len(), 2);
}

#[test]
fn dropped_connection_without_range_support_downloads_again_and_skips() {
    let blob = data(120_000);
    let served = Arc::clone(&blob);
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    // This server ignores Range and always sends the whole blob.
    let server = FakeServer::start(move |_| {
        let resp = HttpResponse::new(200).body(served.as_slice());
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            resp.cut_after(50_000)
        } else {
            resp
        }
    })
    .unwrap();
    let d = Descriptor::new(
        MediaType::ImageLayer,
        blob.len() as u64,
        sha256_digest(&blob),
    );
    let mut reader = client().open_blob(&reference(&server), &d).unwrap();
    let (got, outcome) = drain(&mut reader);
    outcome.unwrap();
    assert_eq!(
        got, *blob,
        "the first bytes were skipped, not delivered twice"
    );
    assert!(reader.is_verified());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        range_start(&reqs[1]).is_some(),
        "the client asked for a range"
    );
}

#[test]
fn server_errors_are_retried_then_reported() {
    let blob = data(1_000);
    let served = Arc::clone(&blob);
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    let flaky = FakeServer::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            HttpResponse::new(503)
        } else {
            HttpResponse::new(200).body(served.as_slice())
        }
    })
    .unwrap();
    let d = Descriptor::new(
        MediaType::ImageLayer,
        blob.len() as u64,
        sha256_digest(&blob),
    );
    let c = client();
    let mut got = Vec::new();
    c.open_blob(&reference(&flaky), &d)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, *blob);
    assert_eq!(flaky.requests().len(), 3);

    let broken = FakeServer::start(|_| {
        HttpResponse::json(
            500,
            &serde_json::json!({"errors":[{"code":"UNKNOWN","message":"storage exploded"}]}),
        )
    })
    .unwrap();
    let err = c.fetch_manifest(&reference(&broken)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("storage exploded"), "{err}");
    assert_eq!(broken.requests().len(), 1 + c.config().max_retries as usize);
}

fn manifest_server(content_type: &'static str, body: Vec<u8>) -> FakeServer {
    let body = Arc::new(body);
    FakeServer::start(move |req| {
        if req.path().contains("/manifests/") {
            HttpResponse::new(200)
                .header("Content-Type", content_type)
                .body(body.as_slice())
        } else {
            HttpResponse::new(404)
        }
    })
    .unwrap()
}

#[test]
fn manifest_over_4_mib_is_refused() {
    let mut body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"pad":""#.to_vec();
    body.resize(4 * 1024 * 1024 + 10, b'a');
    body.extend_from_slice(b"\"}}");
    let server = manifest_server(media_types::OCI_MANIFEST, body);
    let err = client().fetch_manifest(&reference(&server)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    assert!(
        err.to_string()
            .contains("larger than the 4194304-byte limit"),
        "{err}"
    );
}

#[test]
fn malformed_manifest_json_is_refused() {
    let server = manifest_server(
        media_types::OCI_MANIFEST,
        br#"{"schemaVersion":2,"config":{"mediaType":"#.to_vec(),
    );
    let err = client()
        .resolve(&reference(&server), &Platform::host())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    assert!(
        err.to_string().starts_with("malformed manifest for"),
        "{err}"
    );

    // Valid JSON of the wrong shape is malformed too.
    let server = manifest_server(
        media_types::DOCKER_MANIFEST,
        br#"{"schemaVersion":2,"config":{},"layers":"nope"}"#.to_vec(),
    );
    let err = client()
        .resolve(&reference(&server), &Platform::host())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");

    // An index whose entries are garbage.
    let server = manifest_server(
        media_types::OCI_INDEX,
        br#"{"schemaVersion":2,"manifests":[{"digest":"../../etc/passwd"}]}"#.to_vec(),
    );
    let err = client()
        .resolve(&reference(&server), &Platform::host())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
}

#[test]
fn unsupported_manifest_types_are_refused() {
    let server = manifest_server(
        media_types::DOCKER_MANIFEST_V1_SIGNED,
        br#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}"#.to_vec(),
    );
    let err = client()
        .resolve(&reference(&server), &Platform::host())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

#[test]
fn manifest_pulled_by_digest_must_match_it() {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec();
    let server = manifest_server(media_types::OCI_INDEX, body.clone());
    let r = reference(&server);
    // By tag: accepted, digest computed from the bytes.
    let raw = client().fetch_manifest(&r).unwrap();
    assert_eq!(raw.digest, sha256_digest(&body));
    // By a digest the bytes do not have: refused.
    let pinned = r.with_digest(sha256_digest(b"another manifest"));
    let err = client().fetch_manifest(&pinned).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(matches!(err, Error::DigestMismatch { .. }));
    // An index without entries has no platform to offer.
    let err = client().resolve(&r, &Platform::host()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("(available: none)"), "{err}");
}

#[test]
fn lying_docker_content_digest_header_is_refused() {
    let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let server = FakeServer::start(move |_| {
        HttpResponse::new(200)
            .header("Content-Type", media_types::OCI_INDEX)
            .header(
                "Docker-Content-Digest",
                sha256_digest(b"something else").to_string(),
            )
            .body(&body[..])
    })
    .unwrap();
    let err = client().fetch_manifest(&reference(&server)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
}
