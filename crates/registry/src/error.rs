//! The crate's error type and its errdefs-style [`ErrorKind`]. What a registry said is
//! modelled in `registry_errors`; references and platforms report [`ParseError`]s
//! (defined with the reference grammar).

use std::io;
use std::path::PathBuf;

use oci_spec::image::Digest;

use crate::platform::Platform;
use crate::reference::ParseError;
use crate::registry_errors::{ErrorCode, RegistryErrors};

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
