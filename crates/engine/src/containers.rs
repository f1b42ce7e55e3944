//! Container records on disk: `ROOT/containers/<id>/container.json` (written atomically),
//! names reserved as symbolic links `ROOT/containers/names/<name>` -> `<id>`
//! (`symlink(2)` fails when the name exists, so two processes never take the same name), a
//! per-container lock that serialises operations on one container, and the lock that
//! tells a directory being created from one left by a crash.

use std::path::{Path, PathBuf};

use fsutil::FileLock;

use crate::error::{Error, Result};
use crate::record::Record;

/// Whether a container directory holds a record: an empty file is none (only an
/// unsynced write, a `--rm` container's, can leave one, after a crash of the machine).
pub(crate) fn has_record(dir: &Path) -> bool {
    std::fs::metadata(dir.join("container.json")).is_ok_and(|m| m.len() > 0)
}

fn to_json(rec: &Record) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(rec).map_err(|e| Error::json("encoding a container record", e))
}

/// The owner (a container ID) of the name reservation at `path`: the target of its
/// symbolic link, or, as older versions wrote it, the content of a regular file.
fn owner_of(path: &Path) -> Option<String> {
    match std::fs::read_link(path) {
        Ok(target) => target.into_os_string().into_string().ok(),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
            std::fs::read_to_string(path)
                .ok()
                .map(|s| s.trim().to_owned())
        }
        Err(_) => None,
    }
}

/// Whether `s` is a container ID (64 lowercase hex digits).
fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The lock file of `create`s in progress, in the containers directory.
const CREATE_LOCK: &str = ".create.lock";

/// The containers directory of a root.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    /// The containers of the state under `root`.
    pub fn new(root: &Path) -> Self {
        Containers {
            dir: root.join("containers"),
        }
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn names_dir(&self) -> PathBuf {
        self.dir.join("names")
    }

    /// Every record that can be read (a half-created directory without a record is
    /// skipped).
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io("reading", &self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("reading", &self.dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.len() != 64 {
                continue;
            }
            if let Ok(rec) = self.load(id) {
                out.push(rec);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Reads the record of container `id`.
    ///
    /// # Errors
    /// A missing or unreadable record.
    pub fn load(&self, id: &str) -> Result<Record> {
        let p = self.dir(id).join("container.json");
        let bytes = std::fs::read(&p).map_err(|e| Error::io("reading", &p, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::json(format!("parsing {}", p.display()), e))
    }

    /// Writes the record atomically (temp file, fsync, rename, fsync of the directory).
    /// The record of a `--rm` container is written without the `fsync`s: such a
    /// container does not outlive its run, and what a crash of the machine leaves of it
    /// (an empty record at worst) is a leftover that [`Containers::orphans`] lists.
    pub fn save(&self, rec: &Record) -> Result<()> {
        let path = self.dir(&rec.id).join("container.json");
        let json = to_json(rec)?;
        if rec.auto_remove {
            Ok(fsutil::write_atomic_unsynced(&path, &json)?)
        } else {
            Ok(fsutil::write_atomic(&path, &json)?)
        }
    }

    /// Finds a container by full ID, name, or unique ID prefix, as docker does.
    pub fn resolve(&self, name_or_id: &str) -> Result<Record> {
        let needle = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if needle.is_empty() {
            return Err(Error::NoSuchContainer(name_or_id.to_owned()));
        }
        if let Some(id) = owner_of(&self.names_dir().join(needle))
            && let Ok(rec) = self.load(&id)
            && rec.name == needle
        {
            return Ok(rec);
        }
        let all = self.list()?;
        if let Some(rec) = all.iter().find(|r| r.id == needle) {
            return Ok(rec.clone());
        }
        let matches: Vec<&Record> = all.iter().filter(|r| r.id.starts_with(needle)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NoSuchContainer(name_or_id.to_owned())),
            _ => Err(Error::Invalid(format!(
                "multiple containers found with provided prefix: {name_or_id}"
            ))),
        }
    }

    /// Reserves `name` for `id`; fails with docker's message when it is taken.
    ///
    /// The reservation is a symbolic link `names/<name>` -> `<id>`: `symlink(2)` creates
    /// the entry and its content in one step (and fails when the name exists), so no
    /// reader ever sees a reservation without its owner. A `durable` one (a container
    /// that outlives its run) is on disk when this returns (fsync of the directory); a
    /// `--rm` container's is not: after a crash of the machine its name is either free
    /// or names a container whose directory [`Containers::orphans`] lists.
    pub fn reserve_name(&self, name: &str, id: &str, durable: bool) -> Result<()> {
        let dir = self.names_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
        let path = dir.join(name);
        match std::os::unix::fs::symlink(id, &path) {
            Ok(()) if durable => Ok(fsutil::fsync_dir(&dir)?),
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = owner_of(&path).unwrap_or_default();
                // A reservation is stale, and taken over, when:
                // - its owner's directory is gone (a crash between reserving and creating);
                // - its owner now has another name (a crash in the middle of a rename);
                // - it names no container at all: an empty file is what a crash of the
                //   machine could leave of the regular files older versions wrote.
                let stale = !is_id(&owner)
                    || !self.dir(&owner).exists()
                    || self.load(&owner).is_ok_and(|r| r.name != name);
                if stale {
                    std::fs::remove_file(&path).map_err(|e| Error::io("removing", &path, e))?;
                    return self.reserve_name(name, id, durable);
                }
                Err(Error::Conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                )))
            }
            Err(e) => Err(Error::io("creating", &path, e)),
        }
    }

    /// Releases `name` if it belongs to `id`.
    pub fn release_name(&self, name: &str, id: &str) {
        let path = self.names_dir().join(name);
        if owner_of(&path).is_some_and(|owner| owner == id) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Takes the container's lock (serialises commands on one container).
    pub fn lock(&self, id: &str) -> Result<FileLock> {
        Ok(FileLock::exclusive(&self.dir(id).join("lock"))?)
    }

    /// Held (shared) by every `create` from before its directory exists until its record
    /// is saved: while anyone holds it, a directory without a record may be a container
    /// being created right now.
    pub fn creating(&self) -> Result<FileLock> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("creating", &self.dir, e))?;
        Ok(FileLock::shared(&self.dir.join(CREATE_LOCK))?)
    }

    /// The IDs of container directories left without a record by a `create` (or an `rm`)
    /// that was killed half-way, with the lock that proves no `create` is running; `None`
    /// when one is.
    pub fn orphans(&self) -> Result<Option<(FileLock, Vec<String>)>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(None);
        };
        let Some(lock) = FileLock::try_exclusive(&self.dir.join(CREATE_LOCK))? else {
            return Ok(None);
        };
        let mut ids = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.len() == 64
                && id.bytes().all(|b| b.is_ascii_hexdigit())
                && !has_record(&entry.path())
            {
                ids.push(id.to_owned());
            }
        }
        Ok(Some((lock, ids)))
    }

    /// Removes every name reserved for `id` (whatever the record says).
    pub fn release_names_of(&self, id: &str) {
        for entry in std::fs::read_dir(self.names_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if owner_of(&entry.path()).is_some_and(|owner| owner == id) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Writes the record atomically but without waiting for the disk: for state that only
    /// matters while this boot lasts (who is starting the container), which a crash of
    /// the machine makes moot anyway.
    pub fn save_unsynced(&self, rec: &Record) -> Result<()> {
        let path = self.dir(&rec.id).join("container.json");
        Ok(fsutil::write_atomic_unsynced(&path, &to_json(rec)?)?)
    }

    /// Which container (name) uses image `image_id`, for `rmi`.
    pub fn user_of(&self, image_id: &str) -> Option<String> {
        self.list()
            .ok()?
            .into_iter()
            .find(|r| r.image_id == image_id)
            .map(|r| r.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{NetSettings, State, is_alive, process_start};

    fn record(id: &str, name: &str) -> Record {
        Record {
            id: id.to_owned(),
            name: name.to_owned(),
            created: "2026-01-01T00:00:00Z".into(),
            image: "busybox".into(),
            image_id: "sha256:aa".into(),
            path: "sh".into(),
            args: vec![],
            driver: "overlay".into(),
            cgroup_path: "/mydocker/x".into(),
            tty: false,
            open_stdin: false,
            auto_remove: false,
            init: false,
            network: "none".into(),
            net: NetSettings::default(),
            ports: vec![],
            log_driver: String::new(),
            log_opts: vec![],
            user: String::new(),
            labels: Default::default(),
            options: Default::default(),
            state: State::default(),
        }
    }

    #[test]
    fn records_round_trip_and_resolve() {
        let root = tempfile::tempdir().unwrap();
        let c = Containers::new(root.path());
        let a = format!("abc{}", "0".repeat(61));
        let b = format!("abd{}", "1".repeat(61));
        for (id, name) in [(&a, "web"), (&b, "db")] {
            std::fs::create_dir_all(c.dir(id)).unwrap();
            c.reserve_name(name, id, true).unwrap();
            c.save(&record(id, name)).unwrap();
        }
        assert_eq!(c.resolve("web").unwrap().id, a);
        assert_eq!(c.resolve("/db").unwrap().id, b);
        assert_eq!(c.resolve("abc").unwrap().id, a);
        assert_eq!(c.resolve(&b).unwrap().name, "db");
        assert!(
            c.resolve("ab")
                .unwrap_err()
                .to_string()
                .contains("multiple")
        );
        assert!(
            c.resolve("zzz")
                .unwrap_err()
                .to_string()
                .contains("No such container")
        );
        assert_eq!(c.list().unwrap().len(), 2);
        assert!(matches!(
            c.user_of("sha256:aa").as_deref(),
            Some("web" | "db")
        ));
        assert!(c.user_of("sha256:bb").is_none());
    }

    #[test]
    fn names_are_unique_and_stale_reservations_are_reclaimed() {
        let root = tempfile::tempdir().unwrap();
        let c = Containers::new(root.path());
        let a = "a".repeat(64);
        std::fs::create_dir_all(c.dir(&a)).unwrap();
        c.reserve_name("web", &a, true).unwrap();
        let err = c
            .reserve_name("web", &"b".repeat(64), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is already in use by container"), "{err}");
        // The owner's directory disappears (crash): the name can be taken again.
        std::fs::remove_dir_all(c.dir(&a)).unwrap();
        let b = "b".repeat(64);
        std::fs::create_dir_all(c.dir(&b)).unwrap();
        c.reserve_name("web", &b, false).unwrap();
        c.release_name("web", &a); // not the owner: no effect
        assert_eq!(
            c.resolve("web").unwrap_err().to_string(),
            "No such container: web"
        );
        c.release_name("web", &b);
        c.reserve_name("web", &b, false).unwrap();
    }

    /// A reservation is a symbolic link to its owner. The regular files older versions
    /// wrote are still honoured, and an empty one (what a crash of the machine could
    /// leave of them) no longer holds its name forever: it is taken over.
    #[test]
    fn reservations_are_links_and_older_files_are_honoured() {
        let root = tempfile::tempdir().unwrap();
        let c = Containers::new(root.path());
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        for (id, name) in [(&a, "web"), (&b, "db")] {
            std::fs::create_dir_all(c.dir(id)).unwrap();
            c.save(&record(id, name)).unwrap();
        }
        c.reserve_name("db", &b, false).unwrap();
        let link = c.names_dir().join("db");
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(&b));
        assert_eq!(c.resolve("db").unwrap().id, b);

        std::fs::write(c.names_dir().join("web"), format!("{a}\n")).unwrap();
        assert_eq!(c.resolve("web").unwrap().id, a);
        let err = c.reserve_name("web", &b, true).unwrap_err().to_string();
        assert!(
            err.contains(&format!("in use by container \"{a}\"")),
            "{err}"
        );
        c.release_names_of(&a);
        assert!(!c.names_dir().join("web").exists());

        std::fs::write(c.names_dir().join("web"), "").unwrap();
        c.reserve_name("web", &a, true).unwrap();
        assert_eq!(owner_of(&c.names_dir().join("web")).as_deref(), Some(&*a));
        c.release_name("web", &a);
        assert!(std::fs::symlink_metadata(c.names_dir().join("web")).is_err());
    }

    /// What a crash of the machine can leave of a `--rm` container whose record was
    /// written unsynced (an empty record) is listed as an orphan, with the directories
    /// that have no record at all; a container with a record is not.
    #[test]
    fn empty_records_are_orphans() {
        let root = tempfile::tempdir().unwrap();
        let c = Containers::new(root.path());
        let (kept, empty, none) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        let mut rec = record(&kept, "kept");
        rec.auto_remove = true;
        for id in [&kept, &empty, &none] {
            std::fs::create_dir_all(c.dir(id)).unwrap();
        }
        c.save(&rec).unwrap();
        std::fs::write(c.dir(&empty).join("container.json"), b"").unwrap();
        let (_lock, mut orphans) = c.orphans().unwrap().unwrap();
        orphans.sort();
        assert_eq!(orphans, [empty, none]);
        assert_eq!(c.list().unwrap().len(), 1);
        assert!(c.load(&kept).unwrap().auto_remove);
    }

    #[test]
    fn liveness_uses_start_time() {
        let me = std::process::id();
        let start = process_start(me).unwrap();
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(0, 0));
    }
}
