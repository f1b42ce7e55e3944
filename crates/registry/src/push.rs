//! Push: blob existence checks, monolithic and chunked blob uploads, cross-repository
//! mounts, and manifest upload.

use std::io::{self, Read};

use oci_spec::image::Digest;
use ureq::http::{Method, Response, header};

use crate::auth::{Credentials, Scope};
use crate::client::{
    Body, Client, Request, Target, header_str, read_errors, resolve_location, status_error,
};
use crate::digest::{DigestHasher, sha256_digest};
use crate::error::{Access, Error};
use crate::reference::{Reference, api_host};
use crate::registry_errors::ErrorCode;

/// A reader that hashes and counts what passes through it.
struct Hashing<'a> {
    inner: &'a mut dyn Read,
    hasher: DigestHasher,
    count: u64,
}

impl Read for Hashing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Passes on exactly `remaining` bytes, failing if the source ends sooner (an HTTP body
/// with a Content-Length must not end early; ureq would wait for the missing bytes).
struct Exact<R> {
    inner: R,
    remaining: u64,
    ended_early: bool,
}

impl<R> Exact<R> {
    fn new(inner: R, remaining: u64) -> Self {
        Self {
            inner,
            remaining,
            ended_early: false,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.ended_early = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the data ended {} bytes early", self.remaining),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

impl Client {
    fn push_target(&self, reference: &Reference) -> Target {
        Target {
            registry: reference.registry().to_owned(),
            host: reference.api_host().to_owned(),
            scopes: vec![Scope::push(reference.repository())],
            credentials: None,
        }
    }

    fn repo_url(&self, reference: &Reference) -> String {
        format!(
            "{}{}",
            self.base_url(reference.api_host()),
            reference.repository()
        )
    }

    fn denied(&self, reference: &Reference, resp: &mut Response<ureq::Body>) -> Error {
        Error::AccessDenied {
            repository: reference.familiar(),
            access: Access::Push,
            errors: read_errors(resp),
        }
    }

    /// Whether `reference`'s repository has the blob `digest` (`HEAD .../blobs/DIGEST`).
    ///
    /// # Errors
    /// [`Error::AccessDenied`] and transport or unexpected-status errors.
    pub fn blob_exists(&self, reference: &Reference, digest: &Digest) -> Result<bool, Error> {
        let url = format!("{}/blobs/{digest}", self.repo_url(reference));
        let mut req = Request::new(Method::HEAD, url.clone());
        let mut resp = self.execute(&self.push_target(reference), &mut req)?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            401 | 403 => Err(self.denied(reference, &mut resp)),
            _ => Err(status_error(&Method::HEAD, &url, &mut resp)),
        }
    }

    /// `POST .../blobs/uploads/` (with optional query): returns the response.
    fn start_upload(
        &self,
        reference: &Reference,
        query: &str,
    ) -> Result<(String, Response<ureq::Body>), Error> {
        let url = format!("{}/blobs/uploads/{query}", self.repo_url(reference));
        let mut req = Request::new(Method::POST, url.clone()).header(header::CONTENT_LENGTH, "0");
        let resp = self.execute(&self.push_target(reference), &mut req)?;
        Ok((url, resp))
    }

    fn upload_location(&self, url: &str, resp: &Response<ureq::Body>) -> Result<String, Error> {
        header_str(resp.headers(), "location")
            .and_then(|l| resolve_location(url, l))
            .ok_or_else(|| Error::Protocol {
                method: "POST".to_owned(),
                url: url.to_owned(),
                reason: "upload response without a usable Location header".to_owned(),
            })
    }

    /// Uploads the blob `digest` of `size` bytes read from `data` into `reference`'s
    /// repository: one `PUT` up to [`crate::ClientConfig::upload_chunk_size`], else
    /// `PATCH` chunks of that size and a final `PUT`. The data is streamed, never held in
    /// memory. Does not check first whether the blob exists (see
    /// [`Client::blob_exists`]).
    ///
    /// # Errors
    /// [`Error::AccessDenied`], [`Error::Io`] when `data` fails, [`Error::SizeMismatch`]
    /// or [`Error::DigestMismatch`] when `data` is not what was announced, registry
    /// errors (e.g. `DIGEST_INVALID`) and transport errors. A failed upload is not
    /// retried: `data` can only be read once.
    pub fn push_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), Error> {
        let hasher = DigestHasher::new(digest.algorithm())?;
        let (post_url, mut resp) = self.start_upload(reference, "")?;
        match resp.status().as_u16() {
            202 => {}
            401 | 403 => return Err(self.denied(reference, &mut resp)),
            _ => return Err(status_error(&Method::POST, &post_url, &mut resp)),
        }
        let mut location = self.upload_location(&post_url, &resp)?;
        drop(resp);
        let mut hashing = Hashing {
            inner: data,
            hasher,
            count: 0,
        };
        let chunk = self.config().upload_chunk_size.max(1);
        let digest_query = format!("digest={}", crate::auth::query_escape(digest.as_ref()));
        let with_digest = |loc: &str| {
            let sep = if loc.contains('?') { '&' } else { '?' };
            format!("{loc}{sep}{digest_query}")
        };
        if size <= chunk {
            let url = with_digest(&location);
            return self.put_whole_blob(reference, &url, &mut hashing, digest, size);
        }
        location = self.patch_blob_chunks(reference, location, &mut hashing, digest, size)?;
        Self::check_local(&mut hashing, digest, size)?;
        let url = with_digest(&location);
        let mut req = Request::new(Method::PUT, url.clone()).header(header::CONTENT_LENGTH, "0");
        let mut resp = self.execute(&self.push_target(reference), &mut req)?;
        match resp.status().as_u16() {
            201 | 204 => Ok(()),
            401 | 403 => Err(self.denied(reference, &mut resp)),
            _ => Err(status_error(&Method::PUT, &url, &mut resp)),
        }
    }

    /// Uploads the whole blob in one `PUT` to `url` (the upload location with the digest).
    fn put_whole_blob(
        &self,
        reference: &Reference,
        url: &str,
        hashing: &mut Hashing<'_>,
        digest: &Digest,
        size: u64,
    ) -> Result<(), Error> {
        let mut exact = Exact::new(&mut *hashing, size);
        let mut req = Request::new(Method::PUT, url.to_owned())
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::Stream(&mut exact, size));
        let result = self.execute(&self.push_target(reference), &mut req);
        drop(req);
        if exact.ended_early {
            return Err(Error::SizeMismatch {
                digest: digest.clone(),
                expected: size,
                actual: size - exact.remaining,
            });
        }
        let mut resp = result?;
        Self::check_local(hashing, digest, size)?;
        match resp.status().as_u16() {
            201 | 204 => Ok(()),
            401 | 403 => Err(self.denied(reference, &mut resp)),
            _ => Err(status_error(&Method::PUT, url, &mut resp)),
        }
    }

    /// Sends the blob in `PATCH` chunks of [`crate::ClientConfig::upload_chunk_size`],
    /// starting at `location`; returns the location the last chunk's response names.
    fn patch_blob_chunks(
        &self,
        reference: &Reference,
        mut location: String,
        hashing: &mut Hashing<'_>,
        digest: &Digest,
        size: u64,
    ) -> Result<String, Error> {
        let target = self.push_target(reference);
        let chunk = self.config().upload_chunk_size.max(1);
        let mut offset = 0u64;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut part = Exact::new(&mut *hashing, len);
            let mut req = Request::new(Method::PATCH, location.clone())
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(
                    header::CONTENT_RANGE,
                    format!("{}-{}", offset, offset + len - 1),
                )
                .body(Body::Stream(&mut part, len));
            let result = self.execute(&target, &mut req);
            drop(req);
            if part.ended_early {
                return Err(Error::SizeMismatch {
                    digest: digest.clone(),
                    expected: size,
                    actual: offset + len - part.remaining,
                });
            }
            let mut resp = result?;
            match resp.status().as_u16() {
                202 | 204 => {}
                401 | 403 => return Err(self.denied(reference, &mut resp)),
                _ => return Err(status_error(&Method::PATCH, &location, &mut resp)),
            }
            location = self.upload_location(&location, &resp)?;
            offset += len;
        }
        Ok(location)
    }

    /// Checks that the data sent had the announced size and digest, and that the source
    /// has no more bytes.
    fn check_local(hashing: &mut Hashing<'_>, digest: &Digest, size: u64) -> Result<(), Error> {
        let mut probe = [0u8; 1];
        let extra = hashing.inner.read(&mut probe).map_err(|source| Error::Io {
            context: format!("reading the data of blob {digest}"),
            source,
        })?;
        if hashing.count != size || extra > 0 {
            return Err(Error::SizeMismatch {
                digest: digest.clone(),
                expected: size,
                actual: hashing.count + extra as u64,
            });
        }
        let actual = std::mem::replace(&mut hashing.hasher, DigestHasher::sha256()).finish();
        if &actual != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Uploads `bytes` as a blob and returns its sha256 digest.
    ///
    /// # Errors
    /// As [`Client::push_blob`].
    pub fn push_blob_bytes(&self, reference: &Reference, bytes: &[u8]) -> Result<Digest, Error> {
        let digest = sha256_digest(bytes);
        let mut data = bytes;
        self.push_blob(reference, &digest, bytes.len() as u64, &mut data)?;
        Ok(digest)
    }

    /// Asks the registry to mount blob `digest` from repository `from` (same registry)
    /// into `reference`'s repository without uploading it. Returns whether it did; when
    /// it did not, the upload it started instead is cancelled and the caller should
    /// upload the blob.
    ///
    /// # Errors
    /// [`Error::AccessDenied`], [`Error::Parse`] for an invalid `from`, and transport or
    /// unexpected-status errors.
    pub fn mount_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, Error> {
        let from_ref = reference.with_repository(from)?;
        let query = format!(
            "?mount={}&from={}",
            crate::auth::query_escape(digest.as_ref()),
            crate::auth::query_escape(from_ref.repository())
        );
        let url = format!("{}/blobs/uploads/{query}", self.repo_url(reference));
        let target = Target {
            registry: reference.registry().to_owned(),
            host: reference.api_host().to_owned(),
            scopes: vec![
                Scope::push(reference.repository()),
                Scope::pull(from_ref.repository()),
            ],
            credentials: None,
        };
        let mut req = Request::new(Method::POST, url.clone()).header(header::CONTENT_LENGTH, "0");
        let mut resp = self.execute(&target, &mut req)?;
        match resp.status().as_u16() {
            201 => Ok(true),
            202 => {
                // The registry started a normal upload instead: cancel it.
                if let Ok(location) = self.upload_location(&url, &resp) {
                    drop(resp);
                    let mut cancel = Request::new(Method::DELETE, location);
                    // Best effort: an abandoned upload expires on the registry anyway.
                    let _ = self.execute(&target, &mut cancel);
                }
                Ok(false)
            }
            401 | 403 => Err(self.denied(reference, &mut resp)),
            _ => Err(status_error(&Method::POST, &url, &mut resp)),
        }
    }

    /// Uploads a manifest (or index) of `media_type` under `reference`'s tag (or digest)
    /// and returns its digest (sha256 of `bytes`; the registry's `Docker-Content-Digest`
    /// must agree).
    ///
    /// # Errors
    /// [`Error::AccessDenied`], registry errors such as `MANIFEST_INVALID` or
    /// `MANIFEST_BLOB_UNKNOWN`, [`Error::DigestMismatch`], and transport errors.
    pub fn push_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, Error> {
        let digest = sha256_digest(bytes);
        if let Some(pinned) = reference.digest() {
            crate::digest::verify_digest(pinned, bytes)?;
        }
        let url = format!(
            "{}/manifests/{}",
            self.repo_url(reference),
            reference.manifest_reference()
        );
        let mut req = Request::new(Method::PUT, url.clone())
            .header(header::CONTENT_TYPE, media_type)
            .body(Body::Bytes(bytes));
        let mut resp = self.execute(&self.push_target(reference), &mut req)?;
        match resp.status().as_u16() {
            201 | 200 | 204 => {}
            401 | 403 => return Err(self.denied(reference, &mut resp)),
            404 => {
                let errors = read_errors(&mut resp);
                return Err(Error::Registry {
                    method: "PUT".to_owned(),
                    url,
                    status: 404,
                    errors: errors.or_entry(
                        ErrorCode::NameUnknown,
                        "repository name not known to registry",
                    ),
                });
            }
            _ => return Err(status_error(&Method::PUT, &url, &mut resp)),
        }
        if let Some(returned) = header_str(resp.headers(), "docker-content-digest")
            .and_then(|d| d.trim().parse::<Digest>().ok())
        {
            if returned.algorithm() == digest.algorithm() && returned != digest {
                return Err(Error::DigestMismatch {
                    expected: digest,
                    actual: returned,
                });
            }
        }
        Ok(digest)
    }

    /// Checks `credentials` against `registry` (`docker.io`, `localhost:5000`, ...) the
    /// way `docker login` does: `GET /v2/`, answering a basic or bearer challenge with
    /// them.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] or [`Error::TokenDenied`] when they are refused, and
    /// transport errors.
    pub fn verify_credentials(
        &self,
        registry: &str,
        credentials: &Credentials,
    ) -> Result<(), Error> {
        let registry = crate::auth::normalize_server(registry);
        let host = api_host(&registry).to_owned();
        let target = Target {
            registry: registry.clone(),
            host: host.clone(),
            scopes: Vec::new(),
            credentials: Some(credentials.clone()),
        };
        let url = self.base_url(&host);
        let mut req = Request::new(Method::GET, url.clone());
        let mut resp = self.execute(&target, &mut req)?;
        match resp.status().as_u16() {
            200 => Ok(()),
            401 | 403 => Err(Error::Unauthorized {
                host,
                errors: read_errors(&mut resp)
                    .or_entry(ErrorCode::Unauthorized, "authentication required"),
            }),
            _ => Err(status_error(&Method::GET, &url, &mut resp)),
        }
    }
}

/// `docker login`: verifies `credentials` against `registry`, then stores them in
/// `config` and saves it (atomically, mode 0600).
///
/// ```no_run
/// use registry::{Client, ClientConfig, Credentials, DockerConfig};
///
/// let client = Client::new(ClientConfig::default())?;
/// let mut config = DockerConfig::load_default()?;
/// registry::login(&client, &mut config, "localhost:5000", &Credentials::new("me", "secret"))?;
/// # Ok::<(), registry::Error>(())
/// ```
///
/// # Errors
/// As [`Client::verify_credentials`] and [`crate::DockerConfig::save`]; nothing is
/// stored when verification fails.
pub fn login(
    client: &Client,
    config: &mut crate::auth::DockerConfig,
    registry: &str,
    credentials: &Credentials,
) -> Result<(), Error> {
    client.verify_credentials(registry, credentials)?;
    config.set_credentials(registry, credentials);
    config.save()
}

/// `docker logout`: erases the credentials of `registry` from `config` and saves it.
/// Returns whether there were any (docker says "Not logged in to X" otherwise).
///
/// # Errors
/// As [`crate::DockerConfig::save`].
pub fn logout(config: &mut crate::auth::DockerConfig, registry: &str) -> Result<bool, Error> {
    let removed = config.remove_credentials(registry);
    if removed {
        config.save()?;
    }
    Ok(removed)
}
