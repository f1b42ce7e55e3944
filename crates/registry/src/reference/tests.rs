//! The reference parser against docker's normalisation, its error messages, and
//! round trips of generated references.

use super::*;
use proptest::prelude::*;

const HEX: &str = "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

type Parts = (String, String, Option<String>, Option<String>);

fn parts(s: &str) -> Parts {
    let r = Reference::parse(s).unwrap();
    (
        r.registry().to_owned(),
        r.repository().to_owned(),
        r.tag().map(str::to_owned),
        r.digest().map(|d| d.to_string()),
    )
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn docker_normalisation() {
    let d = format!("sha256:{HEX}");
    type Case<'a> = (String, (&'a str, &'a str, Option<String>, Option<String>));
    let cases: Vec<Case> = vec![
        (
            "ubuntu".into(),
            ("docker.io", "library/ubuntu", some("latest"), None),
        ),
        (
            "ubuntu:20.04".into(),
            ("docker.io", "library/ubuntu", some("20.04"), None),
        ),
        (
            "arm64v8/ubuntu:20.04".into(),
            ("docker.io", "arm64v8/ubuntu", some("20.04"), None),
        ),
        (
            "docker.io/ubuntu".into(),
            ("docker.io", "library/ubuntu", some("latest"), None),
        ),
        (
            "index.docker.io/library/ubuntu".into(),
            ("docker.io", "library/ubuntu", some("latest"), None),
        ),
        (
            "localhost:5000/a/b:tag".into(),
            ("localhost:5000", "a/b", some("tag"), None),
        ),
        (
            "localhost/a".into(),
            ("localhost", "a", some("latest"), None),
        ),
        (
            "127.0.0.1:5000/x".into(),
            ("127.0.0.1:5000", "x", some("latest"), None),
        ),
        (
            "[::1]:5000/x:t".into(),
            ("[::1]:5000", "x", some("t"), None),
        ),
        (
            "quay.io/a/b/c".into(),
            ("quay.io", "a/b/c", some("latest"), None),
        ),
        // No '.' or ':' and not localhost: a Docker Hub namespace, not a registry.
        (
            "myhost/x".into(),
            ("docker.io", "myhost/x", some("latest"), None),
        ),
        // A lone "host:port" is a Docker Hub image with a tag, as in docker.
        (
            "localhost:5000".into(),
            ("docker.io", "library/localhost", some("5000"), None),
        ),
        (
            format!("ubuntu@{d}"),
            ("docker.io", "library/ubuntu", None, Some(d.clone())),
        ),
        (
            format!("ubuntu:20.04@{d}"),
            (
                "docker.io",
                "library/ubuntu",
                some("20.04"),
                Some(d.clone()),
            ),
        ),
        (
            format!("localhost:5000/a/b@{d}"),
            ("localhost:5000", "a/b", None, Some(d.clone())),
        ),
        (
            "a__b/c-d.e_f---g:Tag_1.x-y".into(),
            ("docker.io", "a__b/c-d.e_f---g", some("Tag_1.x-y"), None),
        ),
    ];
    for (input, (registry, repository, tag, digest)) in cases {
        assert_eq!(
            parts(&input),
            (registry.to_owned(), repository.to_owned(), tag, digest),
            "{input}"
        );
    }
}

#[test]
fn display_and_familiar_forms() {
    let cases = [
        ("ubuntu", "docker.io/library/ubuntu:latest", "ubuntu"),
        (
            "arm64v8/ubuntu:20.04",
            "docker.io/arm64v8/ubuntu:20.04",
            "arm64v8/ubuntu",
        ),
        (
            "localhost:5000/a/b:tag",
            "localhost:5000/a/b:tag",
            "localhost:5000/a/b",
        ),
        (
            "docker.io/library/a/b",
            "docker.io/library/a/b:latest",
            "library/a/b",
        ),
        (
            "docker.io/0.0/a",
            "docker.io/0.0/a:latest",
            "docker.io/0.0/a",
        ),
    ];
    for (input, full, familiar) in cases {
        let r = Reference::parse(input).unwrap();
        assert_eq!(r.to_string(), full);
        assert_eq!(r.familiar(), familiar);
    }
    let r = Reference::parse(&format!("busybox:1@sha256:{HEX}")).unwrap();
    assert_eq!(r.familiar_string(), format!("busybox:1@sha256:{HEX}"));
    assert_eq!(r.manifest_reference(), format!("sha256:{HEX}"));
    assert_eq!(
        Reference::parse("busybox").unwrap().manifest_reference(),
        "latest"
    );
}

#[test]
fn api_hosts() {
    assert_eq!(
        Reference::parse("ubuntu").unwrap().api_host(),
        "registry-1.docker.io"
    );
    assert_eq!(
        Reference::parse("localhost:5000/x").unwrap().api_host(),
        "localhost:5000"
    );
}

#[test]
fn invalid_references_are_rejected_with_the_reason() {
    let long = format!("a/{}", "b".repeat(250));
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        (
            "Ubuntu".into(),
            "repository name (library/Ubuntu) must be lowercase",
        ),
        (
            "foo/Bar".into(),
            "repository name (foo/Bar) must be lowercase",
        ),
        ("ubuntu:".into(), "invalid tag"),
        ("ubuntu:-x".into(), "invalid tag"),
        (format!("ubuntu:{}", "t".repeat(129)), "invalid tag"),
        ("ubuntu:a b".into(), "invalid tag"),
        ("-ubuntu".into(), "invalid repository name component"),
        ("ubu..ntu".into(), "invalid repository name component"),
        ("a//b".into(), "invalid repository name component"),
        ("ubuntu/".into(), "invalid repository name component"),
        ("ub@untu".into(), "invalid digest"),
        ("ubuntu@sha256:abc".into(), "invalid digest"),
        (
            format!("ubuntu@sha256:{}", HEX.to_uppercase()),
            "invalid digest",
        ),
        (format!("ubuntu@md5:{HEX}"), "unsupported digest algorithm"),
        (format!("ubuntu@sha256:{HEX}0"), "invalid digest"),
        ("local_host:5000/x".into(), "invalid registry"),
        ("localhost:50a0/x".into(), "invalid registry"),
        ("-bad.host/x".into(), "invalid registry"),
        (HEX.into(), "cannot specify 64-byte hexadecimal strings"),
        (long, "must not be more than 255 characters"),
    ];
    for (input, needle) in cases {
        let err = Reference::parse(&input).expect_err(&input);
        let msg = err.to_string();
        assert!(msg.contains(needle), "{input:?}: {msg:?} lacks {needle:?}");
    }
}

#[test]
fn with_helpers() {
    let r = Reference::parse("localhost:5000/a:1").unwrap();
    let d: Digest = format!("sha256:{HEX}").parse().unwrap();
    assert_eq!(
        r.with_digest(d.clone()).to_string(),
        format!("localhost:5000/a:1@{d}")
    );
    assert_eq!(r.with_tag("2").unwrap().to_string(), "localhost:5000/a:2");
    assert!(r.with_tag("bad tag").is_err());
    assert_eq!(
        r.with_repository("b/c").unwrap().to_string(),
        "localhost:5000/b/c:1"
    );
    assert!(r.with_repository("B").is_err());
}

#[test]
fn serde_as_string() {
    let r = Reference::parse("busybox:1.36").unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, "\"docker.io/library/busybox:1.36\"");
    let back: Reference = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert!(serde_json::from_str::<Reference>("\"UP\"").is_err());
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,2}"
}

fn registry_host() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("docker.io".to_owned())),
        Just(Some("localhost".to_owned())),
        "[a-z][a-z0-9-]{0,6}[a-z0-9]\\.[a-z]{2,4}(:[0-9]{1,5})?".prop_map(Some),
        "localhost:[0-9]{1,5}".prop_map(Some),
        "127\\.0\\.0\\.[0-9]{1,3}:[0-9]{1,5}".prop_map(Some),
        "\\[::[0-9a-f]{1,4}\\]:[0-9]{1,5}".prop_map(Some),
    ]
}

prop_compose! {
    fn reference_string()(
        registry in registry_host(),
        path in prop::collection::vec(component(), 1..4),
        tag in prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in prop::option::of("[0-9a-f]{64}"),
    ) -> String {
        let mut s = String::new();
        // Without a registry, a first component with a '.' would be read as one.
        let registry = match registry {
            None if path[0].contains('.') => Some("docker.io".to_owned()),
            r => r,
        };
        if let Some(r) = registry {
            s.push_str(&r);
            s.push('/');
        }
        s.push_str(&path.join("/"));
        if let Some(t) = tag {
            s.push(':');
            s.push_str(&t);
        }
        if let Some(d) = digest {
            s.push_str("@sha256:");
            s.push_str(&d);
        }
        s
    }
}

proptest! {
    #[test]
    fn parse_format_round_trip(input in reference_string()) {
        let parsed = Reference::parse(&input).unwrap();
        let full = parsed.to_string();
        prop_assert_eq!(Reference::parse(&full).unwrap(), parsed.clone());
        // The familiar form parses back to the same reference too.
        let familiar = parsed.familiar_string();
        prop_assert_eq!(Reference::parse(&familiar).unwrap(), parsed.clone());
        // Formatting is idempotent.
        prop_assert_eq!(Reference::parse(&full).unwrap().to_string(), full);
    }

    #[test]
    fn parse_never_panics(input in "\\PC{0,80}") {
        let _ = Reference::parse(&input);
    }

    #[test]
    fn uppercase_repositories_are_rejected(
        path in "[a-z]{1,4}[A-Z][a-z]{0,4}",
    ) {
        let err = Reference::parse(&format!("localhost:5000/{path}")).unwrap_err();
        let is_uppercase_error = matches!(err, ParseError::UppercaseRepository { .. });
        prop_assert!(is_uppercase_error);
    }
}
