//! Sending one request: URL and body handling, redirects (credentials never follow a
//! redirect to another origin), what counts as a transient failure, and error statuses.

use std::net::IpAddr;

use ureq::http::{self, HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};

use super::{Body, Client, Request, Target};
use crate::auth::normalize_server;
use crate::error::Error;
use crate::registry_errors::{ErrorCode, RegistryErrors};

impl Client {
    /// Sends `req`, following redirects of GET and HEAD requests. The `Authorization`
    /// header goes only to the original host:port (and scheme); once a redirect leaves
    /// it, credentials are never sent again for this request.
    pub(super) fn send_following_redirects(
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

pub(super) fn authority_of(url: &str) -> Option<String> {
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
