//! The image a stage is building ([`State`]): its config (docker's shape, with one history
//! entry per step and `empty_layer` for the steps that only change the config) and its
//! manifest's layers; [`State::commit`] records each step's result as an image.

use serde_json::{Map, Value, json};
use store::archive::BuiltLayer;
use store::{Digest, ImageRecord, NewImage, StorageDriver, Store};

use crate::error::{Error, Result};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// docker's default `PATH` (given to `FROM scratch` images and to RUN without one).
pub(crate) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The image a stage is building.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// The image ID (`None`: `FROM scratch` before any step).
    pub(crate) id: Option<Digest>,
    /// The whole image config.
    pub(crate) config: Value,
    /// The manifest's layer descriptors.
    layers: Vec<Value>,
    /// Docker media types (docker's builder makes docker v2 schema 2 images; an OCI base
    /// image keeps OCI's).
    docker: bool,
    /// The chain ID of the top layer.
    pub(crate) top: Option<Digest>,
}

fn bad(what: &str) -> Error {
    Error::Invalid(format!("the base image's {what} is not valid"))
}

fn read_json(store: &Store, digest: &Digest, what: &str) -> Result<Value> {
    serde_json::from_slice(&store.blobs().read(digest)?).map_err(|_| bad(what))
}

impl State {
    /// The state of an existing image.
    pub(crate) fn of_image(store: &Store, rec: &ImageRecord) -> Result<State> {
        let config = read_json(store, &rec.config_digest, "config")?;
        if !config.is_object() {
            return Err(bad("config"));
        }
        let manifest = read_json(store, &rec.manifest_digest, "manifest")?;
        let docker = manifest.get("mediaType").and_then(Value::as_str) == Some(DOCKER_MANIFEST);
        let layers = manifest
            .get("layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(State {
            id: Some(rec.id.clone()),
            config,
            layers,
            docker,
            top: rec.top_chain_id().cloned(),
        })
    }

    /// `FROM scratch` for `platform`.
    pub(crate) fn scratch(platform: &registry::Platform) -> State {
        let mut config = json!({
            "architecture": platform.architecture(),
            "os": platform.os(),
            "config": {"Env": [DEFAULT_PATH]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if let Some(v) = platform.variant() {
            config["variant"] = json!(v);
        }
        State {
            id: None,
            config,
            layers: Vec::new(),
            docker: true,
            top: None,
        }
    }

    /// The `config` object (docker's container configuration of the image).
    pub(crate) fn cfg(&mut self) -> &mut Map<String, Value> {
        let top = self.config.as_object_mut().map(|m| {
            m.entry("config")
                .or_insert_with(|| Value::Object(Map::new()))
        });
        let Some(cfg) = top else {
            unreachable!("the config is an object (checked when the state was made)")
        };
        if !cfg.is_object() {
            *cfg = Value::Object(Map::new());
        }
        match cfg {
            Value::Object(m) => m,
            _ => unreachable!("made an object just above"),
        }
    }

    /// A string list of the `config` object (`Env`, `Cmd`...).
    pub(crate) fn strings(&mut self, key: &str) -> Vec<String> {
        crate::commit::strings(self.cfg().get(key))
    }

    /// A string of the `config` object (`WorkingDir`, `User`...), empty when unset.
    pub(crate) fn string(&mut self, key: &str) -> String {
        self.cfg()
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    }

    /// The value of `name` in the config's `Env`.
    #[cfg(test)]
    pub(crate) fn env(&mut self, name: &str) -> Option<String> {
        self.strings("Env").into_iter().find_map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
            (k == name).then(|| v.to_owned())
        })
    }

    /// The image after a step: its history entry (and layer, if any) added, recorded in
    /// the store (untagged).
    pub(crate) fn commit(
        &self,
        store: &Store,
        driver: &dyn StorageDriver,
        layer: Option<&BuiltLayer>,
        created_by: &str,
    ) -> Result<(State, ImageRecord)> {
        let mut next = self.clone();
        let created = crate::create::now_rfc3339();
        let top = next.config.as_object_mut().ok_or_else(|| bad("config"))?;
        top.insert("created".into(), json!(created));
        let rootfs = top
            .entry("rootfs")
            .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
        if !rootfs.get("diff_ids").is_some_and(Value::is_array) {
            *rootfs = json!({"type": "layers", "diff_ids": []});
        }
        let ids = rootfs
            .get_mut("diff_ids")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| bad("rootfs"))?;
        let base_layers = ids.len();
        if let Some(l) = layer {
            ids.push(json!(l.diff_id.to_string()));
        }
        let history = top.entry("history").or_insert_with(|| json!([]));
        if !history.is_array() {
            *history = json!([]);
        }
        let history = history.as_array_mut().ok_or_else(|| bad("history"))?;
        let with_layer = history
            .iter()
            .filter(|h| h.get("empty_layer") != Some(&json!(true)))
            .count();
        // One history entry per layer, as tools that check them expect.
        for _ in with_layer..base_layers {
            history.push(json!({"created": created}));
        }
        let mut entry = json!({"created": created, "created_by": created_by});
        if layer.is_none() {
            entry["empty_layer"] = json!(true);
        }
        history.push(entry);
        if let Some(l) = layer {
            next.layers.push(json!({
                "mediaType": if next.docker { DOCKER_LAYER_GZIP } else { l.oci_media_type() },
                "digest": l.digest.to_string(),
                "size": l.size,
            }));
            next.top = Some(l.info.chain_id.clone());
        }
        let rec = next.record(store, driver)?;
        next.id = Some(rec.id.clone());
        Ok((next, rec))
    }

    /// Stores config and manifest and records the image.
    fn record(&self, store: &Store, driver: &dyn StorageDriver) -> Result<ImageRecord> {
        let config_bytes = serde_json::to_vec(&self.config)
            .map_err(|e| Error::json("encoding the image config", e))?;
        let config_digest = store.blobs().write_bytes(&config_bytes, None)?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": if self.docker { DOCKER_MANIFEST } else { OCI_MANIFEST },
            "config": {
                "mediaType": if self.docker { DOCKER_CONFIG } else { OCI_CONFIG },
                "digest": config_digest.to_string(),
                "size": config_bytes.len(),
            },
            "layers": self.layers,
        }))
        .map_err(|e| Error::json("encoding the manifest", e))?;
        let manifest_digest = store.blobs().write_bytes(&manifest, None)?;
        Ok(store.add_unpacked_image(
            &NewImage {
                repository: String::new(),
                tag: None,
                repo_digest: None,
                manifest_digest,
            },
            driver,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_has_the_default_path_and_no_layers() {
        let mut s = State::scratch(&registry::Platform::host());
        assert_eq!(s.strings("Env"), [DEFAULT_PATH]);
        assert!(s.id.is_none() && s.top.is_none());
        s.cfg().insert("WorkingDir".into(), json!("/app"));
        assert_eq!(s.string("WorkingDir"), "/app");
        assert_eq!(s.string("User"), "");
    }
}
