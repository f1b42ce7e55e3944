//! A token endpoint on 127.0.0.1 that answers like Docker Hub's `auth.docker.io/token`
//! and issues JWTs a real `docker-registry` configured with `auth: token` accepts: ES256
//! signatures with an `x5c` header carrying a self-signed certificate, which is also the
//! registry's `rootcertbundle`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use registry::Credentials;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::error::Error;
use crate::http::{FakeServer, HttpRequest, HttpResponse};
use crate::server::{RegistryAuth, TokenAuth};

/// What the token endpoint grants.
#[derive(Clone, Debug)]
pub struct TokenServerOptions {
    /// Users that may authenticate with basic credentials; they get every action they ask
    /// for.
    pub users: Vec<Credentials>,
    /// Whether anonymous requests get `pull` (as on Docker Hub's public repositories).
    pub anonymous_pull: bool,
    /// The `service` the registry announces (and the token's audience).
    pub service: String,
    /// The token issuer the registry trusts.
    pub issuer: String,
    /// The `expires_in` of issued tokens, in seconds.
    pub expires_in: u64,
}

impl Default for TokenServerOptions {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            anonymous_pull: true,
            service: "mydocker-test-registry".to_owned(),
            issuer: "mydocker-test-token-issuer".to_owned(),
            expires_in: 300,
        }
    }
}

/// One request the token endpoint received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `service` parameter.
    pub service: Option<String>,
    /// The `scope` parameters.
    pub scopes: Vec<String>,
    /// The `account` parameter.
    pub account: Option<String>,
    /// The user of the basic credentials sent, if any.
    pub user: Option<String>,
}

struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    rng: SystemRandom,
    counter: AtomicU64,
}

/// The running token endpoint. Stopped on drop.
pub struct TokenServer {
    server: FakeServer,
    options: TokenServerOptions,
    cert_pem: String,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm", &self.realm())
            .field("service", &self.options.service)
            .finish_non_exhaustive()
    }
}

fn setup(e: impl std::fmt::Display) -> Error {
    Error::Setup(format!("token server: {e}"))
}

impl TokenServer {
    /// Generates a key and certificate and starts serving `GET /token`.
    ///
    /// # Errors
    /// [`Error::Setup`] when key generation fails, [`Error::Io`] when no port is free.
    pub fn start(options: TokenServerOptions) -> Result<Self, Error> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(setup)?;
        let mut params =
            rcgen::CertificateParams::new(vec!["mydocker-test-token".to_owned()]).map_err(setup)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mydocker test token issuer");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).map_err(setup)?;
        let cert_der = cert.der().to_vec();
        let rng = SystemRandom::new();
        let signing_key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
                .map_err(setup)?;
        let cert_pem = pem("CERTIFICATE", &cert_der);
        let signer = Arc::new(Signer {
            key: signing_key,
            cert_der,
            rng,
            counter: AtomicU64::new(0),
        });
        let opts = options.clone();
        let server = FakeServer::start(move |req| handle(&opts, &signer, req))?;
        Ok(Self {
            server,
            options,
            cert_pem,
        })
    }

    /// `http://127.0.0.1:PORT/token`
    pub fn realm(&self) -> String {
        format!("{}/token", self.server.url())
    }

    /// The PEM certificate tokens are signed under.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The registry configuration that trusts this endpoint.
    pub fn registry_auth(&self) -> RegistryAuth {
        RegistryAuth::Token(TokenAuth {
            realm: self.realm(),
            service: self.options.service.clone(),
            issuer: self.options.issuer.clone(),
            root_cert_pem: self.cert_pem.clone(),
        })
    }

    /// The token requests received so far, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path() == "/token")
            .map(|r| TokenRequest {
                service: r.query("service").into_iter().next(),
                scopes: r.query("scope"),
                account: r.query("account").into_iter().next(),
                user: basic_user(r).map(|c| c.username),
            })
            .collect()
    }
}

fn basic_user(req: &HttpRequest) -> Option<Credentials> {
    let value = req.header("authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some(Credentials::new(u, p))
}

fn handle(opts: &TokenServerOptions, signer: &Signer, req: &HttpRequest) -> HttpResponse {
    if req.method != "GET" || req.path() != "/token" {
        return HttpResponse::new(404);
    }
    let user = match basic_user(req) {
        Some(c) if opts.users.contains(&c) => Some(c.username),
        Some(_) => {
            // Docker Hub's answer to wrong credentials.
            return HttpResponse::json(
                401,
                &serde_json::json!({"details": "incorrect username or password"}),
            );
        }
        None => None,
    };
    let mut access = Vec::new();
    for scope in req.query("scope") {
        // repository:NAME:ACTIONS (NAME has no ':' in our tests; registries with ports
        // are not part of repository names).
        let mut parts = scope.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| user.is_some() || (opts.anonymous_pull && *a == "pull"))
            .collect();
        access.push(serde_json::json!({"type": kind, "name": name, "actions": granted}));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = serde_json::json!({
        "iss": opts.issuer,
        "sub": user.clone().unwrap_or_default(),
        "aud": opts.service,
        "exp": now + opts.expires_in,
        "nbf": now.saturating_sub(5),
        "iat": now,
        "jti": format!("mydocker-{}", signer.counter.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    match jwt(signer, &claims) {
        Ok(token) => HttpResponse::json(
            200,
            &serde_json::json!({
                "token": token,
                "access_token": token,
                "expires_in": opts.expires_in,
                "issued_at": "2024-01-01T00:00:00Z",
            }),
        ),
        Err(e) => HttpResponse::new(500).body(e),
    }
}

fn jwt(signer: &Signer, claims: &serde_json::Value) -> Result<String, String> {
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [STANDARD.encode(&signer.cert_der)],
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer
        .key
        .sign(&signer.rng, input.as_bytes())
        .map_err(|e| format!("signing failed: {e}"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
