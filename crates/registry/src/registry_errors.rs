//! The registry's own error bodies, as the OCI distribution spec defines them:
//! `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{...}}]}`.
//! Docker prints them lowercased (`manifest unknown: manifest unknown`), and so do these
//! types' `Display`s.

use std::fmt;

/// A registry error body as sent. Anything missing defaults, so partial bodies still
/// give what they have.
#[derive(serde::Deserialize)]
struct WireBody {
    #[serde(default)]
    errors: Vec<WireEntry>,
}

/// One entry of [`WireBody`].
#[derive(serde::Deserialize)]
struct WireEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<serde_json::Value>,
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
        let Ok(body) = serde_json::from_slice::<WireBody>(body) else {
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
}
