//! Content digests: computing and verifying them.
//!
//! The digest type itself is `oci_spec::image::Digest` (re-exported as [`Digest`]), the
//! vocabulary shared with the store. This module adds hashing and verification for the
//! algorithms the OCI spec registers (sha256, sha384, sha512).

use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::Digest as _;

use crate::error::Error;

/// Parses a digest string and checks that its algorithm is one we can verify.
pub(crate) fn parse_digest(s: &str) -> Result<Digest, String> {
    let digest: Digest = s.parse().map_err(|e: oci_spec::OciSpecError| {
        let msg = e.to_string();
        msg.strip_prefix("other error: ")
            .map_or(msg.clone(), str::to_owned)
    })?;
    if !crate::reference::algorithm_supported(digest.algorithm()) {
        return Err(format!(
            "unsupported digest algorithm {}",
            digest.algorithm()
        ));
    }
    Ok(digest)
}

/// The sha256 digest of `bytes`.
///
/// ```
/// let d = registry::sha256_digest(b"");
/// assert_eq!(d.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// ```
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    let mut h = DigestHasher::sha256();
    h.update(bytes);
    h.finish()
}

/// Checks that `bytes` have the digest `expected`.
///
/// # Errors
/// [`Error::DigestMismatch`] when they do not, [`Error::UnsupportedDigest`] when the
/// algorithm is not one of sha256, sha384, sha512.
pub fn verify_digest(expected: &Digest, bytes: &[u8]) -> Result<(), Error> {
    let mut h = DigestHasher::new(expected.algorithm())?;
    h.update(bytes);
    let actual = h.finish();
    if &actual == expected {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            expected: expected.clone(),
            actual,
        })
    }
}

/// An incremental hasher producing an OCI [`Digest`].
#[derive(Clone)]
pub struct DigestHasher {
    inner: HasherInner,
}

#[derive(Clone)]
enum HasherInner {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl std::fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let alg = match self.inner {
            HasherInner::Sha256(_) => "sha256",
            HasherInner::Sha384(_) => "sha384",
            HasherInner::Sha512(_) => "sha512",
        };
        f.debug_struct("DigestHasher")
            .field("algorithm", &alg)
            .finish()
    }
}

impl DigestHasher {
    /// A sha256 hasher.
    pub fn sha256() -> Self {
        Self {
            inner: HasherInner::Sha256(sha2::Sha256::new()),
        }
    }

    /// A hasher for `algorithm`.
    ///
    /// # Errors
    /// [`Error::UnsupportedDigest`] for algorithms other than sha256, sha384 and sha512.
    pub fn new(algorithm: &DigestAlgorithm) -> Result<Self, Error> {
        let inner = match algorithm {
            DigestAlgorithm::Sha256 => HasherInner::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha384 => HasherInner::Sha384(sha2::Sha384::new()),
            DigestAlgorithm::Sha512 => HasherInner::Sha512(sha2::Sha512::new()),
            other => {
                return Err(Error::UnsupportedDigest {
                    algorithm: other.to_string(),
                });
            }
        };
        Ok(Self { inner })
    }

    /// Feeds `bytes` to the hash.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.inner {
            HasherInner::Sha256(h) => h.update(bytes),
            HasherInner::Sha384(h) => h.update(bytes),
            HasherInner::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (alg, hex) = match self.inner {
            HasherInner::Sha256(h) => ("sha256", hex::encode(h.finalize())),
            HasherInner::Sha384(h) => ("sha384", hex::encode(h.finalize())),
            HasherInner::Sha512(h) => ("sha512", hex::encode(h.finalize())),
        };
        #[allow(clippy::expect_used)]
        format!("{alg}:{hex}")
            .parse()
            .expect("a sha2 hex encoding is a valid OCI digest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        assert_eq!(
            sha256_digest(b"abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut h = DigestHasher::new(&DigestAlgorithm::Sha512).unwrap();
        h.update(b"a");
        h.update(b"bc");
        assert!(
            h.finish()
                .to_string()
                .starts_with("sha512:ddaf35a193617aba")
        );
    }

    #[test]
    fn verify() {
        let d = sha256_digest(b"hello");
        verify_digest(&d, b"hello").unwrap();
        let err = verify_digest(&d, b"hellO").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Integrity);
        let other: Digest = "md5+x:0123456789abcdef0123456789abcdef".parse().unwrap();
        assert_eq!(
            verify_digest(&other, b"").unwrap_err().kind(),
            crate::ErrorKind::Unsupported
        );
    }

    #[test]
    fn parse_checks_algorithm_and_hex() {
        assert!(parse_digest(sha256_digest(b"").as_ref()).is_ok());
        assert!(parse_digest("sha256:abcd").unwrap_err().contains("length"));
        assert!(
            parse_digest("foo:0123456789abcdef0123456789abcdef")
                .unwrap_err()
                .contains("unsupported digest algorithm")
        );
    }
}
