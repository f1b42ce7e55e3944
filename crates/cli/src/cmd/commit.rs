//! `commit` and `import`: new images from a container's changes or from a filesystem tar.
//!
//! Both stream a tar (the storage driver's change set of the writable layer, or the
//! imported file) through gzip into a new layer blob and into the driver
//! ([`store::archive::build_layer`]), then write a config (history, diff IDs, `--change`
//! instructions) and a manifest of the base image's kind (docker v2s2 or OCI), and record
//! the image. It runs, pushes and pulls like any other.

use crate::cli::{CommitArgs, ImportArgs};
use crate::container::{Containers, Record, Status};
use crate::ctx::Ctx;
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::io::Read;
use store::archive::BuiltLayer;
use store::{Digest, NewImage, Store};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// `REPOSITORY[:TAG]` -> the store's (repository, tag), as docker validates it.
pub(crate) fn image_name(name: &str) -> Result<(String, String)> {
    let r = crate::cmd::pull::parse_reference(name)?;
    if r.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    Ok((r.name(), r.tag().unwrap_or("latest").to_owned()))
}

/// The familiar form of a store name (`docker.io/library/busybox:latest` -> `busybox:latest`).
pub(crate) fn familiar(repo: &str, tag: &str) -> String {
    format!("{}:{tag}", crate::cmd::images::familiar_repo(repo))
}

/// Freezes a running container's cgroup for the duration of a commit (docker's `--pause`).
struct Paused(Option<cgroup::AnyManager>);

impl Paused {
    fn new(ctx: &Ctx, rec: &Record, wanted: bool) -> Paused {
        let running = rec.state.status == Status::Running
            && crate::container::is_alive(rec.state.pid, rec.state.pid_start);
        if !wanted || !running {
            return Paused(None);
        }
        let cg = match crate::launch::cgroup_of(rec) {
            Ok(cg) => cg,
            Err(e) => {
                ctx.warn(format_args!("not pausing the container: {e:#}"));
                return Paused(None);
            }
        };
        match cg.freezer_state() {
            // Paused by the user: leave it so.
            Ok(cgroup::FreezerState::Frozen | cgroup::FreezerState::Freezing) => Paused(None),
            Ok(cgroup::FreezerState::Thawed) => match cg.freeze() {
                Ok(()) => Paused(Some(cg)),
                Err(e) => {
                    ctx.warn(format_args!("not pausing the container: {e}"));
                    Paused(None)
                }
            },
            Err(e) => {
                ctx.warn(format_args!("not pausing the container: {e}"));
                Paused(None)
            }
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(cg) = &self.0
            && let Err(e) = cg.thaw()
        {
            eprintln!("WARNING: thawing the container after commit: {e}");
        }
    }
}

pub(crate) fn commit(ctx: &Ctx, args: &CommitArgs) -> Result<()> {
    let containers = Containers::new(&ctx.root);
    // The true status: a container whose monitor died is ended first.
    let found = crate::monitor::lookup(ctx, &args.container)?;
    let target = args.repository.as_deref().map(image_name).transpose()?;
    // Fail on a bad instruction before doing any work.
    apply_changes(&mut Map::new(), &args.change)?;
    let _lock = containers.lock(&found.id)?;
    let rec = containers.load(&found.id)?;
    let store = ctx.store()?;
    let driver = store::driver::by_name(&store, &rec.driver)?;
    let base = store
        .image(&rec.image_id)
        .with_context(|| format!("the image of container {} is gone", rec.name))?;
    let base_config: Value = serde_json::from_slice(&store.blobs().read(&base.config_digest)?)
        .context("the base image's config is not valid JSON")?;
    let base_manifest: Value = serde_json::from_slice(&store.blobs().read(&base.manifest_digest)?)
        .context("the base image's manifest is not valid JSON")?;
    let spec_env = runtime_env(&containers, &rec);

    // The new blob and layer are unreferenced until the image is recorded.
    let _lease = store.lease()?;
    let layer = {
        let _paused = Paused::new(ctx, &rec, args.pause);
        store::archive::build_layer(&store, &*driver, base.top_chain_id(), &mut |w| {
            driver.changes(&rec.id, w)
        })
        .with_context(|| format!("committing the changes of {}", rec.name))?
    };
    let created = crate::launch::now_rfc3339();
    let mut config = base_config;
    let full_cmd: Vec<String> = std::iter::once(rec.path.clone())
        .chain(rec.args.iter().cloned())
        .collect();
    container_config(&mut config, &full_cmd, spec_env)?;
    let cfg = config_object(&mut config)?;
    apply_changes(cfg, &args.change)?;
    add_layer_to_config(
        &mut config,
        &layer.diff_id,
        &History {
            created: &created,
            author: args.author.as_deref(),
            created_by: &full_cmd.join(" "),
            comment: args.message.as_deref(),
        },
    )?;
    let image = record(
        &store,
        &*driver,
        &config,
        Some(&base_manifest),
        &layer,
        target,
    )?;
    println!("{}", image.id);
    Ok(())
}

/// The container's environment as its runtime spec has it, without what mydocker adds at
/// run time (`HOSTNAME`, `HOME`) unless the image had them.
fn runtime_env(containers: &Containers, rec: &Record) -> Option<Vec<String>> {
    let bytes = std::fs::read(containers.dir(&rec.id).join("config.json")).ok()?;
    let spec: oci_spec::runtime::Spec = serde_json::from_slice(&bytes).ok()?;
    spec.process().as_ref()?.env().clone()
}

fn config_object(config: &mut Value) -> Result<&mut Map<String, Value>> {
    let top = config
        .as_object_mut()
        .context("the image config is not a JSON object")?;
    let cfg = top
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    if cfg.is_null() {
        *cfg = Value::Object(Map::new());
    }
    cfg.as_object_mut()
        .context("the image config's `config` is not an object")
}

fn strings(v: Option<&Value>) -> Vec<String> {
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
        .context("the image config is not a JSON object")?;
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
        .context("the image config's rootfs is not an object")?
        .entry("diff_ids")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .context("the image config's diff_ids is not a list")?;
    let base_layers = ids.len();
    ids.push(json!(diff_id.to_string()));
    let history = top.entry("history").or_insert_with(|| json!([]));
    if history.is_null() {
        *history = json!([]);
    }
    let history = history
        .as_array_mut()
        .context("the image config's history is not a list")?;
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
    let config_bytes = serde_json::to_vec(config)?;
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
    }))?;
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

pub(crate) fn import(ctx: &Ctx, args: &ImportArgs) -> Result<()> {
    if args.file.contains("://") {
        bail!("importing from a URL is not supported: download the file and import it");
    }
    let target = args.repository.as_deref().map(image_name).transpose()?;
    let platform = match &args.platform {
        Some(p) => p
            .parse::<registry::Platform>()
            .map_err(|e| anyhow::anyhow!("invalid platform {p:?}: {e}"))?,
        None => registry::Platform::host(),
    };
    let mut changes = Map::new();
    apply_changes(&mut changes, &args.change)?;
    let input: Box<dyn Read + Send> = if args.file == "-" {
        if rustix::termios::isatty(std::io::stdin()) {
            bail!("requested import from stdin, but stdin is a terminal");
        }
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file))?)
    };
    let mut tar = decompressing(input)?;
    let store = ctx.store()?;
    let driver = ctx.driver(&store)?;
    let _lease = store.lease()?;
    let layer = store::archive::build_layer(&store, &*driver, None, &mut |w| {
        std::io::copy(&mut tar, w)
            .map(|_| ())
            .map_err(|e| store::Error::Io {
                op: "read",
                path: args.file.clone().into(),
                source: e,
            })
    })
    .with_context(|| format!("importing {}", args.file))?;
    let created = crate::launch::now_rfc3339();
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
    let source = if args.file == "-" {
        "Imported from -".to_owned()
    } else {
        format!("Imported from {}", args.file)
    };
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
    let image = record(&store, &*driver, &config, None, &layer, target)?;
    println!("{}", image.id);
    Ok(())
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
            Err(e) => return Err(e).context("reading the import source"),
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

// ---- `--change`: Dockerfile instructions applied to an image config ----

/// Applies docker's `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
/// STOPSIGNAL, USER, VOLUME, WORKDIR) to the `config` object of an image config.
pub(crate) fn apply_changes(cfg: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        let change = change.trim();
        let (word, rest) = match change.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (change, ""),
        };
        let instruction = word.to_ascii_uppercase();
        match instruction.as_str() {
            "CMD" => {
                cfg.insert("Cmd".into(), json!(exec_or_shell(rest)));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                cfg.insert("Entrypoint".into(), json!(exec_or_shell(rest)));
                // As in a Dockerfile: a new entrypoint drops the inherited command.
                if !cmd_set {
                    cfg.insert("Cmd".into(), Value::Null);
                }
            }
            "ENV" => {
                let mut env = strings(cfg.get("Env"));
                crate::parse::merge_env(&mut env, key_values(rest, "ENV", true)?);
                cfg.insert("Env".into(), json!(env));
            }
            "LABEL" => {
                let labels = cfg
                    .entry("Labels")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !labels.is_object() {
                    *labels = Value::Object(Map::new());
                }
                for kv in key_values(rest, "LABEL", false)? {
                    if let (Some((k, v)), Some(map)) = (kv.split_once('='), labels.as_object_mut())
                    {
                        map.insert(k.to_owned(), json!(v));
                    }
                }
            }
            "EXPOSE" => {
                let ports = cfg
                    .entry("ExposedPorts")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !ports.is_object() {
                    *ports = Value::Object(Map::new());
                }
                let words = shell_words(rest)?;
                if words.is_empty() {
                    bail!("EXPOSE requires at least one argument");
                }
                for w in words {
                    for p in exposed_ports(&w)? {
                        if let Some(map) = ports.as_object_mut() {
                            map.insert(p, json!({}));
                        }
                    }
                }
            }
            "VOLUME" => {
                let vols = cfg
                    .entry("Volumes")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !vols.is_object() {
                    *vols = Value::Object(Map::new());
                }
                let paths = match json_array(rest) {
                    Some(a) => a,
                    None => shell_words(rest)?,
                };
                if paths.is_empty() || paths.iter().any(String::is_empty) {
                    bail!("VOLUME specified can not be an empty string");
                }
                for p in paths {
                    if let Some(map) = vols.as_object_mut() {
                        map.insert(p, json!({}));
                    }
                }
            }
            "USER" | "STOPSIGNAL" => {
                if rest.is_empty() {
                    bail!("{instruction} requires exactly one argument");
                }
                let key = if instruction == "USER" {
                    "User"
                } else {
                    "StopSignal"
                };
                cfg.insert(key.into(), json!(rest));
            }
            "WORKDIR" => {
                if rest.is_empty() {
                    bail!("WORKDIR requires exactly one argument");
                }
                let dir = if rest.starts_with('/') {
                    rest.to_owned()
                } else {
                    let base = cfg
                        .get("WorkingDir")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .unwrap_or("/");
                    format!("{}/{rest}", base.trim_end_matches('/'))
                };
                cfg.insert("WorkingDir".into(), json!(dir));
            }
            "ONBUILD" => {
                if rest.is_empty() {
                    bail!("ONBUILD requires at least one argument");
                }
                let mut on = strings(cfg.get("OnBuild"));
                on.push(rest.to_owned());
                cfg.insert("OnBuild".into(), json!(on));
            }
            _ => bail!("{word} is not a valid change command"),
        }
    }
    Ok(())
}

/// `["a", "b"]` as a list, when it is a JSON array of strings.
fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// The exec form (`["a","b"]`) or the shell form (`/bin/sh -c "..."`) of CMD/ENTRYPOINT.
fn exec_or_shell(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_owned()])
}

/// `K=V K2="v 2"` (or, for ENV only, the legacy `K value with spaces`) as `K=V` strings.
fn key_values(rest: &str, instruction: &str, legacy: bool) -> Result<Vec<String>> {
    let words = shell_words(rest)?;
    let Some(first) = words.first() else {
        bail!("{instruction} requires at least one argument");
    };
    if !first.contains('=') {
        if !legacy {
            bail!("{instruction} names must be followed by '=': {rest}");
        }
        let (key, value) = rest
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .context("ENV must have two arguments")?;
        return Ok(vec![format!("{key}={value}")]);
    }
    words
        .into_iter()
        .map(|w| {
            if w.split('=').next().is_some_and(|k| !k.is_empty()) && w.contains('=') {
                Ok(w)
            } else {
                bail!("{instruction}: {w:?} is not NAME=VALUE")
            }
        })
        .collect()
}

/// Splits like a shell: whitespace separates, quotes group, backslash escapes.
fn shell_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => bail!("unterminated quote in {s:?}"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => bail!("unterminated quote in {s:?}"),
                        },
                        Some(c) => cur.push(c),
                        None => bail!("unterminated quote in {s:?}"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `80`, `80/udp`, `8000-8002/tcp` -> `["80/tcp"]`...
fn exposed_ports(spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    let port = |s: &str| -> Result<u16> {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .with_context(|| format!("invalid containerPort: {spec}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        bail!("invalid port range: {spec}");
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(changes: &[&str]) -> Map<String, Value> {
        let mut cfg = Map::new();
        cfg.insert("Cmd".into(), json!(["sh"]));
        cfg.insert("Env".into(), json!(["PATH=/bin", "A=old"]));
        cfg.insert("WorkingDir".into(), json!("/srv"));
        let owned: Vec<String> = changes.iter().map(|s| (*s).to_owned()).collect();
        apply_changes(&mut cfg, &owned).unwrap();
        cfg
    }

    #[test]
    fn dockerfile_instructions_as_docker_applies_them() {
        let c = changed(&[
            r#"CMD ["echo", "hi"]"#,
            "ENV A=new B=\"two words\" C=3",
            "env D legacy form value",
            "WORKDIR app",
            "EXPOSE 80 53/udp 8000-8001",
            "USER nobody:nogroup",
            "LABEL version=1.0 \"maintainer\"=me",
            "VOLUME /data /logs",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN true",
        ]);
        assert_eq!(c["Cmd"], json!(["echo", "hi"]));
        assert_eq!(
            c["Env"],
            json!([
                "PATH=/bin",
                "A=new",
                "B=two words",
                "C=3",
                "D=legacy form value"
            ])
        );
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(c["User"], json!("nobody:nogroup"));
        assert_eq!(c["Labels"], json!({"version": "1.0", "maintainer": "me"}));
        assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}}));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
        assert_eq!(c["OnBuild"], json!(["RUN true"]));
        // Shell form; ENTRYPOINT drops the inherited CMD unless CMD is set too.
        let c = changed(&["CMD echo $HOME"]);
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo $HOME"]));
        let c = changed(&["ENTRYPOINT [\"/bin/cat\"]"]);
        assert_eq!(c["Entrypoint"], json!(["/bin/cat"]));
        assert_eq!(c["Cmd"], Value::Null);
        let c = changed(&["CMD [\"/etc/hosts\"]", "ENTRYPOINT [\"/bin/cat\"]"]);
        assert_eq!(c["Cmd"], json!(["/etc/hosts"]));
        let c = changed(&["WORKDIR /abs"]);
        assert_eq!(c["WorkingDir"], json!("/abs"));
    }

    #[test]
    fn bad_instructions_are_errors() {
        for bad in [
            "RUN rm -rf /",
            "FROM scratch",
            "EXPOSE",
            "EXPOSE 99999",
            "EXPOSE 80/xyz",
            "ENV",
            "ENV A=\"unterminated",
            "LABEL novalue",
            "USER",
        ] {
            let mut cfg = Map::new();
            assert!(
                apply_changes(&mut cfg, &[bad.to_owned()]).is_err(),
                "{bad} was accepted"
            );
        }
    }

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
