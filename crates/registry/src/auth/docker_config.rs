//! Docker's client configuration file, `config.json`, as far as credentials go: where it
//! is, reading `auths` entries as docker does, and saving it atomically.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Credentials, auth_key, normalize_server};
use crate::error::Error;

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json` (empty values count as
/// unset, as in docker).
fn config_path_from(
    docker_config: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf, Error> {
    if let Some(dir) = docker_config.filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    match home.filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".docker").join("config.json")),
        None => Err(Error::NoConfigDir),
    }
}

/// Docker's client configuration file (`config.json`), as far as credentials go. Other
/// fields are kept untouched when saving.
#[derive(Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let servers: Vec<&String> = self
            .doc
            .get("auths")
            .and_then(|a| a.as_object())
            .map(|a| a.keys().collect())
            .unwrap_or_default();
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .field("auths", &servers)
            .finish()
    }
}

impl DockerConfig {
    /// Where docker looks for its config: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`.
    ///
    /// # Errors
    /// [`Error::NoConfigDir`] when neither variable is set.
    pub fn default_path() -> Result<PathBuf, Error> {
        config_path_from(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))
    }

    /// Loads the config at [`DockerConfig::default_path`].
    ///
    /// # Errors
    /// As [`DockerConfig::load`].
    pub fn load_default() -> Result<Self, Error> {
        Self::load(&Self::default_path()?)
    }

    /// Loads `path`; a missing file is an empty config.
    ///
    /// # Errors
    /// [`Error::ConfigRead`] when the file cannot be read, [`Error::ConfigParse`] when it
    /// is not a JSON object.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let doc = match fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => serde_json::Map::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::ConfigParse {
                path: path.to_owned(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
            Err(source) => {
                return Err(Error::ConfigRead {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Ok(Self {
            path: path.to_owned(),
            doc,
        })
    }

    /// The file this config was loaded from and saves to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn auths(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        self.doc.get("auths").and_then(|a| a.as_object())
    }

    /// The credentials stored for `registry` (`docker.io`, `localhost:5000`, or any form
    /// docker accepts such as `https://index.docker.io/v1/`), if any.
    ///
    /// Entries are matched like docker does: exactly first, then by host name with any
    /// scheme and path stripped. Credential helpers (`credsStore`, `credHelpers`) are not
    /// consulted.
    ///
    /// # Errors
    /// [`Error::InvalidAuthEntry`] when the matching entry is unusable (bad base64, no
    /// `:` separator).
    pub fn credentials_for(&self, registry: &str) -> Result<Option<Credentials>, Error> {
        let Some(auths) = self.auths() else {
            return Ok(None);
        };
        let wanted = normalize_server(registry);
        let exact = auths.get_key_value(&auth_key(registry));
        let entry = exact.or_else(|| {
            auths
                .iter()
                .find(|(key, _)| normalize_server(key) == wanted)
        });
        match entry {
            Some((key, value)) => self.decode_entry(key, value),
            None => Ok(None),
        }
    }

    fn decode_entry(
        &self,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<Option<Credentials>, Error> {
        let invalid = |reason: &'static str| Error::InvalidAuthEntry {
            path: self.path.clone(),
            server: key.to_owned(),
            reason,
        };
        let Some(obj) = value.as_object() else {
            return Err(invalid("the entry is not a JSON object"));
        };
        let field = |name: &str| obj.get(name).and_then(|v| v.as_str()).unwrap_or("");
        let auth = field("auth");
        if !auth.is_empty() {
            let decoded = BASE64
                .decode(auth.trim())
                .map_err(|_| invalid("the auth field is not valid base64"))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| invalid("the auth field is not UTF-8"))?;
            let Some((user, pass)) = decoded.split_once(':') else {
                return Err(invalid(
                    "the auth field lacks the ':' between user and password",
                ));
            };
            return Ok(Some(Credentials::new(user, pass.trim_end_matches('\n'))));
        }
        let (user, pass) = (field("username"), field("password"));
        if !user.is_empty() || !pass.is_empty() {
            return Ok(Some(Credentials::new(user, pass)));
        }
        Ok(None)
    }

    /// Stores `credentials` for `registry` (as docker does: a base64 `auth` field under
    /// [`auth_key`]). Call [`DockerConfig::save`] to write the file.
    pub fn set_credentials(&mut self, registry: &str, credentials: &Credentials) {
        let key = auth_key(registry);
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
        if !auths.is_object() {
            *auths = serde_json::Value::Object(serde_json::Map::new());
        }
        if let Some(auths) = auths.as_object_mut() {
            // Drop other spellings of the same registry so the new entry is the one used.
            let wanted = normalize_server(registry);
            auths.retain(|k, _| normalize_server(k) != wanted);
            let raw = format!("{}:{}", credentials.username, credentials.password);
            auths.insert(key, serde_json::json!({ "auth": BASE64.encode(raw) }));
        }
    }

    /// Erases every entry for `registry`; returns whether there was one. Call
    /// [`DockerConfig::save`] to write the file.
    pub fn remove_credentials(&mut self, registry: &str) -> bool {
        let wanted = normalize_server(registry);
        match self.doc.get_mut("auths").and_then(|a| a.as_object_mut()) {
            Some(auths) => {
                let before = auths.len();
                auths.retain(|k, _| normalize_server(k) != wanted);
                auths.len() != before
            }
            None => false,
        }
    }

    /// Writes the config atomically (temporary file, fsync, rename) with mode 0600,
    /// creating its directory (mode 0700) if needed.
    ///
    /// # Errors
    /// [`Error::ConfigWrite`] on any I/O failure; the previous file is then untouched.
    pub fn save(&self) -> Result<(), Error> {
        let werr = |source| Error::ConfigWrite {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(werr)?;
        }
        let mut json =
            serde_json::to_vec_pretty(&self.doc).map_err(|e| werr(std::io::Error::other(e)))?;
        json.push(b'\n');
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".to_owned());
        let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            if let Ok(d) = fs::File::open(&dir) {
                // Persist the rename; failure to sync a directory is not fatal.
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(werr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::DOCKER_HUB_AUTH_KEY;

    fn config_with(json: &str) -> (tempfile::TempDir, DockerConfig) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, json).unwrap();
        let cfg = DockerConfig::load(&path).unwrap();
        (dir, cfg)
    }

    #[test]
    fn reads_auth_and_username_password_entries() {
        let (_d, cfg) = config_with(
            r#"{"auths":{
                "https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="},
                "http://localhost:5000/v2/":{"username":"a","password":"b"},
                "quay.io":{},
                "bad.example":{"auth":"%%%"},
                "nocolon.example":{"auth":"bm9jb2xvbg=="}
            },"credsStore":"desktop"}"#,
        );
        assert_eq!(
            cfg.credentials_for("docker.io").unwrap(),
            Some(Credentials::new("hub", "secret"))
        );
        assert_eq!(
            cfg.credentials_for("localhost:5000").unwrap(),
            Some(Credentials::new("a", "b"))
        );
        assert_eq!(cfg.credentials_for("quay.io").unwrap(), None);
        assert_eq!(cfg.credentials_for("other.example").unwrap(), None);
        let err = cfg.credentials_for("bad.example").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("base64"), "{err}");
        assert!(cfg.credentials_for("nocolon.example").is_err());
    }

    #[test]
    fn missing_and_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DockerConfig::load(&dir.path().join("nope.json")).unwrap();
        assert_eq!(cfg.credentials_for("docker.io").unwrap(), None);
        let (_d, err) = {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("config.json");
            fs::write(&p, "{not json").unwrap();
            let e = DockerConfig::load(&p).unwrap_err();
            (d, e)
        };
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
    }

    #[test]
    fn save_is_atomic_0600_and_keeps_other_fields() {
        let (dir, mut cfg) = config_with(
            r#"{"auths":{"http://localhost:5000":{"auth":"eDp5"}},"psFormat":"table {{.ID}}"}"#,
        );
        cfg.set_credentials("localhost:5000", &Credentials::new("user", "pa:ss"));
        cfg.set_credentials("docker.io", &Credentials::new("hub", "tok"));
        cfg.save().unwrap();
        let path = dir.path().join("config.json");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "table {{.ID}}");
        // The old spelling was replaced by docker's key.
        assert!(doc["auths"].get("http://localhost:5000").is_none());
        assert_eq!(
            doc["auths"]["localhost:5000"]["auth"],
            BASE64.encode("user:pa:ss")
        );
        assert!(doc["auths"].get(DOCKER_HUB_AUTH_KEY).is_some());
        // No temporary files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        let reread = DockerConfig::load(&path).unwrap();
        assert_eq!(
            reread.credentials_for("localhost:5000").unwrap(),
            Some(Credentials::new("user", "pa:ss"))
        );
        let mut reread = reread;
        assert!(reread.remove_credentials("http://localhost:5000/"));
        assert!(!reread.remove_credentials("localhost:5000"));
        reread.save().unwrap();
        let again = DockerConfig::load(&path).unwrap();
        assert_eq!(again.credentials_for("localhost:5000").unwrap(), None);
        assert!(again.credentials_for("docker.io").unwrap().is_some());
    }

    #[test]
    fn save_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.json");
        let mut cfg = DockerConfig::load(&path).unwrap();
        cfg.set_credentials("r.example", &Credentials::new("a", "b"));
        cfg.save().unwrap();
        let mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        assert!(path.exists());
    }

    #[test]
    fn config_location_honours_docker_config() {
        let p = |d: Option<&str>, h: Option<&str>| {
            config_path_from(d.map(Into::into), h.map(Into::into))
        };
        assert_eq!(
            p(Some("/cfg"), Some("/home/u")).unwrap(),
            PathBuf::from("/cfg/config.json")
        );
        assert_eq!(
            p(Some(""), Some("/home/u")).unwrap(),
            PathBuf::from("/home/u/.docker/config.json")
        );
        assert_eq!(
            p(None, Some("/home/u")).unwrap(),
            PathBuf::from("/home/u/.docker/config.json")
        );
        assert!(matches!(p(None, None), Err(Error::NoConfigDir)));
    }
}
