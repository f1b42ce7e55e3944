//! Streamed, verified blob download with bounded retries and `Range` resume.

use std::io::{self, Read};

use oci_spec::image::{Descriptor, Digest};
use ureq::http::{Method, header};

use crate::client::{
    Client, Request, Target, header_str, is_transient_io, read_errors, status_error,
};
use crate::digest::DigestHasher;
use crate::error::{Access, Error};
use crate::reference::Reference;
use crate::registry_errors::ErrorCode;

/// A blob being downloaded: an [`io::Read`] that streams the bytes (never holding more
/// than a read buffer), hashes them on the way, and fails **at the end of the stream**
/// if the size or digest is wrong. A consumer that streams it into a decompressor and
/// unpacker must only commit its result after reading a clean EOF (`Ok(0)`).
///
/// Transient failures (connection reset or stalled, HTTP 5xx, a body cut short) are
/// retried up to [`crate::ClientConfig::max_retries`] times in total, resuming with
/// `Range: bytes=N-` when the server answers `206 Partial Content`, else downloading
/// again and discarding the first N bytes.
///
/// Errors come out as [`io::Error`]s wrapping an [`Error`]; recover it with
/// [`Error::from_io`].
pub struct BlobReader {
    client: Client,
    target: Target,
    reference: Reference,
    url: String,
    digest: Digest,
    size: u64,
    body: Option<ureq::BodyReader<'static>>,
    hasher: Option<DigestHasher>,
    received: u64,
    discard: u64,
    retries_left: u32,
    resumes: u32,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Streaming,
    Done,
    Failed,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("url", &self.url)
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("received", &self.received)
            .field("resumes", &self.resumes)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl BlobReader {
    /// The digest being downloaded.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The expected size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes delivered so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// How many times the download was restarted after a transient failure.
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    /// Whether the whole blob was read and verified.
    pub fn is_verified(&self) -> bool {
        self.state == State::Done
    }

    /// (Re)opens the connection at the current offset.
    fn open(&mut self) -> Result<(), Error> {
        let mut req = Request::new(Method::GET, self.url.clone());
        if self.received > 0 {
            req = req.header(header::RANGE, format!("bytes={}-", self.received));
        }
        let mut resp = self.client.execute(&self.target, &mut req)?;
        let status = resp.status().as_u16();
        match status {
            200 => {
                // A full body: skip what we already have.
                self.discard = self.received;
            }
            206 if self.received > 0 => {
                let start =
                    header_str(resp.headers(), "content-range").and_then(content_range_start);
                if start != Some(self.received) {
                    return Err(Error::Protocol {
                        method: "GET".to_owned(),
                        url: self.url.clone(),
                        reason: format!(
                            "asked for bytes from {} but got Content-Range {:?}",
                            self.received,
                            header_str(resp.headers(), "content-range")
                        ),
                    });
                }
                self.discard = 0;
            }
            404 => {
                let errors = read_errors(&mut resp);
                return Err(Error::BlobUnknown {
                    repository: self.reference.familiar(),
                    digest: self.digest.clone(),
                    errors: errors.or_entry(ErrorCode::BlobUnknown, "blob unknown to registry"),
                });
            }
            401 | 403 => {
                let errors = read_errors(&mut resp);
                return Err(Error::AccessDenied {
                    repository: self.reference.familiar(),
                    access: Access::Pull,
                    errors,
                });
            }
            _ => return Err(status_error(&Method::GET, &self.url, &mut resp)),
        }
        self.body = Some(resp.into_body().into_reader());
        Ok(())
    }

    /// Handles a transient failure: drops the connection and, if retries remain, waits
    /// and reopens at the current offset.
    fn recover(&mut self, cause: Error) -> Result<(), Error> {
        self.body = None;
        if self.retries_left == 0 {
            return Err(cause);
        }
        let attempt = self.client.config().max_retries - self.retries_left;
        self.retries_left -= 1;
        self.resumes += 1;
        self.client.backoff(attempt);
        match self.open() {
            Ok(()) => Ok(()),
            Err(e) if crate::client::is_transient(&e) => self.recover(e),
            Err(e) => Err(e),
        }
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.received != self.size {
            return Err(Error::SizeMismatch {
                digest: self.digest.clone(),
                expected: self.size,
                actual: self.received,
            });
        }
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let actual = hasher.finish();
        if actual != self.digest {
            return Err(Error::DigestMismatch {
                expected: self.digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            let Some(body) = self.body.as_mut() else {
                // The connection was dropped after an error that was then retried away,
                // or never opened: open it now.
                self.open()?;
                continue;
            };
            let n = match body.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_transient_io(&e) => {
                    let cause = Error::Transfer {
                        url: self.url.clone(),
                        source: e,
                    };
                    self.recover(cause)?;
                    continue;
                }
                Err(e) => {
                    return Err(Error::Transfer {
                        url: self.url.clone(),
                        source: e,
                    });
                }
            };
            if n == 0 {
                if self.received < self.size {
                    // The server ended the body early (without a Content-Length it cannot
                    // tell us otherwise): treat it as a dropped connection.
                    let cause = Error::SizeMismatch {
                        digest: self.digest.clone(),
                        expected: self.size,
                        actual: self.received,
                    };
                    self.recover(cause)?;
                    continue;
                }
                self.body = None;
                self.finish()?;
                return Ok(0);
            }
            let skip = self.discard.min(n as u64) as usize;
            self.discard -= skip as u64;
            if skip == n {
                continue;
            }
            let data_len = n - skip;
            if self.received + data_len as u64 > self.size {
                return Err(Error::SizeMismatch {
                    digest: self.digest.clone(),
                    expected: self.size,
                    actual: self.received + data_len as u64,
                });
            }
            if skip > 0 {
                buf.copy_within(skip..n, 0);
            }
            if let Some(h) = self.hasher.as_mut() {
                h.update(&buf[..data_len]);
            }
            self.received += data_len as u64;
            return Ok(data_len);
        }
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            State::Done => return Ok(0),
            State::Failed => {
                return Err(io::Error::other(format!(
                    "blob {} download already failed",
                    self.digest
                )));
            }
            State::Streaming => {}
        }
        if buf.is_empty() {
            return Ok(0);
        }
        match self.read_inner(buf) {
            Ok(0) => {
                self.state = State::Done;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                self.state = State::Failed;
                self.body = None;
                Err(e.into_io())
            }
        }
    }
}

/// The first byte position of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, _) = rest.split_once('/').unwrap_or((rest, ""));
    let (start, _) = range.split_once('-')?;
    start.trim().parse().ok()
}

impl Client {
    /// Starts downloading the blob of `descriptor` from `reference`'s repository. The
    /// request is sent now, so a missing blob or refused access is reported here.
    ///
    /// # Errors
    /// [`Error::BlobUnknown`], [`Error::AccessDenied`], [`Error::UnsupportedDigest`],
    /// and transport errors after retries.
    pub fn open_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<BlobReader, Error> {
        let digest = descriptor.digest().clone();
        let hasher = DigestHasher::new(digest.algorithm())?;
        let url = format!(
            "{}{}/blobs/{}",
            self.base_url(reference.api_host()),
            reference.repository(),
            digest
        );
        let mut reader = BlobReader {
            client: self.clone(),
            target: self.pull_target(reference),
            reference: reference.clone(),
            url,
            digest,
            size: descriptor.size(),
            body: None,
            hasher: Some(hasher),
            received: 0,
            discard: 0,
            retries_left: self.config().max_retries,
            resumes: 0,
            state: State::Streaming,
        };
        reader.open()?;
        Ok(reader)
    }

    /// Downloads a small blob (an image config, say) into memory, verified.
    ///
    /// # Errors
    /// [`Error::BlobTooLarge`] when the descriptor's size is over `limit`, and the errors
    /// of [`Client::open_blob`] and of reading a [`BlobReader`].
    pub fn fetch_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, Error> {
        if descriptor.size() > limit {
            return Err(Error::BlobTooLarge {
                digest: descriptor.digest().clone(),
                size: descriptor.size(),
                limit,
            });
        }
        let mut reader = self.open_blob(reference, descriptor)?;
        let mut out = Vec::with_capacity(descriptor.size() as usize);
        reader
            .read_to_end(&mut out)
            .map_err(|e| Error::from_io(e, "reading blob"))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/*"), Some(0));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
    }
}
