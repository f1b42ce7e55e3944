//! Fetching manifests and indexes (size-capped, digest-checked) and resolving a
//! reference to one platform's image manifest.

use oci_spec::image::Digest;
use ureq::http::{Method, Response, header};

use super::{
    ManifestKind, RawManifest, ResolvedImage, choose_platform, detect_kind, media_types,
    parse_index, parse_manifest,
};
use crate::client::{Client, Request, Target, header_str, read_errors, status_error};
use crate::digest::{DigestHasher, sha256_digest};
use crate::error::{Access, Error};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry_errors::ErrorCode;

impl Client {
    /// Fetches what `reference` points at (a manifest or an index), as served.
    ///
    /// The body is capped at [`crate::ClientConfig::max_manifest_size`]; when the
    /// reference has a digest the bytes must hash to it, and a `Docker-Content-Digest`
    /// header must agree with the bytes.
    ///
    /// # Errors
    /// [`Error::ManifestUnknown`] / [`Error::RepositoryUnknown`] (kind `NotFound`, with
    /// the registry's codes), [`Error::AccessDenied`], [`Error::ManifestTooLarge`],
    /// [`Error::DigestMismatch`], [`Error::UnsupportedMediaType`],
    /// [`Error::MalformedManifest`], and transport errors.
    pub fn fetch_manifest(&self, reference: &Reference) -> Result<RawManifest, Error> {
        self.fetch_manifest_at(
            reference,
            &reference.manifest_reference(),
            reference.digest(),
        )
    }

    fn fetch_manifest_at(
        &self,
        reference: &Reference,
        at: &str,
        expected: Option<&Digest>,
    ) -> Result<RawManifest, Error> {
        let target = self.pull_target(reference);
        let url = format!(
            "{}{}/manifests/{at}",
            self.base_url(reference.api_host()),
            reference.repository()
        );
        let mut req = Request::new(Method::GET, url.clone())
            .header(header::ACCEPT, media_types::MANIFEST_ACCEPT);
        let mut resp = self.execute(&target, &mut req)?;
        // Errors name the reference pinned to the digest that was asked for.
        let shown = match expected {
            Some(d) if reference.digest() != Some(d) => reference.with_digest(d.clone()),
            _ => reference.clone(),
        };
        if resp.status().as_u16() != 200 {
            return Err(manifest_status_error(reference, &shown, &url, &mut resp));
        }
        let limit = self.config().max_manifest_size;
        let too_large = || Error::ManifestTooLarge {
            reference: shown.familiar_string(),
            limit,
        };
        if resp.body().content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let content_type = header_str(resp.headers(), "content-type").map(str::to_owned);
        let header_digest = header_str(resp.headers(), "docker-content-digest")
            .and_then(|d| d.trim().parse::<Digest>().ok());
        let bytes = match resp.body_mut().with_config().limit(limit).read_to_vec() {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => return Err(too_large()),
            Err(e) => {
                return Err(Error::Transfer {
                    url,
                    source: e.into_io(),
                });
            }
        };
        let digest = manifest_digest(&bytes, expected, header_digest)?;
        let kind = detect_kind(&shown, content_type.as_deref(), &bytes)?;
        Ok(RawManifest {
            digest,
            kind,
            bytes,
        })
    }

    /// Resolves `reference` to the image manifest for `platform`: fetches what the tag
    /// points at and, for an index, picks the best matching entry (docker's choice) and
    /// fetches that manifest by digest. Config and layer media types are checked.
    ///
    /// # Errors
    /// As [`Client::fetch_manifest`], plus [`Error::NoMatchingPlatform`] (listing what
    /// the index offers) and [`Error::UnsupportedMediaType`] for nested indexes and
    /// unknown config or layer types.
    pub fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImage, Error> {
        let top = self.fetch_manifest(reference)?;
        if !top.kind.is_index() {
            let image = parse_manifest(reference, &top)?;
            return Ok(ResolvedImage {
                reference: reference.clone(),
                digest: top.digest.clone(),
                index: None,
                manifest: top,
                image,
                platform: None,
            });
        }
        let index = parse_index(reference, &top)?;
        let (entry, chosen) = choose_platform(reference, &index, platform)?;
        let entry_type = entry.media_type().to_string();
        let entry_kind = ManifestKind::from_media_type(&entry_type);
        if !matches!(
            entry_kind,
            Some(ManifestKind::DockerManifest | ManifestKind::OciManifest)
        ) {
            return Err(Error::UnsupportedMediaType {
                reference: reference.familiar_string(),
                media_type: entry_type,
            });
        }
        let manifest =
            self.fetch_manifest_at(reference, entry.digest().as_ref(), Some(entry.digest()))?;
        if manifest.bytes.len() as u64 != entry.size() {
            return Err(Error::SizeMismatch {
                digest: entry.digest().clone(),
                expected: entry.size(),
                actual: manifest.bytes.len() as u64,
            });
        }
        if manifest.kind.is_index() {
            return Err(Error::UnsupportedMediaType {
                reference: reference.familiar_string(),
                media_type: manifest.media_type().to_owned(),
            });
        }
        let image = parse_manifest(reference, &manifest)?;
        Ok(ResolvedImage {
            reference: reference.clone(),
            digest: top.digest.clone(),
            index: Some(top),
            manifest,
            image,
            platform: Some(chosen),
        })
    }

    pub(crate) fn pull_target(&self, reference: &Reference) -> Target {
        Target {
            registry: reference.registry().to_owned(),
            host: reference.api_host().to_owned(),
            scopes: vec![crate::auth::Scope::pull(reference.repository())],
            credentials: None,
        }
    }
}

/// The error for a manifest request that did not answer 200: an unknown repository or
/// manifest (with the registry's codes), denied access, or any other status.
fn manifest_status_error(
    reference: &Reference,
    shown: &Reference,
    url: &str,
    resp: &mut Response<ureq::Body>,
) -> Error {
    match resp.status().as_u16() {
        404 => {
            let errors = read_errors(resp);
            if errors.has(&ErrorCode::NameUnknown) {
                Error::RepositoryUnknown {
                    repository: reference.familiar(),
                    errors,
                }
            } else {
                Error::ManifestUnknown {
                    reference: shown.familiar_string(),
                    errors: errors.or_entry(ErrorCode::ManifestUnknown, "manifest unknown"),
                }
            }
        }
        401 | 403 => Error::AccessDenied {
            repository: reference.familiar(),
            access: Access::Pull,
            errors: read_errors(resp),
        },
        _ => status_error(&Method::GET, url, resp),
    }
}

/// The digest of manifest `bytes`: they must hash to `expected` when the reference pins
/// one (else sha256 is used), and a `Docker-Content-Digest` header of the same algorithm
/// must agree.
fn manifest_digest(
    bytes: &[u8],
    expected: Option<&Digest>,
    header_digest: Option<Digest>,
) -> Result<Digest, Error> {
    let digest = match expected {
        Some(want) => {
            let mut h = DigestHasher::new(want.algorithm())?;
            h.update(bytes);
            let got = h.finish();
            if &got != want {
                return Err(Error::DigestMismatch {
                    expected: want.clone(),
                    actual: got,
                });
            }
            got
        }
        None => sha256_digest(bytes),
    };
    if let Some(hd) = header_digest {
        if hd.algorithm() == digest.algorithm() && hd != digest {
            return Err(Error::DigestMismatch {
                expected: hd,
                actual: digest,
            });
        }
    }
    Ok(digest)
}
