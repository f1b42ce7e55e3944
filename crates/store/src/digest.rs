//! sha256 digests: parsing checks, hashing writers and verifying readers.

use std::io::{self, Read, Write};

use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Returns the hex part of a sha256 digest, or an error for any other algorithm.
pub fn sha256_hex(d: &Digest) -> Result<&str> {
    match d.algorithm() {
        DigestAlgorithm::Sha256 => Ok(d.digest()),
        _ => Err(Error::UnsupportedDigest {
            digest: d.to_string(),
        }),
    }
}

/// Parses `sha256:<64 hex>` into a [`Digest`].
pub fn parse_sha256(s: &str) -> Result<Digest> {
    let d: Digest = s.parse().map_err(|_| Error::UnsupportedDigest {
        digest: s.to_string(),
    })?;
    sha256_hex(&d)?;
    Ok(d)
}

/// The sha256 digest of `data`.
pub fn sha256_of(data: &[u8]) -> Digest {
    digest_from_hasher(Sha256::new_with_prefix(data))
}

pub(crate) fn digest_from_hasher(h: Sha256) -> Digest {
    let hex = hex::encode(h.finalize());
    // Invariant: 64 lowercase hex characters after `sha256:` always form a valid digest.
    #[allow(clippy::expect_used)]
    Digest::try_from(format!("sha256:{hex}")).expect("sha256 hex output is a valid digest")
}

/// A reader that hashes what passes through and, at end of stream, fails with
/// `io::ErrorKind::InvalidData` when the content does not match the expected digest.
///
/// Wrap a decompressed layer stream in it to verify the diff ID while unpacking.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: Digest,
    count: u64,
    verified: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, expecting its content to hash to `expected` (sha256).
    pub fn new(inner: R, expected: Digest) -> Result<Self> {
        sha256_hex(&expected)?;
        Ok(VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected,
            count: 0,
            verified: false,
        })
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether end of stream was reached and the digest matched.
    pub fn verified(&self) -> bool {
        self.verified
    }

    /// Reads (and hashes) everything left, then checks the digest.
    pub fn finish(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink())?;
        Ok(())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if buf.is_empty() || self.verified {
                return Ok(0);
            }
            let actual = digest_from_hasher(self.hasher.clone());
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    DigestMismatchIo {
                        expected: self.expected.to_string(),
                        actual: actual.to_string(),
                    },
                ));
            }
            self.verified = true;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// The payload of the `io::Error` a [`VerifyingReader`] returns on mismatch.
#[derive(Debug, thiserror::Error)]
#[error("digest mismatch: expected {expected}, got {actual}")]
pub struct DigestMismatchIo {
    /// Expected digest.
    pub expected: String,
    /// Computed digest.
    pub actual: String,
}

/// A writer adapter that hashes everything written through it.
#[derive(Debug)]
pub(crate) struct HashingWriter<W> {
    pub(crate) inner: W,
    pub(crate) hasher: Sha256,
    pub(crate) count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_reader_accepts_match_and_rejects_mismatch() {
        let good = sha256_of(b"hello");
        let mut r = VerifyingReader::new(&b"hello"[..], good).unwrap();
        r.finish().unwrap();
        assert!(r.verified());
        let bad = sha256_of(b"other");
        let mut r = VerifyingReader::new(&b"hello"[..], bad).unwrap();
        let e = r.finish().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(!r.verified());
    }

    #[test]
    fn only_sha256_is_accepted() {
        let d: Digest = format!("sha512:{}", "a".repeat(128)).parse().unwrap();
        assert!(sha256_hex(&d).is_err());
        assert!(parse_sha256("sha256:abc").is_err());
        assert_eq!(
            sha256_of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
