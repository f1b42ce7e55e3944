//! A container's user mounts as `create` resolves them: `-v HOST:/path` and `--mount
//! type=bind` bind host paths, `-v NAME:/path` and `--mount type=volume` mount named
//! volumes (created on first use), `-v /path` and the image's `VOLUME`s get anonymous
//! volumes, `--mount type=tmpfs` is a tmpfs. The result is kept in
//! `ROOT/containers/<id>/mounts.json` (what `inspect` shows as `Mounts` and what tells
//! which containers use a volume), and becomes plain bind and tmpfs options for the spec
//! builder. An empty volume gets a copy of the image's content at its destination
//! (docker's copy-up) unless `volume-nocopy`/`nocopy` says otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::Engine;
use crate::error::{Error, Result, invalid};
use crate::options::{CreateOptions, clean_abs, ram_in_bytes};
use crate::volumes::{self, ANONYMOUS_LABEL};

/// One `--mount` flag, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountSpec {
    /// `bind`, `volume` or `tmpfs`.
    pub typ: String,
    /// Host path or volume name (empty: an anonymous volume).
    pub source: String,
    /// The path in the container.
    pub target: PathBuf,
    /// `readonly`.
    pub read_only: bool,
    /// `bind-propagation` (`rprivate` by default).
    pub propagation: Option<String>,
    /// `volume-nocopy`.
    pub nocopy: bool,
    /// `volume-label`s.
    pub labels: BTreeMap<String, String>,
    /// `tmpfs-size` in bytes.
    pub tmpfs_size: Option<i64>,
    /// `tmpfs-mode` (octal).
    pub tmpfs_mode: Option<u32>,
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn truthy(flag: &str, v: Option<&str>, spec: &str) -> Result<bool> {
    match v.map(str::to_ascii_lowercase).as_deref() {
        None | Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(_) => {
            invalid!("invalid argument \"{spec}\" for \"--mount\" flag: invalid value for {flag}")
        }
    }
}

impl MountSpec {
    /// Docker's `--mount` CSV: `type=`, `source|src=`, `target|destination|dst=`,
    /// `readonly|ro[=bool]`, `bind-propagation=`, `volume-nocopy`, `volume-label=K=V`,
    /// `tmpfs-size=`, `tmpfs-mode=`; `consistency` is accepted and ignored.
    ///
    /// # Errors
    /// Docker's messages for an unknown field or type, a missing target, an option of
    /// another type.
    pub fn parse(spec: &str) -> Result<MountSpec> {
        let bad = |why: &str| {
            Error::Invalid(format!(
                "invalid argument \"{spec}\" for \"--mount\" flag: {why}"
            ))
        };
        let mut m = MountSpec {
            typ: "volume".into(),
            ..Default::default()
        };
        let mut typed: Vec<&str> = Vec::new();
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            let need = |v: Option<&str>| {
                v.map(str::to_owned).ok_or_else(|| {
                    bad(&format!("invalid field '{field}' must be a key=value pair"))
                })
            };
            match key.as_str() {
                "type" => m.typ = need(value)?,
                "source" | "src" => m.source = need(value)?,
                "target" | "destination" | "dst" => m.target = PathBuf::from(need(value)?),
                "readonly" | "ro" => m.read_only = truthy(&key, value, spec)?,
                "consistency" | "bind-nonrecursive" | "bind-recursive" => {}
                "bind-propagation" => {
                    let p = need(value)?;
                    if !PROPAGATIONS.contains(&p.as_str()) {
                        return Err(bad(&format!("invalid propagation mode: {p}")));
                    }
                    m.propagation = Some(p);
                    typed.push("bind");
                }
                "volume-nocopy" => {
                    m.nocopy = truthy(&key, value, spec)?;
                    typed.push("volume");
                }
                "volume-label" => {
                    let l = need(value)?;
                    let (k, v) = l.split_once('=').unwrap_or((&l, ""));
                    m.labels.insert(k.to_owned(), v.to_owned());
                    typed.push("volume");
                }
                "volume-driver" | "volume-opt" => typed.push("volume"),
                "tmpfs-size" => {
                    m.tmpfs_size = Some(ram_in_bytes(&need(value)?)?);
                    typed.push("tmpfs");
                }
                "tmpfs-mode" => {
                    let v = need(value)?;
                    m.tmpfs_mode = Some(
                        u32::from_str_radix(&v, 8)
                            .map_err(|_| bad(&format!("invalid tmpfs-mode: {v}")))?,
                    );
                    typed.push("tmpfs");
                }
                _ => return Err(bad(&format!("unexpected key '{key}' in '{field}'"))),
            }
        }
        if !matches!(m.typ.as_str(), "bind" | "volume" | "tmpfs") {
            invalid!(
                "invalid argument \"{spec}\" for \"--mount\" flag: invalid mount type: {:?}",
                m.typ
            );
        }
        if let Some(other) = typed.iter().find(|t| **t != m.typ) {
            invalid!(
                "invalid mount config: cannot mix '{other}' options with '{}' type",
                m.typ
            );
        }
        if m.target.as_os_str().is_empty() {
            invalid!(
                "invalid mount config for type \"{}\": field Target must not be empty",
                m.typ
            );
        }
        if !m.target.is_absolute() {
            invalid!(
                "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
                m.typ,
                m.target.display()
            );
        }
        match m.typ.as_str() {
            "bind" if m.source.is_empty() => {
                invalid!("invalid mount config for type \"bind\": field Source must not be empty")
            }
            "bind" if !m.source.starts_with('/') => invalid!(
                "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                m.source
            ),
            "tmpfs" if !m.source.is_empty() => {
                invalid!("invalid mount config for type \"tmpfs\": field Source must be empty")
            }
            _ => {}
        }
        m.target = clean_abs(&m.target);
        Ok(m)
    }
}

/// One mount of a container as `inspect` shows it (docker's `MountPoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub typ: String,
    /// The volume's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The host path (a volume's `_data`).
    pub source: PathBuf,
    /// The path in the container.
    pub destination: PathBuf,
    /// `local` for volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Docker's mode string (`z` for `-v NAME:/p`, `ro`...).
    pub mode: String,
    /// Read-write.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Bind propagation (empty for volumes and tmpfs).
    pub propagation: String,
    /// Whether the volume is the container's own (removed with `rm -v`); not shown.
    #[serde(default)]
    pub anonymous: bool,
    /// tmpfs options (`size=...`), not shown.
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// Copy the image's content into the volume when it is empty; not shown.
    #[serde(default)]
    pub copy_up: bool,
}

/// The mounts saved with a container (none for containers of earlier releases).
pub(crate) fn load(container_dir: &Path) -> Vec<MountPoint> {
    std::fs::read(container_dir.join("mounts.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// `inspect`'s `Mounts`, when the container has a mounts record.
pub(crate) fn document(container_dir: &Path) -> Option<Value> {
    if !container_dir.join("mounts.json").exists() {
        return None;
    }
    let shown: Vec<Value> = load(container_dir)
        .into_iter()
        .map(|m| {
            let mut v = json!({
                "Type": m.typ,
                "Source": m.source,
                "Destination": m.destination,
                "Mode": m.mode,
                "RW": m.rw,
                "Propagation": m.propagation,
            });
            if let Some(n) = m.name {
                v["Name"] = json!(n);
            }
            if let Some(d) = m.driver {
                v["Driver"] = json!(d);
            }
            v
        })
        .collect();
    Some(Value::Array(shown))
}

/// One `-v` flag: a bind (absolute source), a named volume, or an anonymous one.
fn from_volume_flag(spec: &str, root: &Path) -> Result<Option<MountPoint>> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => invalid!("invalid volume specification: '{spec}'"),
    };
    if source.starts_with('/') {
        return Ok(None); // a bind: the spec builder takes it as it is
    }
    if !target.starts_with('/') {
        invalid!("invalid volume specification: '{spec}': mount path must be absolute");
    }
    let mut rw = true;
    let mut nocopy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => rw = false,
            "rw" => rw = true,
            "nocopy" => nocopy = true,
            "z" | "Z" | "copy" => {}
            _ => invalid!("invalid volume specification: '{spec}': unknown option '{o}'"),
        }
    }
    let destination = clean_abs(Path::new(target));
    if destination == Path::new("/") {
        invalid!("invalid volume specification: '{spec}': destination can't be '/'");
    }
    let anonymous = source.is_empty();
    if !anonymous && !volumes::valid_name(source) {
        invalid!(
            "create {source}: \"{source}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }
    let _ = root;
    Ok(Some(MountPoint {
        typ: "volume".into(),
        name: (!anonymous).then(|| source.to_owned()),
        source: PathBuf::new(),
        destination,
        driver: Some("local".into()),
        mode: if opts.is_empty() {
            "z".into()
        } else {
            opts.to_owned()
        },
        rw,
        propagation: String::new(),
        anonymous,
        tmpfs_options: Vec::new(),
        copy_up: !nocopy,
    }))
}

fn from_mount_flag(m: &MountSpec) -> MountPoint {
    let mut tmpfs_options = Vec::new();
    if let Some(s) = m.tmpfs_size {
        tmpfs_options.push(format!("size={s}"));
    }
    if let Some(mode) = m.tmpfs_mode {
        tmpfs_options.push(format!("mode={mode:o}"));
    }
    let volume = m.typ == "volume";
    MountPoint {
        typ: m.typ.clone(),
        name: (volume && !m.source.is_empty()).then(|| m.source.clone()),
        source: if m.typ == "bind" {
            PathBuf::from(&m.source)
        } else {
            PathBuf::new()
        },
        destination: m.target.clone(),
        driver: volume.then(|| "local".into()),
        mode: String::new(),
        rw: !m.read_only,
        propagation: match m.typ.as_str() {
            "bind" => m.propagation.clone().unwrap_or_else(|| "rprivate".into()),
            _ => String::new(),
        },
        anonymous: volume && m.source.is_empty(),
        tmpfs_options,
        copy_up: volume && !m.nocopy,
    }
}

/// The resolved mounts of a container being created, and the volumes made for it
/// (removed again unless [`Planned::disarm`] is called).
#[derive(Debug)]
pub(crate) struct Planned {
    root: PathBuf,
    /// The user mounts, as saved.
    pub(crate) mounts: Vec<MountPoint>,
    created: Vec<String>,
    armed: bool,
    /// The volumes lock, held shared until the container's record is saved.
    _lock: fsutil::FileLock,
}

impl Planned {
    /// The options for the spec builder: volumes and `--mount`s as binds and tmpfs mounts.
    pub(crate) fn spec_options(&self, opts: &CreateOptions) -> CreateOptions {
        let mut out = opts.clone();
        out.volume
            .retain(|v| v.split(':').next().is_some_and(|s| s.starts_with('/')) && v.contains(':'));
        out.mount.clear();
        for m in &self.mounts {
            let mount_flag_bind = m.typ == "bind"
                && !opts.volume.iter().any(|v| {
                    v.split(':').nth(1).map(|t| clean_abs(Path::new(t)))
                        == Some(m.destination.clone())
                });
            match m.typ.as_str() {
                "tmpfs" => {
                    let mut spec = m.destination.display().to_string();
                    if !m.tmpfs_options.is_empty() {
                        spec = format!("{spec}:{}", m.tmpfs_options.join(","));
                    }
                    out.tmpfs.push(spec);
                }
                "volume" => out.volume.push(bind_spec(m)),
                _ if mount_flag_bind => out.volume.push(bind_spec(m)),
                _ => {}
            }
        }
        out
    }

    /// Copies the image's content into the new or empty volumes that want it, from the
    /// container's rootfs (mounted on the host for the copy, before its first start).
    pub(crate) fn copy_up(
        &self,
        driver: &dyn store::driver::StorageDriver,
        id: &str,
    ) -> Result<()> {
        let wanted: Vec<&MountPoint> = self
            .mounts
            .iter()
            .filter(|m| m.typ == "volume" && m.copy_up && dir_is_empty(&m.source))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let rootfs = crate::cp::HostRootfs::mount(&self.root, driver, id)?;
        for m in wanted {
            crate::cp::copy_up(rootfs.root()?, &m.destination, &m.source)?;
        }
        Ok(())
    }

    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Planned {
    fn drop(&mut self) {
        if self.armed {
            for name in &self.created {
                let _ = volumes::destroy(&self.root, name);
            }
        }
    }
}

fn bind_spec(m: &MountPoint) -> String {
    let mut opts = vec![if m.rw { "rw" } else { "ro" }.to_owned()];
    if !m.propagation.is_empty() && m.propagation != "rprivate" {
        opts.push(m.propagation.clone());
    }
    format!(
        "{}:{}:{}",
        m.source.display(),
        m.destination.display(),
        opts.join(",")
    )
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p).is_ok_and(|mut d| d.next().is_none())
}

impl Engine {
    /// Resolves the user mounts of `opts` and the image's `VOLUME`s (`image_volumes`),
    /// creating the volumes they name; saves nothing yet.
    pub(crate) fn plan_mounts(
        &self,
        opts: &CreateOptions,
        image_volumes: &[String],
    ) -> Result<Planned> {
        let root = self.config.root.clone();
        let mut mounts: Vec<MountPoint> = Vec::new();
        for v in &opts.volume {
            match from_volume_flag(v, &root)? {
                Some(m) => mounts.push(m),
                None => {
                    let b = crate::options::Volume::parse(v)?;
                    mounts.push(MountPoint {
                        typ: "bind".into(),
                        name: None,
                        source: clean_abs(&b.source),
                        destination: b.target,
                        driver: None,
                        mode: v.split(':').nth(2).unwrap_or("").to_owned(),
                        rw: !b.read_only,
                        propagation: "rprivate".into(),
                        anonymous: false,
                        tmpfs_options: Vec::new(),
                        copy_up: false,
                    });
                }
            }
        }
        for spec in &opts.mount {
            let m = MountSpec::parse(spec)?;
            if m.typ == "bind" && !Path::new(&m.source).exists() {
                invalid!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {}",
                    m.source
                );
            }
            mounts.push(from_mount_flag(&m));
        }
        let mut seen = std::collections::HashSet::new();
        for m in &mounts {
            if !seen.insert(m.destination.clone()) {
                invalid!("Duplicate mount point: {}", m.destination.display());
            }
        }
        let tmpfs: Vec<PathBuf> = opts
            .tmpfs
            .iter()
            .map(|t| clean_abs(Path::new(t.split(':').next().unwrap_or(t))))
            .collect();
        for v in image_volumes {
            let dest = clean_abs(Path::new(v));
            if dest != Path::new("/") && !seen.contains(&dest) && !tmpfs.contains(&dest) {
                seen.insert(dest.clone());
                mounts.push(MountPoint {
                    typ: "volume".into(),
                    name: None,
                    source: PathBuf::new(),
                    destination: dest,
                    driver: Some("local".into()),
                    mode: String::new(),
                    rw: true,
                    propagation: String::new(),
                    anonymous: true,
                    tmpfs_options: Vec::new(),
                    copy_up: true,
                });
            }
        }
        let lock = volumes::lock(&root, false)?;
        let mut planned = Planned {
            root: root.clone(),
            mounts: Vec::new(),
            created: Vec::new(),
            armed: true,
            _lock: lock,
        };
        for mut m in mounts {
            if m.typ == "volume" {
                let name = match &m.name {
                    Some(n) => n.clone(),
                    None => crate::names::new_id()?,
                };
                let mut labels = BTreeMap::new();
                if m.anonymous {
                    labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
                }
                let (vol, made) = volumes::ensure(&root, &name, labels, BTreeMap::new())?;
                if made {
                    planned.created.push(name.clone());
                }
                m.name = Some(name);
                m.source = vol.mountpoint;
            }
            planned.mounts.push(m);
        }
        Ok(planned)
    }

    /// Saves the planned mounts with the container (before its record); `durable:
    /// false` (a `--rm` container's, as its other records) skips the `fsync`s.
    pub(crate) fn save_mounts(&self, dir: &Path, planned: &Planned, durable: bool) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&planned.mounts)
            .map_err(|e| Error::json("encoding the mounts", e))?;
        let path = dir.join("mounts.json");
        if durable {
            Ok(fsutil::write_atomic(&path, &bytes)?)
        } else {
            Ok(fsutil::write_atomic_unsynced(&path, &bytes)?)
        }
    }

    /// Removes the anonymous volumes of a container being removed (`rm -v`, `--rm`);
    /// one another container mounts too stays.
    pub(crate) fn remove_anonymous_volumes(&self, container_dir: &Path, id: &str) {
        self.remove_volumes_of(&load(container_dir), id);
    }

    fn remove_volumes_of(&self, mounts: &[MountPoint], id: &str) {
        let root = &self.config.root;
        if !mounts.iter().any(|m| m.anonymous) {
            return;
        }
        let Ok(_lock) = volumes::lock(root, true) else {
            return;
        };
        let users = volumes::users(root);
        for m in mounts.iter().filter(|m| m.anonymous) {
            let Some(name) = &m.name else { continue };
            let shared = users.iter().any(|(other, ms)| {
                other != id && ms.iter().any(|x| x.name.as_deref() == Some(name.as_str()))
            });
            if !shared {
                let _ = volumes::destroy(root, name);
            }
        }
    }
}

impl Engine {
    /// `rm -v`: removes a container and its anonymous volumes (not named ones, nor one
    /// another container also mounts).
    ///
    /// # Errors
    /// As [`Engine::remove`].
    pub fn remove_with_volumes(&self, name: &str, force: bool) -> Result<()> {
        let rec = crate::recovery::lookup(self, name)?;
        let dir = crate::containers::Containers::new(&self.config.root).dir(&rec.id);
        let mounts = load(&dir);
        self.remove(name, force)?;
        self.remove_volumes_of(&mounts, &rec.id);
        Ok(())
    }

    /// `--volumes-from CONTAINER[:ro|rw]` (docker's): the `-v` options the donors' bind
    /// and volume mounts become (their volumes shared, not copied), read-only as the donor
    /// has them unless `:ro` or `:rw` says otherwise; a destination the options mount
    /// themselves keeps their mount. Tmpfs mounts are not shared (as docker's).
    ///
    /// # Errors
    /// No such container, or a mode other than `ro`/`rw` (docker's messages).
    pub(crate) fn volumes_from(&self, opts: &CreateOptions) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if opts.volumes_from.is_empty() {
            return Ok(out);
        }
        let mut taken: std::collections::HashSet<PathBuf> = opts
            .volume
            .iter()
            .map(|v| {
                let parts: Vec<&str> = v.split(':').collect();
                let target = if parts.len() == 1 { parts[0] } else { parts[1] };
                clean_abs(Path::new(target))
            })
            .collect();
        for m in &opts.mount {
            taken.insert(clean_abs(&MountSpec::parse(m)?.target));
        }
        let containers = crate::containers::Containers::new(&self.config.root);
        for from in &opts.volumes_from {
            let (name, mode) = match from.rsplit_once(':') {
                Some((n, m)) => (n, Some(m)),
                None => (from.as_str(), None),
            };
            let rw = match mode {
                None => None,
                Some("rw") => Some(true),
                Some("ro") => Some(false),
                Some(m) => invalid!("invalid mode for volumes-from: {m}"),
            };
            let donor = containers.resolve(name)?;
            for m in self.container_mounts(&donor.id) {
                if !taken.insert(m.destination.clone()) {
                    continue;
                }
                let source = match (m.typ.as_str(), &m.name) {
                    ("volume", Some(n)) => n.clone(),
                    ("bind", _) => m.source.to_string_lossy().into_owned(),
                    _ => continue,
                };
                let ro = !rw.unwrap_or(m.rw);
                out.push(format!(
                    "{source}:{}{}",
                    m.destination.display(),
                    if ro { ":ro" } else { "" }
                ));
            }
        }
        Ok(out)
    }

    /// The mounts of a container (`ps --filter volume=`, `ps` columns).
    pub fn container_mounts(&self, id: &str) -> Vec<MountPoint> {
        load(&crate::containers::Containers::new(&self.config.root).dir(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_flags_parse_like_docker() {
        let m = MountSpec::parse(
            "type=bind,source=/h,target=/c/../d,readonly,bind-propagation=rshared",
        )
        .unwrap();
        assert_eq!((m.typ.as_str(), m.source.as_str()), ("bind", "/h"));
        assert_eq!(m.target, Path::new("/d"));
        assert!(m.read_only);
        assert_eq!(m.propagation.as_deref(), Some("rshared"));
        let v = MountSpec::parse("src=data,dst=/data,volume-nocopy").unwrap();
        assert_eq!((v.typ.as_str(), v.nocopy), ("volume", true));
        let t = MountSpec::parse("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!((t.tmpfs_size, t.tmpfs_mode), (Some(1 << 20), Some(0o1770)));
        assert!(
            !MountSpec::parse("type=volume,target=/x,ro=false")
                .unwrap()
                .read_only
        );
        for bad in [
            "type=bind,target=/x",
            "type=bind,source=rel,target=/x",
            "type=nfs,target=/x",
            "type=volume,source=v",
            "type=tmpfs,target=/t,bind-propagation=shared",
            "type=bind,source=/a,target=rel",
            "type=bind,source=/a,target=/b,bogus=1",
            "type=bind,source=/a,target=/b,bind-propagation=weird",
            "type=tmpfs,source=x,target=/t",
        ] {
            assert!(MountSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volume_flags() {
        let root = Path::new("/r");
        assert_eq!(from_volume_flag("/h:/c", root).unwrap(), None);
        let n = from_volume_flag("data:/srv/data:ro", root)
            .unwrap()
            .unwrap();
        assert_eq!(n.name.as_deref(), Some("data"));
        assert!(!n.rw && n.copy_up && !n.anonymous);
        let a = from_volume_flag("/cache", root).unwrap().unwrap();
        assert!(a.anonymous && a.name.is_none());
        assert!(
            !from_volume_flag("data:/d:nocopy", root)
                .unwrap()
                .unwrap()
                .copy_up
        );
        for bad in ["x:/d", "data:rel", "data:/", "a:b:c:d", "data:/d:weird"] {
            assert!(from_volume_flag(bad, root).is_err(), "{bad}");
        }
    }
}
