//! The crate's error type, its errdefs-style [`ErrorKind`], and the registry's own error
//! bodies (`{"errors":[{"code":"MANIFEST_UNKNOWN",...}]}`).

use std::fmt;
use std::io;
use std::path::PathBuf;

use oci_spec::image::Digest;

use crate::platform::Platform;

/// Broad categories of failure, for callers that branch on what happened rather than on
/// the exact variant (exit codes, retries, messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller gave something unusable: a bad reference, platform or credentials entry.
    InvalidInput,
    /// The registry has no such repository, tag, manifest or blob, or no matching platform.
    NotFound,
    /// Authentication failed or access was denied.
    Unauthorized,
    /// The registry could not be reached or the connection failed (after retries).
    Unreachable,
    /// The registry answered with a server error or "too many requests" (after retries).
    Unavailable,
    /// Content did not match its digest or size.
    Integrity,
    /// A media type, schema or digest algorithm this client does not support.
    Unsupported,
    /// Content over a size limit (manifests over 4 MiB, small blobs over their cap).
    TooLarge,
    /// The registry sent data that does not parse (manifests, tokens, error bodies).
    Malformed,
    /// A local I/O failure (docker `config.json`, data to upload).
    Io,
    /// The registry broke the protocol (unexpected status, missing headers, bad redirects).
    Protocol,
}

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

/// An error code of the OCI distribution spec, as found in registry error bodies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`
    BlobUploadUnknown,
    /// `DIGEST_INVALID`
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`
    ManifestUnknown,
    /// `MANIFEST_UNVERIFIED`
    ManifestUnverified,
    /// `NAME_INVALID`
    NameInvalid,
    /// `NAME_UNKNOWN`
    NameUnknown,
    /// `SIZE_INVALID`
    SizeInvalid,
    /// `TAG_INVALID`
    TagInvalid,
    /// `UNAUTHORIZED`
    Unauthorized,
    /// `DENIED`
    Denied,
    /// `UNSUPPORTED`
    Unsupported,
    /// `TOOMANYREQUESTS`
    TooManyRequests,
    /// Any other code, verbatim.
    Other(String),
}

impl ErrorCode {
    /// The code as the registry spells it, e.g. `MANIFEST_UNKNOWN`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::ManifestUnverified => "MANIFEST_UNVERIFIED",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::TagInvalid => "TAG_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TooManyRequests => "TOOMANYREQUESTS",
            Self::Other(s) => s,
        }
    }

    fn from_code(s: &str) -> Self {
        match s {
            "BLOB_UNKNOWN" => Self::BlobUnknown,
            "BLOB_UPLOAD_INVALID" => Self::BlobUploadInvalid,
            "BLOB_UPLOAD_UNKNOWN" => Self::BlobUploadUnknown,
            "DIGEST_INVALID" => Self::DigestInvalid,
            "MANIFEST_BLOB_UNKNOWN" => Self::ManifestBlobUnknown,
            "MANIFEST_INVALID" => Self::ManifestInvalid,
            "MANIFEST_UNKNOWN" => Self::ManifestUnknown,
            "MANIFEST_UNVERIFIED" => Self::ManifestUnverified,
            "NAME_INVALID" => Self::NameInvalid,
            "NAME_UNKNOWN" => Self::NameUnknown,
            "SIZE_INVALID" => Self::SizeInvalid,
            "TAG_INVALID" => Self::TagInvalid,
            "UNAUTHORIZED" => Self::Unauthorized,
            "DENIED" => Self::Denied,
            "UNSUPPORTED" => Self::Unsupported,
            "TOOMANYREQUESTS" => Self::TooManyRequests,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Docker's rendering of a code: lowercase with spaces (`manifest unknown`).
    pub fn description(&self) -> String {
        self.as_str().to_ascii_lowercase().replace('_', " ")
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a registry error body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryErrorEntry {
    /// The error code.
    pub code: ErrorCode,
    /// The registry's message.
    pub message: String,
    /// The registry's `detail`, if any, as raw JSON.
    pub detail: Option<serde_json::Value>,
}

impl RegistryErrorEntry {
    /// An entry with `code` and `message` and no detail.
    pub fn new(code: ErrorCode, message: &str) -> Self {
        Self {
            code,
            message: message.to_owned(),
            detail: None,
        }
    }
}

impl fmt::Display for RegistryErrorEntry {
    /// Docker's format: `manifest unknown: manifest unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.code.description())
        } else {
            write!(f, "{}: {}", self.code.description(), self.message)
        }
    }
}

/// The errors a registry reported in a response body (possibly none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryErrors(pub Vec<RegistryErrorEntry>);

impl RegistryErrors {
    /// Parses a registry error body; anything that is not one gives no entries.
    pub fn parse(body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            errors: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            detail: Option<serde_json::Value>,
        }
        let Ok(body) = serde_json::from_slice::<Body>(body) else {
            return Self::default();
        };
        Self(
            body.errors
                .into_iter()
                .filter(|e| !e.code.is_empty())
                .map(|e| RegistryErrorEntry {
                    code: ErrorCode::from_code(&e.code),
                    message: e.message,
                    detail: e.detail.filter(|d| !d.is_null()),
                })
                .collect(),
        )
    }

    /// Whether the registry reported `code`.
    pub fn has(&self, code: &ErrorCode) -> bool {
        self.0.iter().any(|e| &e.code == code)
    }

    /// Whether no entries were reported.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The codes reported, in order.
    pub fn codes(&self) -> impl Iterator<Item = &ErrorCode> {
        self.0.iter().map(|e| &e.code)
    }

    /// These errors, or a single `code: message` entry when there are none (for responses
    /// without an error body, such as HEAD requests).
    pub fn or_entry(self, code: ErrorCode, message: &str) -> Self {
        if self.0.is_empty() {
            Self(vec![RegistryErrorEntry::new(code, message)])
        } else {
            self
        }
    }
}

impl fmt::Display for RegistryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// What a denied request was trying to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reading (pull).
    Pull,
    /// Writing (push).
    Push,
}

/// Everything that can go wrong in this crate. [`Error::kind`] gives the category.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference or platform did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),

    /// The registry does not know the tag or digest (`MANIFEST_UNKNOWN`).
    #[error("manifest for {reference} not found: {errors}")]
    ManifestUnknown {
        /// The reference, in docker's familiar form.
        reference: String,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// The registry does not know the repository (`NAME_UNKNOWN`).
    #[error("repository {repository} not found: {errors}")]
    RepositoryUnknown {
        /// The repository, in docker's familiar form.
        repository: String,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// The registry does not have the blob (`BLOB_UNKNOWN`).
    #[error("blob {digest} not found in {repository}: {errors}")]
    BlobUnknown {
        /// The repository, in docker's familiar form.
        repository: String,
        /// The blob.
        digest: Digest,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// Access to a repository was refused (401/403 after authenticating as well as we
    /// could).
    #[error("{}", access_denied_message(*access, repository, errors))]
    AccessDenied {
        /// The repository, in docker's familiar form.
        repository: String,
        /// What was attempted.
        access: Access,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// The registry refused our credentials (or anonymous access) outside of any
    /// repository, e.g. when verifying a login.
    #[error("unauthorized to access {host}: {errors}")]
    Unauthorized {
        /// The registry.
        host: String,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// The token endpoint refused to issue a token.
    #[error("token request to {realm} failed with HTTP {status}: {message}")]
    TokenDenied {
        /// The token endpoint.
        realm: String,
        /// The HTTP status it answered.
        status: u16,
        /// Its message (registry errors or body excerpt).
        message: String,
    },

    /// The token endpoint answered something that is not a token.
    #[error("malformed token response from {realm}: {reason}")]
    MalformedToken {
        /// The token endpoint.
        realm: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `WWW-Authenticate` challenge we cannot use.
    #[error("registry {host} sent an unusable authentication challenge {challenge:?}")]
    InvalidChallenge {
        /// The registry.
        host: String,
        /// The header value.
        challenge: String,
    },

    /// Any other error status from the registry.
    #[error("{method} {url}: {}", status_message(*status, errors))]
    Registry {
        /// The HTTP method.
        method: String,
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// The registry could not be reached, or the connection failed, after retries.
    #[error("cannot reach registry {host}: {source}")]
    Unreachable {
        /// The registry (or redirect target) host.
        host: String,
        /// The transport error.
        #[source]
        source: Box<ureq::Error>,
    },

    /// A response body could not be read, after retries.
    #[error("reading {url}: {source}")]
    Transfer {
        /// The URL being read.
        url: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Content did not hash to its digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest that was asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },

    /// A blob had the wrong size.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The size of the descriptor.
        expected: u64,
        /// The size that arrived (a lower bound when the server sent too much).
        actual: u64,
    },

    /// A manifest over the size limit (4 MiB by default).
    #[error("manifest for {reference} is larger than the {limit}-byte limit")]
    ManifestTooLarge {
        /// The reference, in docker's familiar form.
        reference: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// A blob fetched into memory is over the caller's cap.
    #[error("blob {digest} of {size} bytes is larger than the {limit}-byte limit")]
    BlobTooLarge {
        /// The blob.
        digest: Digest,
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },

    /// A manifest or index that does not parse.
    #[error("malformed manifest for {reference} ({media_type}): {source}")]
    MalformedManifest {
        /// The reference, in docker's familiar form.
        reference: String,
        /// Its media type.
        media_type: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A manifest media type we do not handle.
    #[error(
        "unsupported manifest media type {media_type} for {reference}{}",
        schema1_hint(media_type)
    )]
    UnsupportedMediaType {
        /// The reference, in docker's familiar form.
        reference: String,
        /// The media type.
        media_type: String,
    },

    /// A digest algorithm we cannot verify.
    #[error("unsupported digest algorithm {algorithm}")]
    UnsupportedDigest {
        /// The algorithm.
        algorithm: String,
    },

    /// No entry of an image index matches the wanted platform.
    #[error(
        "no matching manifest for {wanted} in the manifest list entries of {reference} (available: {})",
        list_platforms(available)
    )]
    NoMatchingPlatform {
        /// The reference, in docker's familiar form.
        reference: String,
        /// The platform asked for.
        wanted: Platform,
        /// The platforms the index offers.
        available: Vec<Platform>,
    },

    /// The registry broke the protocol.
    #[error("{method} {url}: unexpected response: {reason}")]
    Protocol {
        /// The HTTP method.
        method: String,
        /// The URL.
        url: String,
        /// What was wrong.
        reason: String,
    },

    /// Too many redirects.
    #[error("too many redirects starting at {url}")]
    TooManyRedirects {
        /// The first URL.
        url: String,
    },

    /// Reading docker's `config.json` failed.
    #[error("reading {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Writing docker's `config.json` failed.
    #[error("writing {path}: {source}")]
    ConfigWrite {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Docker's `config.json` does not parse.
    #[error("{path} is not a valid docker config file: {source}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// An `auths` entry of `config.json` is unusable.
    #[error("invalid credentials for {server} in {path}: {reason}")]
    InvalidAuthEntry {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        server: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// No usable location for docker's `config.json` (neither `DOCKER_CONFIG` nor `HOME`).
    #[error("cannot locate the docker config file: neither DOCKER_CONFIG nor HOME is set")]
    NoConfigDir,

    /// A local I/O failure, such as reading data to upload.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// A URL or request could not be built (an invalid registry host, for instance).
    #[error("invalid request URL {url}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

fn access_denied_message(access: Access, repository: &str, errors: &RegistryErrors) -> String {
    let mut s = match access {
        Access::Pull => format!(
            "pull access denied for {repository}, repository does not exist or may require 'docker login'"
        ),
        Access::Push => format!("push access to {repository} denied"),
    };
    if !errors.is_empty() {
        s.push_str(": ");
        s.push_str(&errors.to_string());
    }
    s
}

fn status_message(status: u16, errors: &RegistryErrors) -> String {
    if errors.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {errors}")
    }
}

fn schema1_hint(media_type: &str) -> &'static str {
    if media_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        " (Docker image manifest v2 schema 1 is obsolete and not supported)"
    } else {
        ""
    }
}

fn list_platforms(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return "none".to_owned();
    }
    platforms
        .iter()
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        404 => ErrorKind::NotFound,
        400 | 405 | 416 => ErrorKind::InvalidInput,
        413 => ErrorKind::TooLarge,
        415 => ErrorKind::Unsupported,
        429 | 500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Protocol,
    }
}

impl Error {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Parse(_) | Self::InvalidAuthEntry { .. } | Self::InvalidUrl { .. } => {
                ErrorKind::InvalidInput
            }
            Self::ConfigParse { .. } | Self::NoConfigDir => ErrorKind::InvalidInput,
            Self::ManifestUnknown { .. }
            | Self::RepositoryUnknown { .. }
            | Self::BlobUnknown { .. }
            | Self::NoMatchingPlatform { .. } => ErrorKind::NotFound,
            Self::AccessDenied { .. } | Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::TokenDenied { status, .. } => match kind_of_status(*status) {
                ErrorKind::Unavailable => ErrorKind::Unavailable,
                _ => ErrorKind::Unauthorized,
            },
            Self::MalformedToken { .. } | Self::MalformedManifest { .. } => ErrorKind::Malformed,
            Self::InvalidChallenge { .. }
            | Self::Protocol { .. }
            | Self::TooManyRedirects { .. } => ErrorKind::Protocol,
            Self::Registry { status, .. } => kind_of_status(*status),
            Self::Unreachable { .. } | Self::Transfer { .. } => ErrorKind::Unreachable,
            Self::DigestMismatch { .. } | Self::SizeMismatch { .. } => ErrorKind::Integrity,
            Self::ManifestTooLarge { .. } | Self::BlobTooLarge { .. } => ErrorKind::TooLarge,
            Self::UnsupportedMediaType { .. } | Self::UnsupportedDigest { .. } => {
                ErrorKind::Unsupported
            }
            Self::ConfigRead { .. } | Self::ConfigWrite { .. } | Self::Io { .. } => ErrorKind::Io,
        }
    }

    /// The errors the registry reported, if this error carries a registry response.
    pub fn registry_errors(&self) -> Option<&RegistryErrors> {
        match self {
            Self::ManifestUnknown { errors, .. }
            | Self::RepositoryUnknown { errors, .. }
            | Self::BlobUnknown { errors, .. }
            | Self::AccessDenied { errors, .. }
            | Self::Unauthorized { errors, .. }
            | Self::Registry { errors, .. } => Some(errors),
            _ => None,
        }
    }

    /// Whether the registry reported `code` (e.g. [`ErrorCode::ManifestUnknown`]).
    pub fn has_code(&self, code: &ErrorCode) -> bool {
        self.registry_errors().is_some_and(|e| e.has(code))
    }

    /// Recovers an [`Error`] from an I/O error produced by a [`crate::BlobReader`] (or
    /// wraps any other I/O error with `context`).
    pub fn from_io(err: io::Error, context: &str) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            if let Some(inner) = err.into_inner() {
                if let Ok(e) = inner.downcast::<Error>() {
                    return *e;
                }
            }
            // Unreachable in practice: the check above saw an `Error` inside.
            return Self::Io {
                context: context.to_owned(),
                source: io::Error::other("lost inner registry error"),
            };
        }
        Self::Io {
            context: context.to_owned(),
            source: err,
        }
    }

    /// Wraps this error into an [`io::Error`] (for [`std::io::Read`] implementations),
    /// with an I/O kind matching [`Error::kind`]. [`Error::from_io`] undoes it.
    pub fn into_io(self) -> io::Error {
        let kind = match self.kind() {
            ErrorKind::Integrity | ErrorKind::Malformed | ErrorKind::TooLarge => {
                io::ErrorKind::InvalidData
            }
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::Unauthorized => io::ErrorKind::PermissionDenied,
            ErrorKind::Unreachable => io::ErrorKind::ConnectionAborted,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_error_bodies() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        let errors = RegistryErrors::parse(body);
        assert!(errors.has(&ErrorCode::ManifestUnknown));
        assert_eq!(errors.to_string(), "manifest unknown: manifest unknown");
        assert!(errors.0[0].detail.is_some());

        let two = br#"{"errors":[{"code":"DENIED","message":"no"},{"code":"WEIRD_THING","message":"m"}]}"#;
        let errors = RegistryErrors::parse(two);
        assert_eq!(errors.to_string(), "denied: no; weird thing: m");
        assert_eq!(errors.0[1].code, ErrorCode::Other("WEIRD_THING".into()));

        assert!(RegistryErrors::parse(b"<html>").is_empty());
        assert!(RegistryErrors::parse(b"{}").is_empty());
    }

    #[test]
    fn docker_like_messages() {
        let e = Error::ManifestUnknown {
            reference: "ubuntu:nope".into(),
            errors: RegistryErrors::default()
                .or_entry(ErrorCode::ManifestUnknown, "manifest unknown"),
        };
        assert_eq!(
            e.to_string(),
            "manifest for ubuntu:nope not found: manifest unknown: manifest unknown"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.has_code(&ErrorCode::ManifestUnknown));

        let e = Error::AccessDenied {
            repository: "x".into(),
            access: Access::Pull,
            errors: RegistryErrors::default(),
        };
        assert_eq!(
            e.to_string(),
            "pull access denied for x, repository does not exist or may require 'docker login'"
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
    }

    #[test]
    fn io_round_trip_keeps_the_error() {
        let d = crate::sha256_digest(b"");
        let e = Error::SizeMismatch {
            digest: d,
            expected: 1,
            actual: 2,
        };
        let io = e.into_io();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
        let back = Error::from_io(io, "ctx");
        assert!(matches!(back, Error::SizeMismatch { expected: 1, .. }));

        let other = Error::from_io(io::Error::other("boom"), "reading layer");
        assert_eq!(other.kind(), ErrorKind::Io);
        assert_eq!(other.to_string(), "reading layer: boom");
    }
}
