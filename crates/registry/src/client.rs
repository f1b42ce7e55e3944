//! The registry client: configuration, and the request machinery every operation goes
//! through (scheme choice, authentication, redirects, bounded retries).

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ureq::http::{self, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};

use crate::auth::{
    CachedToken, Challenge, Credentials, DockerConfig, HostScheme, MIN_TOKEN_LIFETIME, Scope,
    TokenResponse, normalize_server, parse_challenges, query_escape,
};
use crate::error::{Error, ErrorCode, RegistryErrors};

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

    /// Records what a 401 taught us; returns whether a retry can do better.
    fn learn_challenge(
        &self,
        target: &Target,
        challenges: &[Challenge],
        sent_auth: bool,
    ) -> Result<bool, Error> {
        let bearer = challenges.iter().find(|c| c.scheme == "bearer");
        let basic = challenges.iter().find(|c| c.scheme == "basic");
        if let Some(b) = bearer {
            let Some(realm) = b.param("realm").filter(|r| !r.is_empty()) else {
                return Err(Error::InvalidChallenge {
                    host: target.host.clone(),
                    challenge: format!("{:?}", b.params),
                });
            };
            let scheme = HostScheme::Bearer {
                realm: realm.to_owned(),
                service: b.param("service").map(str::to_owned),
            };
            lock(&self.inner.schemes).insert(target.host.clone(), scheme);
            // Whatever token we sent is no good (expired or insufficient scope).
            let key = (
                target.host.clone(),
                target.scope_key(),
                self.credentials_for(target)?,
            );
            lock(&self.inner.tokens).remove(&key);
            return Ok(true);
        }
        if basic.is_some() {
            let had = lock(&self.inner.schemes).insert(target.host.clone(), HostScheme::Basic);
            let creds = self.credentials_for(target)?;
            // Retry only if we have credentials we have not just sent.
            return Ok(creds.is_some() && !(sent_auth && had == Some(HostScheme::Basic)));
        }
        Ok(false)
    }

    /// The `Authorization` header for `target`, fetching a bearer token if needed.
    fn auth_header(&self, target: &Target) -> Result<Option<String>, Error> {
        let scheme = lock(&self.inner.schemes).get(&target.host).cloned();
        match scheme {
            None => Ok(None),
            Some(HostScheme::Basic) => Ok(self.credentials_for(target)?.map(|c| c.basic_header())),
            Some(HostScheme::Bearer { realm, service }) => {
                let key = (
                    target.host.clone(),
                    target.scope_key(),
                    self.credentials_for(target)?,
                );
                if let Some(t) = lock(&self.inner.tokens).get(&key) {
                    if t.is_fresh() {
                        return Ok(Some(format!("Bearer {}", t.token)));
                    }
                }
                let token = self.fetch_token(target, &realm, service.as_deref())?;
                let header = format!("Bearer {}", token.token);
                lock(&self.inner.tokens).insert(key, token);
                Ok(Some(header))
            }
        }
    }

    /// `GET realm?service=..&scope=..`, with basic credentials when we have some.
    fn fetch_token(
        &self,
        target: &Target,
        realm: &str,
        service: Option<&str>,
    ) -> Result<CachedToken, Error> {
        let mut params: Vec<String> = Vec::new();
        if let Some(s) = service {
            params.push(format!("service={}", query_escape(s)));
        }
        for scope in &target.scopes {
            params.push(format!("scope={}", query_escape(&scope.to_string())));
        }
        let creds = self.credentials_for(target)?;
        if let Some(c) = &creds {
            params.push(format!("account={}", query_escape(&c.username)));
        }
        let mut url = realm.to_owned();
        if !params.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&params.join("&"));
        }
        let token_target = Target {
            registry: target.registry.clone(),
            host: authority_of(&url).unwrap_or_default(),
            scopes: Vec::new(),
            credentials: None,
        };
        let mut req = Request::new(Method::GET, url);
        let auth = creds.as_ref().map(Credentials::basic_header);
        let mut attempt = 0;
        let mut resp = loop {
            match self.send_following_redirects(&token_target, &mut req, auth.as_deref()) {
                Ok(r)
                    if (r.status().is_server_error() || r.status().as_u16() == 429)
                        && attempt < self.inner.config.max_retries =>
                {
                    drop(r);
                }
                Ok(r) => break r,
                Err(e) if is_transient(&e) && attempt < self.inner.config.max_retries => {}
                Err(e) => return Err(e),
            }
            self.backoff(attempt);
            attempt += 1;
        };
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_vec()
            .map_err(|e| Error::MalformedToken {
                realm: realm.to_owned(),
                reason: format!("reading the response: {e}"),
            })?;
        if !status.is_success() {
            let errors = RegistryErrors::parse(&body);
            let message = if errors.is_empty() {
                let text = String::from_utf8_lossy(&body);
                let text = text.trim();
                if text.is_empty() {
                    status.canonical_reason().unwrap_or("").to_owned()
                } else {
                    text.chars().take(200).collect()
                }
            } else {
                errors.to_string()
            };
            return Err(Error::TokenDenied {
                realm: realm.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| Error::MalformedToken {
                realm: realm.to_owned(),
                reason: e.to_string(),
            })?;
        let token = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| Error::MalformedToken {
                realm: realm.to_owned(),
                reason: "neither token nor access_token is set".to_owned(),
            })?;
        let lifetime = parsed
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(MIN_TOKEN_LIFETIME)
            .max(MIN_TOKEN_LIFETIME);
        Ok(CachedToken {
            token,
            expires: Instant::now() + lifetime,
        })
    }

    /// Sends `req`, following redirects of GET and HEAD requests. The `Authorization`
    /// header goes only to the original host:port (and scheme); once a redirect leaves
    /// it, credentials are never sent again for this request.
    fn send_following_redirects(
        &self,
        target: &Target,
        req: &mut Request<'_>,
        auth: Option<&str>,
    ) -> Result<Response<ureq::Body>, Error> {
        let follow = req.method == Method::GET || req.method == Method::HEAD;
        let origin = origin_of(&req.url);
        let mut url = req.url.clone();
        let mut auth = auth;
        for _ in 0..=self.inner.config.max_redirects {
            if auth.is_some() && origin_of(&url) != origin {
                auth = None;
            }
            let resp = self.send_once(target, req, &url, auth)?;
            let status = resp.status();
            if !follow || !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let Some(location) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
            else {
                return Ok(resp);
            };
            url = resolve_location(&url, location).ok_or_else(|| Error::Protocol {
                method: req.method.to_string(),
                url: url.clone(),
                reason: format!("unusable redirect location {location:?}"),
            })?;
        }
        Err(Error::TooManyRedirects {
            url: req.url.clone(),
        })
    }

    fn send_once(
        &self,
        target: &Target,
        req: &mut Request<'_>,
        url: &str,
        auth: Option<&str>,
    ) -> Result<Response<ureq::Body>, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
        let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let mut builder = http::Request::builder().method(req.method.clone()).uri(uri);
        for (name, value) in &req.headers {
            builder = builder.header(name, value.as_str());
        }
        if let Some(a) = auth {
            builder = builder.header(header::AUTHORIZATION, a);
        }
        let agent = &self.inner.agent;
        let unreachable = |e: ureq::Error| Error::Unreachable {
            host: if host.is_empty() {
                target.host.clone()
            } else {
                host.clone()
            },
            source: Box::new(e),
        };
        let result = match &mut req.body {
            Body::Empty => {
                let r = builder.body(()).map_err(|e| invalid(e.to_string()))?;
                agent.run(r)
            }
            Body::Bytes(b) => {
                let r = builder
                    .header(header::CONTENT_LENGTH, b.len())
                    .body(*b)
                    .map_err(|e| invalid(e.to_string()))?;
                agent.run(r)
            }
            Body::Stream(reader, len) => {
                let r = builder
                    .header(header::CONTENT_LENGTH, *len)
                    .body(ureq::SendBody::from_reader(&mut **reader))
                    .map_err(|e| invalid(e.to_string()))?;
                agent.run(r)
            }
        };
        result.map_err(unreachable)
    }
}

/// Reads (at most 64 KiB of) an error response body and parses the registry's errors.
pub(crate) fn read_errors(resp: &mut Response<ureq::Body>) -> RegistryErrors {
    match resp.body_mut().with_config().limit(64 * 1024).read_to_vec() {
        Ok(body) => RegistryErrors::parse(&body),
        Err(_) => RegistryErrors::default(),
    }
}

/// A generic error for an unexpected status.
pub(crate) fn status_error(method: &Method, url: &str, resp: &mut Response<ureq::Body>) -> Error {
    let status = resp.status().as_u16();
    let errors = read_errors(resp);
    let errors = match status {
        401 => errors.or_entry(ErrorCode::Unauthorized, "authentication required"),
        403 => errors.or_entry(
            ErrorCode::Denied,
            "requested access to the resource is denied",
        ),
        _ => errors,
    };
    Error::Registry {
        method: method.to_string(),
        url: url.to_owned(),
        status,
        errors,
    }
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap<HeaderValue>, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether an error is worth retrying: a connection that broke or stalled, not one that
/// could not be made at all or a protocol violation.
pub(crate) fn is_transient(e: &Error) -> bool {
    match e {
        Error::Unreachable { source, .. } => match source.as_ref() {
            ureq::Error::Io(io) => is_transient_io(io),
            ureq::Error::Timeout(_) => true,
            _ => false,
        },
        Error::Transfer { source, .. } => is_transient_io(source),
        _ => false,
    }
}

pub(crate) fn is_transient_io(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<ureq::Error>()) {
        return match inner {
            ureq::Error::Io(io) => is_transient_io(io),
            ureq::Error::Timeout(_) => true,
            // ureq reports a body cut short or a broken chunked encoding this way.
            ureq::Error::Protocol(_) => true,
            _ => false,
        };
    }
    matches!(
        e.kind(),
        K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::TimedOut
            | K::WouldBlock
            | K::Interrupted
            | K::NotConnected
    )
}

/// Whether `host` (`name[:port]`) is spoken to over plain HTTP.
pub(crate) fn is_insecure(host: &str, insecure: &[String]) -> bool {
    let name = host_name(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        if ip.is_loopback() {
            return true;
        }
    }
    insecure.iter().any(|entry| {
        let entry = normalize_server(entry);
        entry.eq_ignore_ascii_case(host) || entry.eq_ignore_ascii_case(name)
    })
}

/// The host name of `host[:port]` (brackets of IPv6 addresses removed).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// `scheme://host:port` with default ports filled in, for same-origin checks.
fn origin_of(url: &str) -> Option<(String, String, u16)> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some((scheme, host, port))
}

fn authority_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    uri.authority().map(|a| a.to_string())
}

/// Resolves a `Location` header against the URL it came from.
pub(crate) fn resolve_location(base: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_owned());
    }
    let uri: Uri = base.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Some(format!("{scheme}://{authority}{location}"));
    }
    let path = uri.path();
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Some(format!("{scheme}://{authority}{dir}{location}"))
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
    fn insecure_hosts() {
        let none: Vec<String> = Vec::new();
        assert!(is_insecure("localhost:5000", &none));
        assert!(is_insecure("localhost", &none));
        assert!(is_insecure("127.0.0.1:5000", &none));
        assert!(is_insecure("127.1.2.3", &none));
        assert!(is_insecure("[::1]:5000", &none));
        assert!(!is_insecure("registry-1.docker.io", &none));
        assert!(!is_insecure("10.0.0.1:5000", &none));
        let list = vec!["10.0.0.1:5000".to_owned(), "myreg.local".to_owned()];
        assert!(is_insecure("10.0.0.1:5000", &list));
        assert!(!is_insecure("10.0.0.1:6000", &list));
        assert!(is_insecure("myreg.local:443", &list));
        assert!(is_insecure("myreg.local", &list));
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

    #[test]
    fn locations() {
        let base = "http://a:1/v2/x/blobs/sha256:1";
        assert_eq!(
            resolve_location(base, "https://cdn/x?sig=1").unwrap(),
            "https://cdn/x?sig=1"
        );
        assert_eq!(resolve_location(base, "/p?q").unwrap(), "http://a:1/p?q");
        assert_eq!(resolve_location(base, "//b:2/p").unwrap(), "http://b:2/p");
        assert_eq!(
            resolve_location(base, "other").unwrap(),
            "http://a:1/v2/x/blobs/other"
        );
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("http://a/x"), origin_of("http://A:80/y"));
        assert_ne!(origin_of("http://a/x"), origin_of("https://a/x"));
        assert_ne!(
            origin_of("http://127.0.0.1:1/"),
            origin_of("http://127.0.0.1:2/")
        );
    }
}
