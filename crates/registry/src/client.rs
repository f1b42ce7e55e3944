//! The registry client: configuration, and the request machinery every operation goes
//! through (scheme choice, authentication, redirects, bounded retries). Authentication
//! (challenges and bearer tokens) is in `token`, sending and redirects in `transport`.

mod token;
mod transport;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ureq::http::{Method, Response, StatusCode, header};

use crate::auth::{
    CachedToken, Challenge, Credentials, DockerConfig, HostScheme, Scope, normalize_server,
    parse_challenges,
};
use crate::error::Error;

use transport::is_insecure;
pub(crate) use transport::{
    header_str, is_transient, is_transient_io, read_errors, resolve_location, status_error,
};

/// Where a [`Client`] finds registry credentials.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum CredentialSource {
    /// Anonymous access only.
    None,
    /// Docker's `config.json` at its default place (`$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`); a missing file means anonymous access.
    #[default]
    DockerConfig,
    /// Docker's `config.json` at this path.
    DockerConfigFile(PathBuf),
    /// These credentials, keyed by registry (`docker.io`, `localhost:5000`).
    Static(Vec<(String, Credentials)>),
}

/// Settings of a [`Client`]. Build one with `ClientConfig { field: ..,
/// ..ClientConfig::default() }`.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Registries (`host` or `host:port`) spoken to over plain HTTP, like docker's
    /// `--insecure-registry`. Loopback registries (`localhost`, `127.0.0.0/8`, `::1`)
    /// always are.
    pub insecure_registries: Vec<String>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// How many times a transient failure (connection reset, timeout, HTTP 5xx or 429) is
    /// retried, per request and per blob download.
    pub max_retries: u32,
    /// Delay before the first retry; it doubles with each further retry, up to 8 times
    /// this value.
    pub retry_delay: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Timeout for each read and write on a connection, and for receiving response
    /// headers: a stalled transfer fails (and is retried) after this long.
    pub io_timeout: Duration,
    /// Largest manifest or index accepted (docker uses 4 MiB).
    pub max_manifest_size: u64,
    /// Largest number of redirects followed for one request.
    pub max_redirects: u32,
    /// Blobs up to this size are uploaded in one `PUT`; larger ones in `PATCH` chunks of
    /// this size.
    pub upload_chunk_size: u64,
    /// Where credentials come from.
    pub credentials: CredentialSource,
}

/// Docker's limit on manifest size.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            user_agent: concat!("mydocker/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_retries: 5,
            retry_delay: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(60),
            max_manifest_size: MAX_MANIFEST_SIZE,
            max_redirects: 10,
            upload_chunk_size: 64 * 1024 * 1024,
            credentials: CredentialSource::DockerConfig,
        }
    }
}

/// A synchronous OCI Distribution client.
///
/// Cheap to clone (clones share connections, the token cache and credentials) and
/// `Send + Sync`, so several threads can download layers at once. It starts no threads
/// of its own.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    agent: ureq::Agent,
    credentials: CredentialStore,
    schemes: Mutex<HashMap<String, HostScheme>>,
    tokens: Mutex<HashMap<TokenKey, CachedToken>>,
}

/// Tokens are cached per registry host, scope, and the credentials they were obtained
/// with (so checking other credentials never reuses a token).
type TokenKey = (String, String, Option<Credentials>);

enum CredentialStore {
    None,
    Docker(DockerConfig),
    Static(Vec<(String, Credentials)>),
}

/// Who a request is for: the registry (for credentials and messages), the API host, and
/// the token scopes it needs.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) registry: String,
    pub(crate) host: String,
    pub(crate) scopes: Vec<Scope>,
    /// Credentials to use instead of the configured ones (login verification).
    pub(crate) credentials: Option<Credentials>,
}

impl Target {
    fn scope_key(&self) -> String {
        self.scopes
            .iter()
            .map(Scope::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A request body.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A one-shot stream of exactly `len` bytes; requests with it are never retried.
    Stream(&'a mut dyn Read, u64),
}

impl Body<'_> {
    fn replayable(&self) -> bool {
        !matches!(self, Body::Stream(..))
    }
}

/// A request to send through [`Client::execute`].
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(header::HeaderName, String)>,
    pub(crate) body: Body<'a>,
}

impl<'a> Request<'a> {
    pub(crate) fn new(method: Method, url: String) -> Self {
        Self {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub(crate) fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Body<'a>) -> Self {
        self.body = body;
        self
    }

    /// GET and HEAD are safe to repeat; so are bodiless POSTs starting uploads, and
    /// requests whose body can be sent again.
    fn retryable(&self) -> bool {
        self.body.replayable()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Client {
    /// A client with `config`.
    ///
    /// # Errors
    /// When the credential source is a docker config file that exists but cannot be
    /// read or parsed ([`Error::ConfigRead`], [`Error::ConfigParse`]), or no config
    /// location is known for [`CredentialSource::DockerConfig`] (only when `HOME` and
    /// `DOCKER_CONFIG` are both unset, which then means anonymous access, not an error).
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let credentials = match &config.credentials {
            CredentialSource::None => CredentialStore::None,
            CredentialSource::DockerConfig => match DockerConfig::default_path() {
                Ok(path) => CredentialStore::Docker(DockerConfig::load(&path)?),
                Err(Error::NoConfigDir) => CredentialStore::None,
                Err(e) => return Err(e),
            },
            CredentialSource::DockerConfigFile(path) => {
                CredentialStore::Docker(DockerConfig::load(path)?)
            }
            CredentialSource::Static(list) => CredentialStore::Static(
                list.iter()
                    .map(|(r, c)| (normalize_server(r), c.clone()))
                    .collect(),
            ),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(config.user_agent.as_str())
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.io_timeout))
            .timeout_per_read(Some(config.io_timeout))
            .timeout_per_write(Some(config.io_timeout))
            .build()
            .into();
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                agent,
                credentials,
                schemes: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// `http://` for loopback and insecure registries, `https://` otherwise.
    pub fn scheme_for(&self, host: &str) -> &'static str {
        if is_insecure(host, &self.inner.config.insecure_registries) {
            "http"
        } else {
            "https"
        }
    }

    /// `SCHEME://HOST/v2/`
    pub(crate) fn base_url(&self, host: &str) -> String {
        format!("{}://{host}/v2/", self.scheme_for(host))
    }

    pub(crate) fn credentials_for(&self, target: &Target) -> Result<Option<Credentials>, Error> {
        if let Some(c) = &target.credentials {
            return Ok(Some(c.clone()));
        }
        match &self.inner.credentials {
            CredentialStore::None => Ok(None),
            CredentialStore::Docker(cfg) => cfg.credentials_for(&target.registry),
            CredentialStore::Static(list) => {
                let wanted = normalize_server(&target.registry);
                Ok(list
                    .iter()
                    .find(|(r, _)| *r == wanted)
                    .map(|(_, c)| c.clone()))
            }
        }
    }

    /// Sends `req` to `target`, authenticating as the registry asks (once per request),
    /// following redirects (dropping credentials when they leave the host), and retrying
    /// transient failures a bounded number of times. Returns the final response whatever
    /// its status.
    pub(crate) fn execute(
        &self,
        target: &Target,
        req: &mut Request<'_>,
    ) -> Result<Response<ureq::Body>, Error> {
        let cfg = &self.inner.config;
        let mut attempt = 0u32;
        let mut auth_retried = false;
        loop {
            let auth = self.auth_header(target)?;
            let resp = match self.send_following_redirects(target, req, auth.as_deref()) {
                Ok(resp) => resp,
                Err(e) if req.retryable() && attempt < cfg.max_retries && is_transient(&e) => {
                    self.backoff(attempt);
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !auth_retried {
                let challenges: Vec<Challenge> = resp
                    .headers()
                    .get_all(header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(parse_challenges)
                    .collect();
                if self.learn_challenge(target, &challenges, auth.is_some())? && req.retryable() {
                    auth_retried = true;
                    continue;
                }
                return Ok(resp);
            }
            let transient_status = status.is_server_error() || status.as_u16() == 429;
            if transient_status && req.retryable() && attempt < cfg.max_retries {
                drop(resp);
                self.backoff(attempt);
                attempt += 1;
                continue;
            }
            return Ok(resp);
        }
    }

    pub(crate) fn backoff(&self, attempt: u32) {
        let base = self.inner.config.retry_delay;
        let factor = 1u32 << attempt.min(3);
        std::thread::sleep(base.saturating_mul(factor));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Client>();
    }

    #[test]
    fn schemes() {
        let c = Client::new(ClientConfig {
            credentials: CredentialSource::None,
            ..ClientConfig::default()
        })
        .unwrap();
        assert_eq!(c.base_url("127.0.0.1:5000"), "http://127.0.0.1:5000/v2/");
        assert_eq!(
            c.base_url("registry-1.docker.io"),
            "https://registry-1.docker.io/v2/"
        );
    }
}
