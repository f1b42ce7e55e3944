//! Image references, parsed exactly as docker parses them.
//!
//! The grammar is the one of `github.com/distribution/reference`:
//!
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain '/'] remote-name
//! domain          := host [':' port-number]
//! host            := domain-name | IPv4address | '[' IPv6address ']'
//! remote-name     := path-component ['/' path-component]*
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]+/
//! tag             := /[\w][\w.-]{0,127}/
//! digest          := algorithm ":" hex
//! ```
//!
//! plus docker's normalisation: a first component without `.` or `:` that is not
//! `localhost` is not a registry (`arm64v8/ubuntu` is on Docker Hub), Docker Hub
//! repositories with one component live under `library/`, and a reference without tag or
//! digest means `:latest`.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::{Digest, DigestAlgorithm};

use crate::error::ParseError;

/// The registry that references without a registry part point at.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The key under which docker stores Docker Hub credentials in `config.json`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
/// The tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest repository name (registry included) docker accepts.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

/// A parsed, normalised image reference such as `docker.io/library/ubuntu:latest`.
///
/// Invariants (guaranteed by [`Reference::parse`] and the constructors): the registry and
/// repository are valid and normalised, and there is a tag, a digest, or both.
///
/// ```
/// use registry::Reference;
///
/// let r: Reference = "ubuntu".parse()?;
/// assert_eq!(r.to_string(), "docker.io/library/ubuntu:latest");
/// assert_eq!(r.familiar(), "ubuntu");
/// assert_eq!(r.api_host(), "registry-1.docker.io");
///
/// let r: Reference = "localhost:5000/a/b:tag".parse()?;
/// assert_eq!((r.registry(), r.repository(), r.tag()), ("localhost:5000", "a/b", Some("tag")));
/// # Ok::<(), registry::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `input` the way `docker pull` does, normalising it to its full form.
    ///
    /// # Errors
    /// [`ParseError`] naming what is wrong: uppercase letters in the repository, an invalid
    /// component, tag, registry or digest, a name over 255 characters, an empty string, or a
    /// bare 64-hex-digit string (docker refuses those as ambiguous with image IDs).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() {
            return Err(ParseError::EmptyReference);
        }
        if input.len() == 64 && input.bytes().all(is_lower_hex) {
            return Err(ParseError::HexIdentifier {
                input: input.to_owned(),
            });
        }
        // A name can contain neither '@' nor, after its last '/', ':'.
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (input, None),
        };
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };

        let (registry, repository) = split_docker_domain(name);
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ParseError::UppercaseRepository { repository });
        }
        validate_registry(input, &registry)?;
        validate_repository(input, &repository)?;
        let full_len = registry.len() + 1 + repository.len();
        if full_len > NAME_TOTAL_LENGTH_MAX {
            return Err(ParseError::NameTooLong {
                name: format!("{registry}/{repository}"),
                len: full_len,
            });
        }
        let tag = match tag {
            Some(tag) => {
                validate_tag(input, tag)?;
                Some(tag.to_owned())
            }
            None => None,
        };
        let digest = match digest {
            Some(d) => Some(parse_reference_digest(input, d)?),
            None => None,
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            _ => tag,
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry part as written by the user after normalisation: `docker.io`,
    /// `localhost:5000`, `[::1]:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) that serves the registry API: `registry-1.docker.io` for Docker
    /// Hub, the registry itself otherwise.
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// Whether the image lives on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The repository path inside the registry: `library/ubuntu`, `a/b`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one (`latest` is filled in when neither tag nor digest
    /// was given).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes after `/manifests/` in the registry API: the digest when there is one
    /// (docker pulls `name:tag@digest` by digest), else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The full name without tag or digest: `docker.io/library/ubuntu`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name as docker prints it: `ubuntu`, `arm64v8/ubuntu`, `localhost:5000/a/b`.
    pub fn familiar(&self) -> String {
        if self.registry != DOCKER_HUB {
            return self.name();
        }
        // A first component that looks like a registry would be read back as one; docker
        // prints those ambiguously, we keep the registry (never the case for Hub names).
        let first = self.repository.split('/').next().unwrap_or("");
        if self.repository.contains('/') && (first.contains(['.', ':']) || first == "localhost") {
            return self.name();
        }
        match self.repository.strip_prefix("library/") {
            Some(short) if !short.contains('/') => short.to_owned(),
            _ => self.repository.clone(),
        }
    }

    /// The familiar name followed by `:tag` and `@digest` when present: `ubuntu:latest`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar();
        push_tag_digest(&mut s, self.tag.as_deref(), self.digest.as_ref());
        s
    }

    /// The same repository pinned to `digest` (the tag, if any, is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with `tag` and no digest.
    ///
    /// # Errors
    /// [`ParseError::InvalidTag`] when `tag` is not a valid tag.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ParseError> {
        validate_tag(tag, tag)?;
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository in another repository path of the same registry (used for
    /// cross-repository blob mounts).
    ///
    /// # Errors
    /// [`ParseError`] when `repository` is not a valid repository path.
    pub fn with_repository(&self, repository: &str) -> Result<Self, ParseError> {
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ParseError::UppercaseRepository {
                repository: repository.to_owned(),
            });
        }
        validate_repository(repository, repository)?;
        Ok(Self {
            repository: repository.to_owned(),
            ..self.clone()
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_tag_digest(&mut s, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The API host of a registry as named in a reference (`docker.io` is served by
/// `registry-1.docker.io`).
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API_HOST
    } else {
        registry
    }
}

fn push_tag_digest(s: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(digest.as_ref());
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Docker's `splitDockerDomain`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut registry, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    if registry == "index.docker.io" {
        registry = DOCKER_HUB.to_owned();
    }
    if registry == DOCKER_HUB && !remainder.contains('/') {
        remainder = format!("library/{remainder}");
    }
    (registry, remainder)
}

fn validate_registry(input: &str, registry: &str) -> Result<(), ParseError> {
    let invalid = |reason: &'static str| ParseError::InvalidRegistry {
        reference: input.to_owned(),
        registry: registry.to_owned(),
        reason,
    };
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(invalid("unterminated IPv6 address"));
        };
        let addr = &rest[..end];
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(invalid("invalid IPv6 address"));
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None if after.is_empty() => (None, None),
            None => return Err(invalid("unexpected characters after IPv6 address")),
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err(invalid("empty host"));
        }
        for label in host.split('.') {
            let ok = !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(invalid(
                    "host names are dot-separated letters, digits and inner '-'",
                ));
            }
        }
    }
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the port must be a number"));
        }
    }
    Ok(())
}

fn validate_repository(input: &str, repository: &str) -> Result<(), ParseError> {
    for component in repository.split('/') {
        if !is_path_component(component) {
            return Err(ParseError::InvalidRepository {
                reference: input.to_owned(),
                component: component.to_owned(),
            });
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
fn validate_tag(input: &str, tag: &str) -> Result<(), ParseError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= TAG_LENGTH_MAX
        && tag.as_bytes().first().is_some_and(|&b| word(b))
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ParseError::InvalidTag {
            reference: input.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

/// Digest syntax as in references, then the checks of go-digest's `Validate`.
fn parse_reference_digest(input: &str, digest: &str) -> Result<Digest, ParseError> {
    let invalid = |reason: String| ParseError::InvalidDigest {
        input: input.to_owned(),
        digest: digest.to_owned(),
        reason,
    };
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(invalid("expected ALGORITHM:HEX".to_owned()));
    };
    let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|part| {
        part.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && part.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if !algorithm_ok {
        return Err(invalid("invalid algorithm".to_owned()));
    }
    if hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "the encoded part must be at least 32 hex digits".to_owned(),
        ));
    }
    crate::digest::parse_digest(digest).map_err(invalid)
}

pub(crate) fn algorithm_supported(algorithm: &DigestAlgorithm) -> bool {
    matches!(
        algorithm,
        DigestAlgorithm::Sha256 | DigestAlgorithm::Sha384 | DigestAlgorithm::Sha512
    )
}

#[cfg(test)]
mod tests {
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
}
