//! Pulling: resolve a reference, then download up to three layers at once, each streamed
//! through the blob store (verified) and through decompression straight into the storage
//! driver; layers are committed base first as soon as they are ready, and the image is
//! recorded only when all of them are.
//!
//! Ordering of locks, the same in every process: a blob's lock (held while that blob is
//! downloaded and its layer staged), then the layer's lock (held by the staged layer until
//! its commit). A commit needs only lower layers committed, so there is no cycle.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use registry::{Client, Descriptor, Platform, Reference, ResolvedImage};
use store::driver::{Staged, StorageDriver};
use store::{Digest, ImageRecord, NewImage, Store};

use crate::config::Engine;
use crate::error::{Error, Result, invalid};
use crate::images::{parse_reference, store_reference};
use crate::progress::{LayerStatus, Progress, short_id};

/// Layers downloaded at once, as docker does.
const CONCURRENT_DOWNLOADS: usize = 3;
/// Largest image config accepted.
const MAX_CONFIG_SIZE: u64 = 8 << 20;

/// What a pull did.
#[derive(Debug)]
pub struct Pulled {
    /// The image pulled.
    pub image: ImageRecord,
    /// The reference pulled, with the tag it defaulted to.
    pub reference: Reference,
}

impl Engine {
    /// Pulls `image` into the store and unpacks it with the driver in use, reporting
    /// docker's progress. Used by `pull` and by `run` when the image is missing.
    ///
    /// # Errors
    /// An invalid reference or platform, a registry or store failure (nothing half-pulled
    /// is recorded).
    pub fn pull(
        &self,
        image: &str,
        platform: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<Pulled> {
        pull(self, image, platform, progress)
    }
}

fn pull(
    ctx: &Engine,
    image: &str,
    platform: Option<&str>,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let reference = parse_reference(image)?;
    let platform = match platform {
        Some(p) => p
            .parse::<Platform>()
            .map_err(|e| Error::Invalid(format!("invalid platform {p:?}: {e}")))?,
        None => Platform::host(),
    };
    if reference.tag().is_none() && reference.digest().is_none() {
        progress.line("Using default tag: latest");
    }
    let store = ctx.store()?;
    let driver = ctx.driver(&store)?;
    let client = ctx.registry_client()?;
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
        .image(&store_reference(&reference.to_string()))
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
    let full = report_status(&reference, previous.as_ref() == Some(&record.id), progress);
    Ok(Pulled {
        image: record,
        reference: full,
    })
}

/// Docker's closing lines: whether the reference is up to date (it named this image
/// already, however the image was reached: another manifest of the same config is the
/// same image) or now names a newer one, and the full reference; returns the latter.
fn report_status(reference: &Reference, up_to_date: bool, progress: &dyn Progress) -> Reference {
    let familiar = match reference.digest() {
        None => format!(
            "{}:{}",
            reference.familiar(),
            reference.tag().unwrap_or("latest")
        ),
        Some(d) => format!("{}@{d}", reference.familiar()),
    };
    if up_to_date {
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
    full
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
    serde_json::from_slice(&bytes).map_err(|e| Error::json("image config is not valid JSON", e))
}

fn diff_ids(config: &serde_json::Value, layers: usize) -> Result<Vec<Digest>> {
    let Some(ids) = config
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
    else {
        invalid!("image config has no rootfs.diff_ids");
    };
    let ids: Vec<Digest> = ids
        .iter()
        .map(|v| match v.as_str() {
            Some(s) => store::parse_sha256(s).map_err(Error::from),
            None => Err(Error::Invalid("diff ID is not a string".into())),
        })
        .collect::<Result<_>>()?;
    if ids.len() != layers {
        invalid!(
            "image config lists {} layers but the manifest has {layers}",
            ids.len()
        );
    }
    Ok(ids)
}

/// One pull's layers: what every download thread and the committer share.
struct Fetch<'a> {
    store: &'a Store,
    driver: &'a dyn StorageDriver,
    client: &'a Client,
    reference: &'a Reference,
    layers: &'a [Descriptor],
    diff_ids: &'a [Digest],
    chains: Vec<Digest>,
    progress: &'a dyn Progress,
    /// Set when a layer failed: the others stop.
    cancel: AtomicBool,
}

/// Downloads and unpacks the missing layers.
fn fetch_layers(
    store: &Store,
    driver: &dyn StorageDriver,
    client: &Client,
    reference: &Reference,
    layers: &[Descriptor],
    diff_ids: &[Digest],
    progress: &dyn Progress,
) -> Result<()> {
    let f = Fetch {
        store,
        driver,
        client,
        reference,
        layers,
        diff_ids,
        chains: store::chain_ids(diff_ids)?,
        progress,
        cancel: AtomicBool::new(false),
    };
    let mut todo = VecDeque::new();
    for (i, layer) in layers.iter().enumerate() {
        if driver.has_layer(&f.chains[i])? && store.blobs().has(layer.digest())? {
            progress.layer(f.short(i), LayerStatus::AlreadyExists, None);
        } else {
            todo.push_back(i);
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    for (n, &i) in todo.iter().enumerate() {
        let status = if n < CONCURRENT_DOWNLOADS {
            LayerStatus::PullingFsLayer
        } else {
            LayerStatus::Waiting
        };
        progress.layer(f.short(i), status, None);
    }
    let queue = Mutex::new(todo.clone());
    let (tx, rx) = mpsc::channel::<(usize, Result<Staged>)>();
    let first_error = std::thread::scope(|s| {
        for _ in 0..CONCURRENT_DOWNLOADS.min(todo.len()) {
            let tx = tx.clone();
            let (f, queue) = (&f, &queue);
            s.spawn(move || f.download(queue, &tx));
        }
        drop(tx);
        f.commit_in_order(rx, &todo)
    });
    match first_error {
        Some(e) => {
            progress.finish();
            Err(e)
        }
        None => Ok(()),
    }
}

impl Fetch<'_> {
    fn short(&self, i: usize) -> &str {
        short_id(self.layers[i].digest().digest())
    }

    /// A download thread: takes layers from the queue until it is empty or a layer
    /// failed, and sends each staged layer (or its error) to the committer.
    fn download(&self, queue: &Mutex<VecDeque<usize>>, tx: &mpsc::Sender<(usize, Result<Staged>)>) {
        loop {
            let next = queue.lock().ok().and_then(|mut q| q.pop_front());
            let Some(i) = next else { break };
            if self.cancel.load(Ordering::Relaxed) {
                break;
            }
            let result = self.fetch_one(i);
            if result.is_err() {
                self.cancel.store(true, Ordering::Relaxed);
            }
            if tx.send((i, result)).is_err() {
                break;
            }
        }
    }

    /// Commits staged layers base first, as they arrive; returns the first error.
    fn commit_in_order(
        &self,
        rx: mpsc::Receiver<(usize, Result<Staged>)>,
        todo: &VecDeque<usize>,
    ) -> Option<Error> {
        let mut first_error: Option<Error> = None;
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
                while next < self.layers.len() && !todo.contains(&next) {
                    next += 1;
                }
                let Some(staged) = ready.remove(&next) else {
                    break;
                };
                if !staged.is_present()
                    && let Err(e) = self.driver.commit_layer(staged)
                {
                    first_error.get_or_insert(e.into());
                    self.cancel.store(true, Ordering::Relaxed);
                    break;
                }
                self.progress
                    .layer(self.short(next), LayerStatus::PullComplete, None);
                next += 1;
            }
        }
        first_error
    }

    /// Gets layer `i`'s blob (from the registry, or the store when it is already there)
    /// and stages the layer; the store tees the download into the blob store and the
    /// driver.
    fn fetch_one(&self, i: usize) -> Result<Staged> {
        let layer = &self.layers[i];
        let id = self.short(i);
        let parent = (i > 0).then(|| &self.chains[i - 1]);
        let source = store::LayerSource {
            digest: layer.digest().clone(),
            media_type: layer.media_type().to_string(),
            diff_id: self.diff_ids[i].clone(),
        };
        let open = || {
            let blob = self
                .client
                .open_blob(self.reference, layer)
                .map_err(registry::Error::into_io)?;
            Ok(Counting {
                inner: blob,
                read: 0,
                total: layer.size(),
                id,
                progress: self.progress,
                cancel: &self.cancel,
                last_report: 0,
            })
        };
        let (staged, how) = self
            .store
            .ingest_layer(self.driver, parent, &source, open)
            .map_err(|e| Error::from(e).context(format!("layer {id}")))?;
        if how == store::Ingested::Downloaded {
            self.progress
                .layer(id, LayerStatus::VerifyingChecksum, None);
            self.progress.layer(id, LayerStatus::DownloadComplete, None);
        }
        self.progress.layer(
            id,
            LayerStatus::Extracting,
            Some((layer.size(), layer.size())),
        );
        Ok(staged)
    }
}

/// The registry stream, reporting progress and stopping with an error when another layer
/// failed.
struct Counting<'a> {
    inner: registry::BlobReader,
    read: u64,
    total: u64,
    id: &'a str,
    progress: &'a dyn Progress,
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
            self.progress.layer(
                self.id,
                LayerStatus::Downloading,
                Some((self.read, self.total)),
            );
        }
        Ok(n)
    }
}
