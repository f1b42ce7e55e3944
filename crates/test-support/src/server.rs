//! A real `docker-registry` (Debian's build of distribution) on 127.0.0.1.
//!
//! The registry runs under a tiny `sh` supervisor whose stdin is a pipe held by the test
//! process. When that pipe reaches EOF (the [`Registry`] is dropped, or the test process
//! exits or crashes, closing its end), the supervisor kills the registry it started, by
//! PID, and removes the registry's directory. The supervisor runs in its own process
//! group, so a Ctrl-C aimed at the test run does not kill it before it cleans up.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use registry::{Client, ClientConfig, CredentialSource, Credentials, Reference};

use crate::error::{Error, IoContext};
use crate::fixtures::Fixtures;

/// The registry binary (`MYDOCKER_REGISTRY_BIN` overrides it).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

const SUPERVISOR: &str = r#"
"$1" serve "$2" >"$4" 2>&1 </dev/null &
pid=$!
echo "$pid"
exec >/dev/null
while read -r _; do :; done
kill "$pid" 2>/dev/null
i=0
while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -rf "$3"
"#;

/// How a registry authenticates clients.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum RegistryAuth {
    /// Open to everyone.
    #[default]
    None,
    /// Basic authentication against these users (bcrypt htpasswd file made with
    /// `htpasswd -Bbn`).
    Htpasswd(Vec<Credentials>),
    /// Bearer tokens from a token endpoint, as on Docker Hub (see
    /// [`crate::TokenServer::registry_auth`]).
    Token(TokenAuth),
}

/// The `auth: token` settings of a registry.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    /// Where clients get tokens.
    pub realm: String,
    /// The service name (token audience).
    pub service: String,
    /// The trusted token issuer.
    pub issuer: String,
    /// The PEM certificate bundle token signatures chain to.
    pub root_cert_pem: String,
}

/// Options of [`Registry::start`].
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Authentication.
    pub auth: RegistryAuth,
}

/// A running `docker-registry` on 127.0.0.1 with its own storage directory. Stopped (and
/// its directory removed) on drop, or when the test process ends however it ends.
pub struct Registry {
    host: String,
    dir: PathBuf,
    log: PathBuf,
    pid: u32,
    credentials: Option<Credentials>,
    supervisor: Mutex<Option<Child>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .field("dir", &self.dir)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<(Registry, Fixtures)> = OnceLock::new();
static SHARED_INIT: Mutex<()> = Mutex::new(());

impl Registry {
    /// The process-wide registry with the fixture images pushed (once per test process).
    ///
    /// # Panics
    /// When the registry cannot be started or the fixtures cannot be pushed: a test
    /// harness without its registry cannot do anything useful, and the message says why.
    pub fn shared() -> &'static Registry {
        &Self::shared_pair().0
    }

    pub(crate) fn shared_pair() -> &'static (Registry, Fixtures) {
        if let Some(pair) = SHARED.get() {
            return pair;
        }
        let _guard = SHARED_INIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pair) = SHARED.get() {
            return pair;
        }
        let started = Registry::start(RegistryOptions::default()).and_then(|r| {
            let fixtures = Fixtures::push(&r)?;
            Ok((r, fixtures))
        });
        match started {
            Ok(pair) => SHARED.get_or_init(|| pair),
            Err(e) => panic!("test-support: cannot set up the shared registry: {e}"),
        }
    }

    /// Starts a private registry.
    ///
    /// # Errors
    /// [`Error::Setup`] when the registry does not come up (its log is included),
    /// [`Error::Io`] for local failures, such as a missing `htpasswd`.
    pub fn start(options: RegistryOptions) -> Result<Self, Error> {
        let mut last = None;
        // A port picked as free can be taken before the registry binds it: try again.
        for _ in 0..5 {
            match Self::try_start(&options) {
                Ok(r) => return Ok(r),
                Err(StartError::PortTaken(e)) => last = Some(e),
                Err(StartError::Fatal(e)) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Setup("registry: no free port".into())))
    }

    fn try_start(options: &RegistryOptions) -> Result<Self, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("mydocker-registry-")
            .tempdir()
            .context(|| "creating the registry directory".into())?
            .keep();
        let guard = DirGuard(Some(dir.clone()));
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let (auth_yaml, credentials) = auth_config(&dir, &options.auth)?;
        let config = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: {host}\n  secret: mydocker-test-secret\n\
             {auth_yaml}",
            data = dir.join("data").display(),
        );
        let config_path = dir.join("config.yml");
        fs::write(&config_path, config).context(|| format!("writing {}", config_path.display()))?;
        let log = dir.join("registry.log");
        let bin = std::env::var_os("MYDOCKER_REGISTRY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(REGISTRY_BIN));
        if !bin.exists() {
            return Err(StartError::Fatal(Error::Setup(format!(
                "{} is missing: install Debian's docker-registry package (cargo xtask deps)",
                bin.display()
            ))));
        }
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("mydocker-registry-supervisor")
            .arg(&bin)
            .arg(&config_path)
            .arg(&dir)
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context(|| "spawning the registry supervisor (sh)".into())?;
        // From here on the supervisor owns the directory.
        guard.disarm();
        let pid = read_pid(&mut child)?;
        let registry = Registry {
            host,
            dir,
            log,
            pid,
            credentials,
            supervisor: Mutex::new(Some(child)),
        };
        registry.wait_ready()?;
        Ok(registry)
    }

    fn wait_ready(&self) -> Result<(), StartError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut delay = Duration::from_millis(20);
        while Instant::now() < deadline {
            if let Some(status) = http_status(&self.host, "/v2/") {
                if status == 200 || status == 401 {
                    return Ok(());
                }
            }
            if !Path::new(&format!("/proc/{}", self.pid)).exists() || is_zombie(self.pid) {
                break;
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        let log = self.log_text();
        let err = Error::Setup(format!(
            "registry on {} did not come up; its log:\n{log}",
            self.host
        ));
        if log.contains("address already in use") {
            Err(StartError::PortTaken(err))
        } else {
            Err(StartError::Fatal(err))
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The registry's directory (config, storage, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry's log so far (for diagnostics).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `127.0.0.1:PORT/NAME` parsed, e.g. `registry.reference("busybox:latest")`.
    ///
    /// # Errors
    /// [`Error::Registry`] when `name` does not make a valid reference.
    pub fn reference(&self, name: &str) -> Result<Reference, Error> {
        Ok(Reference::parse(&format!("{}/{name}", self.host)).map_err(registry::Error::from)?)
    }

    /// A client for this registry: no docker config involved, the registry's first
    /// htpasswd user as credentials (if any), and short retry delays.
    ///
    /// # Errors
    /// As [`Client::new`].
    pub fn client(&self) -> Result<Client, Error> {
        let credentials = match &self.credentials {
            Some(c) => CredentialSource::Static(vec![(self.host.clone(), c.clone())]),
            None => CredentialSource::None,
        };
        Ok(Client::new(test_client_config(credentials))?)
    }

    /// Stops the registry and removes its directory (also done on drop).
    pub fn stop(&self) {
        let child = self
            .supervisor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            // EOF on the supervisor's stdin tells it to clean up.
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if self.dir.exists() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The client settings tests use: the given credentials and quick retries.
pub fn test_client_config(credentials: CredentialSource) -> ClientConfig {
    ClientConfig {
        credentials,
        retry_delay: Duration::from_millis(20),
        max_retries: 3,
        ..ClientConfig::default()
    }
}

enum StartError {
    PortTaken(Error),
    Fatal(Error),
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        Self::Fatal(e)
    }
}

/// Removes a directory on drop unless disarmed.
struct DirGuard(Option<PathBuf>);

impl DirGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

fn free_port() -> Result<u16, Error> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .context(|| "finding a free port".into())?;
    Ok(l.local_addr()
        .context(|| "finding a free port".into())?
        .port())
}

fn read_pid(child: &mut Child) -> Result<u32, Error> {
    let Some(out) = child.stdout.take() else {
        return Err(Error::Setup("registry supervisor has no stdout".into()));
    };
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .context(|| "reading the registry PID".into())?;
    line.trim()
        .parse()
        .map_err(|_| Error::Setup(format!("registry supervisor printed {line:?}, not a PID")))
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// The status of `GET path` on `host`, or `None` if the server does not answer.
fn http_status(host: &str, path: &str) -> Option<u16> {
    let addr = host.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let line = std::str::from_utf8(&buf[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn auth_config(dir: &Path, auth: &RegistryAuth) -> Result<(String, Option<Credentials>), Error> {
    match auth {
        RegistryAuth::None => Ok((String::new(), None)),
        RegistryAuth::Htpasswd(users) => {
            let mut file = String::new();
            for u in users {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", &u.username, &u.password])
                    .output()
                    .context(|| {
                        "running htpasswd (install apache2-utils: cargo xtask deps)".into()
                    })?;
                if !out.status.success() {
                    return Err(Error::Setup(format!(
                        "htpasswd failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    )));
                }
                file.push_str(String::from_utf8_lossy(&out.stdout).trim());
                file.push('\n');
            }
            let path = dir.join("htpasswd");
            fs::write(&path, file).context(|| format!("writing {}", path.display()))?;
            Ok((
                format!(
                    "auth:\n  htpasswd:\n    realm: mydocker-test-realm\n    path: {}\n",
                    path.display()
                ),
                users.first().cloned(),
            ))
        }
        RegistryAuth::Token(t) => {
            let path = dir.join("token-root.pem");
            fs::write(&path, &t.root_cert_pem).context(|| format!("writing {}", path.display()))?;
            Ok((
                format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    t.realm,
                    t.service,
                    t.issuer,
                    path.display()
                ),
                None,
            ))
        }
    }
}
