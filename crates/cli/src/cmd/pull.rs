//! `pull`: resolve a reference, then download up to three layers at once, each streamed
//! through the blob store (verified) and through decompression straight into the storage
//! driver; layers are committed base first as soon as they are ready, and the image is
//! recorded only when all of them are.
//!
//! Ordering of locks, the same in every process: a blob's lock (held while that blob is
//! downloaded and its layer staged), then the layer's lock (held by the staged layer until
//! its commit). A commit needs only lower layers committed, so there is no cycle.

use crate::cli::PullArgs;
use crate::ctx::Ctx;
use crate::progress::{Progress, Status};
use anyhow::{Context, Result, bail};
use registry::{Client, Descriptor, Platform, Reference, ResolvedImage};
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use store::driver::{Staged, StorageDriver};
use store::{Digest, ImageRecord, NewImage, Store};

/// Layers downloaded at once, as docker does.
const CONCURRENT_DOWNLOADS: usize = 3;
/// Largest image config accepted.
const MAX_CONFIG_SIZE: u64 = 8 << 20;

pub(crate) fn run(ctx: &Ctx, args: &PullArgs) -> Result<()> {
    let progress = Progress::new(args.quiet);
    let outcome = pull(ctx, &args.image, args.platform.as_deref(), &progress)?;
    if args.quiet {
        println!("{}", outcome.reference);
    }
    Ok(())
}

/// What a pull did.
#[derive(Debug)]
pub(crate) struct Outcome {
    #[allow(dead_code)] // `run` uses the record.
    pub(crate) image: ImageRecord,
    pub(crate) reference: Reference,
}

/// Parses a user's image reference with docker's error wording.
pub(crate) fn parse_reference(s: &str) -> Result<Reference> {
    // The parse error's message already reads "invalid reference format: ...".
    Reference::parse(s).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Builds the registry client from the global options.
pub(crate) fn client(ctx: &Ctx) -> Result<Client> {
    Ok(Client::new(registry::ClientConfig {
        insecure_registries: ctx.insecure_registries.clone(),
        ..registry::ClientConfig::default()
    })?)
}

/// Pulls `image` into the store and unpacks it with the driver in use, printing docker's
/// progress. Used by `pull` and by `run` when the image is missing.
pub(crate) fn pull(
    ctx: &Ctx,
    image: &str,
    platform: Option<&str>,
    progress: &Progress,
) -> Result<Outcome> {
    let reference = parse_reference(image)?;
    let platform = match platform {
        Some(p) => p
            .parse::<Platform>()
            .map_err(|e| anyhow::anyhow!("invalid platform {p:?}: {e}"))?,
        None => Platform::host(),
    };
    if reference.tag().is_none() && reference.digest().is_none() {
        progress.line("Using default tag: latest");
    }
    let store = ctx.store()?;
    let driver = ctx.driver(&store)?;
    let client = client(ctx)?;
    // Garbage collection waits while this lease is held.
    let _lease = store.lease()?;

    let resolved = client.resolve(&reference, &platform)?;
    ctx.debug(format_args!(
        "{reference} resolved to {} (manifest {}) for {platform}",
        resolved.digest, resolved.manifest.digest
    ));
    let shown_ref = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => "latest".to_owned(),
    };
    progress.line(&format!(
        "{shown_ref}: Pulling from {}",
        reference.repository()
    ));

    // The image this reference (the tag, or `repo@digest`) named before the pull.
    let previous = store
        .image(&crate::cmd::images::store_reference(&reference.to_string()))
        .ok()
        .map(|p| p.id);
    let config = store_metadata(&store, &client, &reference, &resolved)?;
    let diff_ids = diff_ids(&config, resolved.layers().len())?;
    fetch_layers(
        &store,
        driver.as_ref(),
        &client,
        &reference,
        resolved.layers(),
        &diff_ids,
        progress,
    )?;
    progress.finish();

    let tag = reference
        .digest()
        .is_none()
        .then(|| reference.tag().unwrap_or("latest").to_owned());
    let record = store.add_image(&NewImage {
        repository: reference.name(),
        tag,
        repo_digest: Some(resolved.digest.clone()),
        manifest_digest: resolved.manifest.digest.clone(),
    })?;
    progress.line(&format!("Digest: {}", resolved.digest));
    let familiar = {
        let mut s = reference.familiar();
        if reference.digest().is_none() {
            s.push(':');
            s.push_str(reference.tag().unwrap_or("latest"));
        } else if let Some(d) = reference.digest() {
            s.push('@');
            s.push_str(d.as_ref());
        }
        s
    };
    // As docker: the reference is up to date when it named this image already, however
    // the image was reached (another manifest of the same config is the same image) and
    // whatever had to be unpacked; "newer" means the reference now names another image.
    if previous.as_ref() == Some(&record.id) {
        progress.line(&format!("Status: Image is up to date for {familiar}"));
    } else {
        progress.line(&format!("Status: Downloaded newer image for {familiar}"));
    }
    let full = if reference.tag().is_none() && reference.digest().is_none() {
        reference
            .with_tag("latest")
            .unwrap_or_else(|_| reference.clone())
    } else {
        reference.clone()
    };
    progress.line(&full.to_string());
    Ok(Outcome {
        image: record,
        reference: full,
    })
}

/// Stores the index (if any), the manifest and the config blob; returns the config JSON.
fn store_metadata(
    store: &Store,
    client: &Client,
    reference: &Reference,
    resolved: &ResolvedImage,
) -> Result<serde_json::Value> {
    if let Some(index) = &resolved.index {
        store
            .blobs()
            .write_bytes(&index.bytes, Some(&index.digest))?;
    }
    store
        .blobs()
        .write_bytes(&resolved.manifest.bytes, Some(&resolved.manifest.digest))?;
    let config_desc = resolved.config();
    let config_digest = config_desc.digest();
    let bytes = if store.blobs().has(config_digest)? {
        store.blobs().read(config_digest)?
    } else {
        let bytes = client.fetch_blob(reference, config_desc, MAX_CONFIG_SIZE)?;
        store.blobs().write_bytes(&bytes, Some(config_digest))?;
        bytes
    };
    serde_json::from_slice(&bytes).context("image config is not valid JSON")
}

fn diff_ids(config: &serde_json::Value, layers: usize) -> Result<Vec<Digest>> {
    let ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .context("image config has no rootfs.diff_ids")?;
    let ids: Vec<Digest> = ids
        .iter()
        .map(|v| {
            v.as_str()
                .context("diff ID is not a string")
                .and_then(|s| store::parse_sha256(s).map_err(Into::into))
        })
        .collect::<Result<_>>()?;
    if ids.len() != layers {
        bail!(
            "image config lists {} layers but the manifest has {layers}",
            ids.len()
        );
    }
    Ok(ids)
}

/// Downloads and unpacks the missing layers.
fn fetch_layers(
    store: &Store,
    driver: &dyn StorageDriver,
    client: &Client,
    reference: &Reference,
    layers: &[Descriptor],
    diff_ids: &[Digest],
    progress: &Progress,
) -> Result<()> {
    let chains = store::chain_ids(diff_ids)?;
    let short = |d: &Digest| crate::format::short_id(d.digest()).to_owned();
    let mut todo = VecDeque::new();
    for (i, layer) in layers.iter().enumerate() {
        if driver.has_layer(&chains[i])? && store.blobs().has(layer.digest())? {
            progress.update(&short(layer.digest()), Status::AlreadyExists, None);
        } else {
            todo.push_back(i);
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    for (n, &i) in todo.iter().enumerate() {
        let status = if n < CONCURRENT_DOWNLOADS {
            Status::PullingFsLayer
        } else {
            Status::Waiting
        };
        progress.update(&short(layers[i].digest()), status, None);
    }
    let queue = Mutex::new(todo.clone());
    let cancel = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<Staged>)>();
    let mut first_error: Option<anyhow::Error> = None;
    std::thread::scope(|s| {
        for _ in 0..CONCURRENT_DOWNLOADS.min(todo.len()) {
            let tx = tx.clone();
            let (queue, cancel, chains) = (&queue, &cancel, &chains);
            s.spawn(move || {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some(i) = next else { break };
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    let parent = (i > 0).then(|| &chains[i - 1]);
                    let id = short(layers[i].digest());
                    let result = fetch_one(
                        store,
                        driver,
                        client,
                        reference,
                        &layers[i],
                        parent,
                        &diff_ids[i],
                        &id,
                        progress,
                        cancel,
                    );
                    if result.is_err() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                    if tx.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Commit base first, as layers arrive.
        let mut ready: BTreeMap<usize, Staged> = BTreeMap::new();
        let mut next = 0;
        for (i, result) in rx {
            match result {
                Ok(staged) => {
                    ready.insert(i, staged);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            }
            if first_error.is_some() {
                continue;
            }
            loop {
                while next < layers.len() && !todo.contains(&next) {
                    next += 1;
                }
                let Some(staged) = ready.remove(&next) else {
                    break;
                };
                let id = short(layers[next].digest());
                if staged.is_present() {
                    progress.update(&id, Status::PullComplete, None);
                } else if let Err(e) = driver.commit_layer(staged) {
                    first_error.get_or_insert(e.into());
                    cancel.store(true, Ordering::Relaxed);
                    break;
                } else {
                    progress.update(&id, Status::PullComplete, None);
                }
                next += 1;
            }
        }
    });
    match first_error {
        Some(e) => {
            progress.finish();
            Err(e)
        }
        None => Ok(()),
    }
}

/// Gets one layer's blob (from the registry, or the store when it is already there) and
/// stages its layer; the store tees the download into the blob store and the driver.
#[allow(clippy::too_many_arguments)]
fn fetch_one(
    store: &Store,
    driver: &dyn StorageDriver,
    client: &Client,
    reference: &Reference,
    layer: &Descriptor,
    parent: Option<&Digest>,
    diff_id: &Digest,
    id: &str,
    progress: &Progress,
    cancel: &AtomicBool,
) -> Result<Staged> {
    let source = store::LayerSource {
        digest: layer.digest().clone(),
        media_type: layer.media_type().to_string(),
        diff_id: diff_id.clone(),
    };
    let open = || {
        let blob = client
            .open_blob(reference, layer)
            .map_err(registry::Error::into_io)?;
        Ok(Counting {
            inner: blob,
            read: 0,
            total: layer.size(),
            id,
            progress,
            cancel,
            last_report: 0,
        })
    };
    let (staged, how) = store
        .ingest_layer(driver, parent, &source, open)
        .map_err(|e| anyhow::Error::from(e).context(format!("layer {id}")))?;
    if how == store::Ingested::Downloaded {
        progress.update(id, Status::VerifyingChecksum, None);
        progress.update(id, Status::DownloadComplete, None);
    }
    progress.update(id, Status::Extracting, Some((layer.size(), layer.size())));
    Ok(staged)
}

/// The registry stream, reporting progress and stopping with an error when another layer
/// failed.
struct Counting<'a> {
    inner: registry::BlobReader,
    read: u64,
    total: u64,
    id: &'a str,
    progress: &'a Progress,
    cancel: &'a AtomicBool,
    last_report: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other("cancelled: another layer failed"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read - self.last_report >= 256 * 1024 || (n == 0 && self.read > 0) {
            self.last_report = self.read;
            self.progress
                .update(self.id, Status::Downloading, Some((self.read, self.total)));
        }
        Ok(n)
    }
}
