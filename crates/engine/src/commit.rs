//! `commit` and `import`: new images from a container's changes or from a filesystem tar.
//!
//! Both stream a tar (the storage driver's change set of the writable layer, or the
//! imported file) through gzip into a new layer blob and into the driver
//! ([`store::archive::build_layer`]), then write a config (history, diff IDs, `--change`
//! instructions) and a manifest of the base image's kind (docker v2s2 or OCI), and record
//! the image. It runs, pushes and pulls like any other.

use std::io::Read;

use serde_json::{Map, Value, json};
use store::archive::BuiltLayer;
use store::{Digest, NewImage, Store};

use crate::changes::apply_changes;
use crate::config::Engine;
use crate::containers::Containers;
use crate::create::now_rfc3339;
use crate::error::{Error, Result, ResultExt, invalid};
use crate::lifecycle::{cgroup_of, load_spec};
use crate::record::{Record, Status, is_alive};
use crate::recovery::lookup;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// `REPOSITORY[:TAG]` -> the store's (repository, tag), as docker validates it.
///
/// # Errors
/// An invalid reference, or one with a digest.
pub fn image_name(name: &str) -> Result<(String, String)> {
    let r = crate::images::parse_reference(name)?;
    if r.digest().is_some() {
        invalid!("refusing to create a tag with a digest reference");
    }
    Ok((r.name(), r.tag().unwrap_or("latest").to_owned()))
}

/// Freezes a running container's cgroup for the duration of a commit (docker's `--pause`).
struct Paused(Option<cgroup::AnyManager>, Option<Engine>);

impl Paused {
    fn new(engine: &Engine, rec: &Record, wanted: bool) -> Paused {
        let running =
            rec.state.status == Status::Running && is_alive(rec.state.pid, rec.state.pid_start);
        if !wanted || !running {
            return Paused(None, None);
        }
        let cg = match cgroup_of(rec) {
            Ok(cg) => cg,
            Err(e) => {
                engine.warn(format_args!("not pausing the container: {e}"));
                return Paused(None, None);
            }
        };
        match cg.freezer_state() {
            // Paused by the user: leave it so.
            Ok(cgroup::FreezerState::Frozen | cgroup::FreezerState::Freezing) => Paused(None, None),
            Ok(cgroup::FreezerState::Thawed) => match cg.freeze() {
                Ok(()) => Paused(Some(cg), Some(engine.clone())),
                Err(e) => {
                    engine.warn(format_args!("not pausing the container: {e}"));
                    Paused(None, None)
                }
            },
            Err(e) => {
                engine.warn(format_args!("not pausing the container: {e}"));
                Paused(None, None)
            }
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let (Some(cg), Some(engine)) = (&self.0, &self.1)
            && let Err(e) = cg.thaw()
        {
            engine.warn(format_args!("thawing the container after commit: {e}"));
        }
    }
}

/// What `commit` records besides the changes.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]` to tag the new image with.
    pub repository: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-m`.
    pub message: Option<String>,
    /// `-c` instructions.
    pub changes: Vec<String>,
    /// `-p` (docker's default: pause a running container while its changes are read).
    pub pause: bool,
}

impl Engine {
    /// `commit`: a new image from a container's changes; returns its record.
    ///
    /// # Errors
    /// No such container, an invalid name or instruction, a store failure.
    pub fn commit(&self, container: &str, opts: &CommitOptions) -> Result<store::ImageRecord> {
        let containers = Containers::new(&self.config.root);
        // The true status: a container whose owner died is ended first.
        let found = lookup(self, container)?;
        let target = opts.repository.as_deref().map(image_name).transpose()?;
        // Fail on a bad instruction before doing any work.
        apply_changes(&mut Map::new(), &opts.changes)?;
        let _lock = containers.lock(&found.id)?;
        let rec = containers.load(&found.id)?;
        let store = self.store()?;
        let driver = self.driver_named(&store, &rec.driver)?;
        let base = store
            .image(&rec.image_id)
            .with_ctx(|| format!("the image of container {} is gone", rec.name))?;
        let base_config = read_json(&store, &base.config_digest, "the base image's config")?;
        let base_manifest = read_json(&store, &base.manifest_digest, "the base image's manifest")?;
        let spec_env = load_spec(&containers.dir(&rec.id), &rec.id)
            .ok()
            .and_then(|s| s.process().as_ref()?.env().clone());

        // The new blob and layer are unreferenced until the image is recorded.
        let _lease = store.lease()?;
        let layer = {
            let _paused = Paused::new(self, &rec, opts.pause);
            store::archive::build_layer(&store, &*driver, base.top_chain_id(), &mut |w| {
                driver.changes(&rec.id, w)
            })
            .with_ctx(|| format!("committing the changes of {}", rec.name))?
        };
        let created = now_rfc3339();
        let mut config = base_config;
        let full_cmd: Vec<String> = std::iter::once(rec.path.clone())
            .chain(rec.args.iter().cloned())
            .collect();
        container_config(&mut config, &full_cmd, spec_env)?;
        let cfg = config_object(&mut config)?;
        apply_changes(cfg, &opts.changes)?;
        add_layer_to_config(
            &mut config,
            &layer.diff_id,
            &History {
                created: &created,
                author: opts.author.as_deref(),
                created_by: &full_cmd.join(" "),
                comment: opts.message.as_deref(),
            },
        )?;
        record(
            &store,
            &*driver,
            &config,
            Some(&base_manifest),
            &layer,
            target,
        )
    }
}

fn read_json(store: &Store, digest: &Digest, what: &str) -> Result<Value> {
    serde_json::from_slice(&store.blobs().read(digest)?)
        .map_err(|e| Error::json(format!("{what} is not valid JSON"), e))
}

fn not(what: &str) -> Error {
    Error::Invalid(format!("the image config{what}"))
}

fn config_object(config: &mut Value) -> Result<&mut Map<String, Value>> {
    let top = config
        .as_object_mut()
        .ok_or_else(|| not(" is not a JSON object"))?;
    let cfg = top
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    if cfg.is_null() {
        *cfg = Value::Object(Map::new());
    }
    cfg.as_object_mut()
        .ok_or_else(|| not("'s `config` is not an object"))
}

pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Docker commits the container's configuration: its command (`Entrypoint` + `Cmd` as the
/// container ran them) and its environment (image `Env` plus `-e`).
fn container_config(
    config: &mut Value,
    full_cmd: &[String],
    env: Option<Vec<String>>,
) -> Result<()> {
    let cfg = config_object(config)?;
    let entrypoint = strings(cfg.get("Entrypoint"));
    let cmd = strings(cfg.get("Cmd"));
    let image_full: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
    if !full_cmd.is_empty() && full_cmd != image_full.as_slice() {
        if !entrypoint.is_empty() && full_cmd.starts_with(&entrypoint) {
            cfg.insert("Cmd".into(), json!(full_cmd[entrypoint.len()..]));
        } else if !entrypoint.is_empty() {
            // `--entrypoint` replaced it.
            cfg.insert("Entrypoint".into(), json!(full_cmd[..1]));
            cfg.insert("Cmd".into(), json!(full_cmd[1..]));
        } else {
            cfg.insert("Cmd".into(), json!(full_cmd));
        }
    }
    if let Some(env) = env {
        let image_env = strings(cfg.get("Env"));
        let had = |name: &str| image_env.iter().any(|e| e.split('=').next() == Some(name));
        let env: Vec<String> = env
            .into_iter()
            .filter(|e| {
                let name = e.split('=').next().unwrap_or("");
                !matches!(name, "HOSTNAME" | "HOME") || had(name)
            })
            .collect();
        cfg.insert("Env".into(), json!(env));
    }
    Ok(())
}

/// The history entry of a new layer.
struct History<'a> {
    created: &'a str,
    author: Option<&'a str>,
    created_by: &'a str,
    comment: Option<&'a str>,
}

/// Appends the layer's diff ID and history entry; sets `created`, `author`, `comment`.
fn add_layer_to_config(config: &mut Value, diff_id: &Digest, h: &History<'_>) -> Result<()> {
    let top = config
        .as_object_mut()
        .ok_or_else(|| not(" is not a JSON object"))?;
    let base_created = top.get("created").cloned();
    top.insert("created".into(), json!(h.created));
    match h.author {
        Some(a) => top.insert("author".into(), json!(a)),
        None => top.remove("author"),
    };
    match h.comment {
        Some(c) => top.insert("comment".into(), json!(c)),
        None => top.remove("comment"),
    };
    let rootfs = top
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    let ids = rootfs
        .as_object_mut()
        .ok_or_else(|| not("'s rootfs is not an object"))?
        .entry("diff_ids")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| not("'s diff_ids is not a list"))?;
    let base_layers = ids.len();
    ids.push(json!(diff_id.to_string()));
    let history = top.entry("history").or_insert_with(|| json!([]));
    if history.is_null() {
        *history = json!([]);
    }
    let history = history
        .as_array_mut()
        .ok_or_else(|| not("'s history is not a list"))?;
    if history.is_empty() {
        // Keep one history entry per layer, as tools that check them expect.
        for _ in 0..base_layers {
            let mut e = Map::new();
            if let Some(c) = &base_created {
                e.insert("created".into(), c.clone());
            }
            history.push(Value::Object(e));
        }
    }
    let mut entry = Map::new();
    entry.insert("created".into(), json!(h.created));
    if let Some(a) = h.author {
        entry.insert("author".into(), json!(a));
    }
    if !h.created_by.is_empty() {
        entry.insert("created_by".into(), json!(h.created_by));
    }
    if let Some(c) = h.comment {
        entry.insert("comment".into(), json!(c));
    }
    history.push(Value::Object(entry));
    Ok(())
}

/// Stores config and manifest (docker v2s2 when the base image's manifest is one, else
/// OCI) and records the image, tagged when a name is given.
fn record(
    store: &Store,
    driver: &dyn store::StorageDriver,
    config: &Value,
    base_manifest: Option<&Value>,
    layer: &BuiltLayer,
    name: Option<(String, String)>,
) -> Result<store::ImageRecord> {
    let docker = base_manifest
        .and_then(|m| m.get("mediaType"))
        .and_then(Value::as_str)
        == Some(DOCKER_MANIFEST);
    let config_bytes =
        serde_json::to_vec(config).map_err(|e| Error::json("encoding the image config", e))?;
    let config_digest = store.blobs().write_bytes(&config_bytes, None)?;
    let mut layers: Vec<Value> = base_manifest
        .and_then(|m| m.get("layers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    layers.push(json!({
        "mediaType": if docker { DOCKER_LAYER_GZIP } else { layer.oci_media_type() },
        "digest": layer.digest.to_string(),
        "size": layer.size,
    }));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": if docker { DOCKER_MANIFEST } else { OCI_MANIFEST },
        "config": {
            "mediaType": if docker { DOCKER_CONFIG } else { OCI_CONFIG },
            "digest": config_digest.to_string(),
            "size": config_bytes.len(),
        },
        "layers": layers,
    }))
    .map_err(|e| Error::json("encoding the manifest", e))?;
    let manifest_digest = store.blobs().write_bytes(&manifest, None)?;
    let (repository, tag) = match name {
        Some((r, t)) => (r, Some(t)),
        None => (String::new(), None),
    };
    Ok(store.add_unpacked_image(
        &NewImage {
            repository,
            tag,
            repo_digest: None,
            manifest_digest,
        },
        driver,
    )?)
}

/// What `import` records besides the filesystem.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Where the tar came from (a path, or `-`), for the history.
    pub source: String,
    /// `REPOSITORY[:TAG]`.
    pub repository: Option<String>,
    /// `-m`.
    pub message: Option<String>,
    /// `-c` instructions.
    pub changes: Vec<String>,
    /// `--platform`.
    pub platform: Option<String>,
}

impl Engine {
    /// `import`: a one-layer image from a filesystem tar (plain, gzip or zstd).
    ///
    /// # Errors
    /// An invalid name, platform or instruction; an unreadable or hostile tar.
    pub fn import(
        &self,
        input: Box<dyn Read + Send>,
        opts: &ImportOptions,
    ) -> Result<store::ImageRecord> {
        import(self, input, opts)
    }
}

fn import(
    engine: &Engine,
    input: Box<dyn Read + Send>,
    args: &ImportOptions,
) -> Result<store::ImageRecord> {
    let target = args.repository.as_deref().map(image_name).transpose()?;
    let platform = match &args.platform {
        Some(p) => p
            .parse::<registry::Platform>()
            .map_err(|e| Error::Invalid(format!("invalid platform {p:?}: {e}")))?,
        None => registry::Platform::host(),
    };
    let mut changes = Map::new();
    apply_changes(&mut changes, &args.changes)?;
    let mut tar = decompressing(input)?;
    let store = engine.store()?;
    let driver = engine.driver(&store)?;
    let _lease = store.lease()?;
    let layer = store::archive::build_layer(&store, &*driver, None, &mut |w| {
        std::io::copy(&mut tar, w)
            .map(|_| ())
            .map_err(|e| store::Error::Io {
                op: "read",
                path: args.source.clone().into(),
                source: e,
            })
    })
    .with_ctx(|| format!("importing {}", args.source))?;
    let created = now_rfc3339();
    let mut config = json!({
        "architecture": platform.architecture(),
        "os": platform.os(),
        "created": created,
        "config": changes,
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    });
    if let Some(v) = platform.variant() {
        config["variant"] = json!(v);
    }
    let source = format!("Imported from {}", args.source);
    add_layer_to_config(
        &mut config,
        &layer.diff_id,
        &History {
            created: &created,
            author: None,
            created_by: "",
            comment: Some(args.message.as_deref().unwrap_or(&source)),
        },
    )?;
    if args.message.is_none()
        && let Some(top) = config.as_object_mut()
    {
        top.remove("comment");
    }
    record(&store, &*driver, &config, None, &layer, target)
}

/// Wraps a plain, gzip or zstd stream in its decompressor.
fn decompressing(mut input: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::os("reading the import source", e)),
        }
    }
    let chained = std::io::Cursor::new(head[..n].to_vec()).chain(input);
    let media_type = match head[..n] {
        [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    };
    Ok(store::decompress(media_type, chained)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_takes_the_containers_command_and_env() {
        let mut config =
            json!({"config": {"Entrypoint": ["/ep"], "Cmd": ["a"], "Env": ["PATH=/x"]}});
        container_config(
            &mut config,
            &["/ep".into(), "b".into(), "c".into()],
            Some(vec![
                "PATH=/x".into(),
                "HOSTNAME=abc".into(),
                "HOME=/root".into(),
                "E=1".into(),
            ]),
        )
        .unwrap();
        assert_eq!(config["config"]["Entrypoint"], json!(["/ep"]));
        assert_eq!(config["config"]["Cmd"], json!(["b", "c"]));
        assert_eq!(config["config"]["Env"], json!(["PATH=/x", "E=1"]));
        // An overridden entrypoint.
        let mut config = json!({"config": {"Entrypoint": ["/ep"], "Cmd": ["a"]}});
        container_config(&mut config, &["sh".into(), "-c".into(), "x".into()], None).unwrap();
        assert_eq!(config["config"]["Entrypoint"], json!(["sh"]));
        assert_eq!(config["config"]["Cmd"], json!(["-c", "x"]));
        // Unchanged.
        let mut config = json!({"config": {"Cmd": ["sh"]}});
        container_config(&mut config, &["sh".into()], None).unwrap();
        assert_eq!(config["config"]["Cmd"], json!(["sh"]));
    }

    #[test]
    fn layers_get_diff_ids_and_history() {
        let d1 = store::sha256_of(b"1");
        let d2 = store::sha256_of(b"2");
        let mut config = json!({"created": "2020-01-01T00:00:00Z", "rootfs": {"type": "layers", "diff_ids": [d1.to_string()]}});
        let h = History {
            created: "2024-01-01T00:00:00Z",
            author: Some("me"),
            created_by: "sh -c x",
            comment: Some("msg"),
        };
        add_layer_to_config(&mut config, &d2, &h).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!([d1.to_string(), d2.to_string()])
        );
        assert_eq!(config["created"], json!("2024-01-01T00:00:00Z"));
        assert_eq!(config["author"], json!("me"));
        assert_eq!(config["comment"], json!("msg"));
        let history = config["history"].as_array().unwrap();
        assert_eq!(history.len(), 2, "one entry per layer");
        assert_eq!(history[0]["created"], json!("2020-01-01T00:00:00Z"));
        assert_eq!(history[1]["created_by"], json!("sh -c x"));
    }
}
