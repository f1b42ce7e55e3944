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

/// Errors of the reference and platform parsers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The reference is the empty string.
    #[error("invalid reference format: empty reference")]
    EmptyReference,
    /// A bare 64-hex-digit string, which docker refuses as ambiguous with image IDs.
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier {
        /// The input.
        input: String,
    },
    /// The repository has uppercase letters.
    #[error("invalid reference format: repository name ({repository}) must be lowercase")]
    UppercaseRepository {
        /// The normalised repository path.
        repository: String,
    },
    /// Registry and repository together are over 255 characters.
    #[error(
        "invalid reference format: repository name must not be more than 255 characters ({len} in {name})"
    )]
    NameTooLong {
        /// The full name.
        name: String,
        /// Its length.
        len: usize,
    },
    /// A repository path component breaks the grammar.
    #[error(
        "invalid reference format: invalid repository name component {component:?} in {reference:?} (lowercase letters and digits, separated by '.', '_', '__' or dashes)"
    )]
    InvalidRepository {
        /// The input.
        reference: String,
        /// The offending component.
        component: String,
    },
    /// The registry part (`host[:port]`) is invalid.
    #[error("invalid reference format: invalid registry {registry:?} in {reference:?}: {reason}")]
    InvalidRegistry {
        /// The input.
        reference: String,
        /// The registry part.
        registry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid reference format: invalid tag {tag:?} in {reference:?} (letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128)"
    )]
    InvalidTag {
        /// The input.
        reference: String,
        /// The tag.
        tag: String,
    },
    /// The digest is malformed or uses an unsupported algorithm.
    #[error("invalid reference format: invalid digest {digest:?} in {input:?}: {reason}")]
    InvalidDigest {
        /// The input.
        input: String,
        /// The digest part.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A platform string that is not `os/arch[/variant]`.
    #[error("invalid platform {input:?}: {reason}")]
    InvalidPlatform {
        /// The input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

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
mod tests;
