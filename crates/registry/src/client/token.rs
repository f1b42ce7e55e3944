//! Authenticating requests: what a `401` challenge teaches about a host, the
//! `Authorization` header for a request, and bearer tokens from the token endpoint
//! (cached per host, scope and credentials).

use std::time::{Duration, Instant};

use ureq::http::{Method, Response, StatusCode};

use super::transport::{authority_of, is_transient};
use super::{Client, Request, Target, lock};
use crate::auth::{
    CachedToken, Challenge, Credentials, HostScheme, MIN_TOKEN_LIFETIME, TokenResponse,
    query_escape,
};
use crate::error::Error;
use crate::registry_errors::RegistryErrors;

impl Client {
    /// Records what a 401 taught us; returns whether a retry can do better.
    pub(super) fn learn_challenge(
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
    pub(super) fn auth_header(&self, target: &Target) -> Result<Option<String>, Error> {
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
        let creds = self.credentials_for(target)?;
        let url = token_url(realm, service, target, creds.as_ref());
        let token_target = Target {
            registry: target.registry.clone(),
            host: authority_of(&url).unwrap_or_default(),
            scopes: Vec::new(),
            credentials: None,
        };
        let auth = creds.as_ref().map(Credentials::basic_header);
        let mut req = Request::new(Method::GET, url);
        let mut resp = self.send_token_request(&token_target, &mut req, auth.as_deref())?;
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
            return Err(token_denied(realm, status, &body));
        }
        parse_token(realm, &body)
    }

    /// Sends a token request, retrying transient failures and server errors a bounded
    /// number of times (it is a GET: always safe to repeat).
    fn send_token_request(
        &self,
        token_target: &Target,
        req: &mut Request<'_>,
        auth: Option<&str>,
    ) -> Result<Response<ureq::Body>, Error> {
        let max_retries = self.inner.config.max_retries;
        let mut attempt = 0;
        loop {
            match self.send_following_redirects(token_target, req, auth) {
                Ok(r)
                    if (r.status().is_server_error()
                        || r.status() == StatusCode::TOO_MANY_REQUESTS)
                        && attempt < max_retries =>
                {
                    drop(r);
                }
                Ok(r) => return Ok(r),
                Err(e) if is_transient(&e) && attempt < max_retries => {}
                Err(e) => return Err(e),
            }
            self.backoff(attempt);
            attempt += 1;
        }
    }
}

/// The token endpoint's URL: `realm` with the service, the scopes of `target` and the
/// account (when there are credentials) as query parameters.
fn token_url(
    realm: &str,
    service: Option<&str>,
    target: &Target,
    creds: Option<&Credentials>,
) -> String {
    let mut params: Vec<String> = Vec::new();
    if let Some(s) = service {
        params.push(format!("service={}", query_escape(s)));
    }
    for scope in &target.scopes {
        params.push(format!("scope={}", query_escape(&scope.to_string())));
    }
    if let Some(c) = creds {
        params.push(format!("account={}", query_escape(&c.username)));
    }
    let mut url = realm.to_owned();
    if !params.is_empty() {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&params.join("&"));
    }
    url
}

/// The error for a refused token request: the registry's errors, else (the start of) the
/// body, else the status's reason.
fn token_denied(realm: &str, status: StatusCode, body: &[u8]) -> Error {
    let errors = RegistryErrors::parse(body);
    let message = if errors.is_empty() {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("").to_owned()
        } else {
            text.chars().take(200).collect()
        }
    } else {
        errors.to_string()
    };
    Error::TokenDenied {
        realm: realm.to_owned(),
        status: status.as_u16(),
        message,
    }
}

/// The token of a token response (`token`, else `access_token`), kept for its
/// `expires_in` (at least [`MIN_TOKEN_LIFETIME`]).
fn parse_token(realm: &str, body: &[u8]) -> Result<CachedToken, Error> {
    let malformed = |reason: String| Error::MalformedToken {
        realm: realm.to_owned(),
        reason,
    };
    let parsed: TokenResponse =
        serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let token = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| malformed("neither token nor access_token is set".to_owned()))?;
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
