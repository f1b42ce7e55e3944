//! Authentication against real registries: htpasswd basic auth, and the Docker Hub token
//! flow with a real `docker-registry` trusting a test token endpoint. Plus the rule that
//! credentials never follow a redirect to another host.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use registry::{
    Client, CredentialSource, Credentials, Descriptor, DockerConfig, Error, ErrorKind, MediaType,
    Platform, Reference, sha256_digest,
};
use test_support::{
    FakeServer, Flavour, HttpResponse, Registry, RegistryAuth, RegistryOptions, TokenServer,
    TokenServerOptions, busybox_image, test_client_config,
};

fn alice() -> Credentials {
    Credentials::new("alice", "s3cret-pass")
}

fn client_with(host: &str, creds: Option<Credentials>) -> Client {
    let source = match creds {
        Some(c) => CredentialSource::Static(vec![(host.to_owned(), c)]),
        None => CredentialSource::None,
    };
    Client::new(test_client_config(source)).unwrap()
}

fn pull_all(client: &Client, r: &Reference) -> Result<(), Error> {
    let resolved = client.resolve(r, &Platform::host())?;
    client.fetch_blob(r, resolved.config(), 1 << 20)?;
    for layer in resolved.layers() {
        let mut blob = client.open_blob(r, layer)?;
        std::io::copy(&mut blob, &mut std::io::sink()).map_err(|e| Error::from_io(e, "layer"))?;
    }
    Ok(())
}

#[test]
fn basic_auth_with_htpasswd() {
    let reg = Registry::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![alice(), Credentials::new("bob", "other")]),
    })
    .unwrap();
    let r = reg.reference("private/busybox:1").unwrap();
    let image = busybox_image(Flavour::Docker, registry::Compression::Gzip).unwrap();

    // Right credentials: push and pull work.
    let good = client_with(reg.host(), Some(alice()));
    image.push(&good, &r).unwrap();
    pull_all(&good, &r).unwrap();
    good.verify_credentials(reg.host(), &alice()).unwrap();

    // Wrong credentials and no credentials: Unauthorized, with docker's pull message.
    for creds in [Some(Credentials::new("alice", "wrong")), None] {
        let c = client_with(reg.host(), creds);
        let err = c.resolve(&r, &Platform::host()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        assert!(
            err.to_string().starts_with(&format!(
                "pull access denied for {}/private/busybox, repository does not exist or may require 'docker login'",
                reg.host()
            )),
            "{err}"
        );
    }
    let anon = client_with(reg.host(), None);
    let err = anon
        .verify_credentials(reg.host(), &Credentials::new("alice", "nope"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
}

#[test]
fn login_stores_credentials_that_a_later_client_uses_and_logout_erases_them() {
    let reg = Registry::start(RegistryOptions {
        auth: RegistryAuth::Htpasswd(vec![alice()]),
    })
    .unwrap();
    let r = reg.reference("private/busybox:1").unwrap();
    busybox_image(Flavour::Oci, registry::Compression::Gzip)
        .unwrap()
        .push(&reg.client().unwrap(), &r)
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker").join("config.json");
    let anon = client_with(reg.host(), None);
    let mut config = DockerConfig::load(&path).unwrap();

    // A refused login stores nothing.
    let err = registry::login(
        &anon,
        &mut config,
        reg.host(),
        &Credentials::new("alice", "bad"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(!path.exists());

    registry::login(&anon, &mut config, reg.host(), &alice()).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(reg.host()) && text.contains("\"auth\""),
        "{text}"
    );

    let from_file = Client::new(test_client_config(CredentialSource::DockerConfigFile(
        path.clone(),
    )))
    .unwrap();
    pull_all(&from_file, &r).unwrap();

    let mut config = DockerConfig::load(&path).unwrap();
    assert!(registry::logout(&mut config, reg.host()).unwrap());
    assert!(!registry::logout(&mut config, reg.host()).unwrap());
    let after = Client::new(test_client_config(CredentialSource::DockerConfigFile(path))).unwrap();
    let err = after.resolve(&r, &Platform::host()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
}

struct TokenSetup {
    tokens: TokenServer,
    reg: Registry,
}

fn token_registry(anonymous_pull: bool) -> TokenSetup {
    let tokens = TokenServer::start(TokenServerOptions {
        users: vec![alice()],
        anonymous_pull,
        ..TokenServerOptions::default()
    })
    .unwrap();
    let reg = Registry::start(RegistryOptions {
        auth: tokens.registry_auth(),
    })
    .unwrap();
    TokenSetup { tokens, reg }
}

#[test]
fn token_flow_like_docker_hub_against_a_real_registry() {
    let TokenSetup { tokens, reg } = token_registry(true);
    let r = reg.reference("library/busybox:latest").unwrap();
    let image = busybox_image(Flavour::Docker, registry::Compression::Gzip).unwrap();

    // Anonymous push is refused: the token only grants pull.
    let anon = client_with(reg.host(), None);
    let err = image.push(&anon, &r).unwrap_err();
    let test_support::Error::Registry(err) = err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");

    // alice may push: her token request carries her basic credentials and the push scope.
    let before = tokens.requests().len();
    let pusher = client_with(reg.host(), Some(alice()));
    image.push(&pusher, &r).unwrap();
    let pushes: Vec<_> = tokens.requests().into_iter().skip(before).collect();
    assert_eq!(
        pushes.len(),
        1,
        "one token reused for the whole push: {pushes:?}"
    );
    assert_eq!(pushes[0].user.as_deref(), Some("alice"));
    assert_eq!(pushes[0].account.as_deref(), Some("alice"));
    assert_eq!(pushes[0].scopes, ["repository:library/busybox:pull,push"]);

    // Anonymous pull: 401 challenge parsed, token requested with the challenge's service
    // and our scope, request retried with it, and the token reused afterwards.
    let before = tokens.requests().len();
    let puller = client_with(reg.host(), None);
    pull_all(&puller, &r).unwrap();
    let pulls: Vec<_> = tokens.requests().into_iter().skip(before).collect();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0].service.as_deref(), Some("mydocker-test-registry"));
    assert_eq!(pulls[0].scopes, ["repository:library/busybox:pull"]);
    assert_eq!(pulls[0].user, None);
    pull_all(&puller, &r).unwrap();
    assert_eq!(
        tokens.requests().len(),
        before + 1,
        "the cached token is reused for a second pull"
    );

    // Another repository needs another scope, hence another token.
    let other = reg.reference("library/other:latest").unwrap();
    image.push(&pusher, &other).unwrap();
    let n = tokens.requests().len();
    pull_all(&puller, &other).unwrap();
    let last = tokens.requests().pop().unwrap();
    assert_eq!(tokens.requests().len(), n + 1);
    assert_eq!(last.scopes, ["repository:library/other:pull"]);

    // docker login against a token registry: a scope-less token request with credentials.
    puller.verify_credentials(reg.host(), &alice()).unwrap();
    let login = tokens.requests().pop().unwrap();
    assert_eq!(login.user.as_deref(), Some("alice"));
    assert!(login.scopes.is_empty(), "{login:?}");
    let err = puller
        .verify_credentials(reg.host(), &Credentials::new("alice", "wrong"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
}

#[test]
fn token_registry_without_anonymous_access_denies_pulls_like_docker() {
    let TokenSetup { tokens: _t, reg } = token_registry(false);
    let r = reg.reference("secret/busybox:latest").unwrap();
    busybox_image(Flavour::Oci, registry::Compression::Gzip)
        .unwrap()
        .push(&client_with(reg.host(), Some(alice())), &r)
        .unwrap();
    let err = client_with(reg.host(), None)
        .resolve(&r, &Platform::host())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(
        err.to_string().starts_with(&format!(
            "pull access denied for {}/secret/busybox, repository does not exist or may require 'docker login'",
            reg.host()
        )),
        "{err}"
    );
    pull_all(&client_with(reg.host(), Some(alice())), &r).unwrap();
}

/// A blob server that records whether it was sent credentials.
fn storage_server(data: Arc<Vec<u8>>) -> FakeServer {
    FakeServer::start(move |req| {
        if req.path().starts_with("/storage/") {
            HttpResponse::new(200).body(data.as_slice())
        } else {
            HttpResponse::new(404)
        }
    })
    .unwrap()
}

#[test]
fn basic_credentials_never_follow_a_redirect_to_another_host() {
    let data = Arc::new(b"blob bytes behind a redirect".to_vec());
    let digest = sha256_digest(&data);
    let storage = storage_server(Arc::clone(&data));
    let storage_url = storage.url();
    let creds = alice();
    let expected = format!(
        "Basic {}",
        base64_encode(&format!("{}:{}", creds.username, creds.password))
    );
    let front = FakeServer::start(move |req| {
        if req.header("authorization") != Some(expected.as_str()) {
            return HttpResponse::new(401)
                .header("WWW-Authenticate", "Basic realm=\"fake\"")
                .body(
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
        }
        let path = req.path();
        if path.starts_with("/v2/repo/blobs/") {
            // First hop stays on this host; the second leaves it.
            HttpResponse::new(307).header("Location", "/moved/blob")
        } else if path == "/moved/blob" {
            HttpResponse::new(302).header("Location", format!("{storage_url}/storage/blob?sig=1"))
        } else {
            HttpResponse::new(404)
        }
    })
    .unwrap();

    let r: Reference = format!("{}/repo:1", front.host()).parse().unwrap();
    let client = client_with(&front.host(), Some(alice()));
    let d = Descriptor::new(MediaType::ImageLayer, data.len() as u64, digest);
    let mut blob = client.open_blob(&r, &d).unwrap();
    let mut got = Vec::new();
    blob.read_to_end(&mut got).unwrap();
    assert_eq!(got, *data);

    let front_reqs = front.requests();
    let moved = front_reqs
        .iter()
        .find(|q| q.path() == "/moved/blob")
        .unwrap();
    assert!(
        moved.header("authorization").is_some(),
        "a same-host redirect keeps credentials"
    );
    let stored = storage.requests();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].target, "/storage/blob?sig=1");
    assert_eq!(
        stored[0].header("authorization"),
        None,
        "credentials leaked to another host:port"
    );
}

#[test]
fn bearer_tokens_never_follow_a_redirect_to_another_host() {
    let tokens = TokenServer::start(TokenServerOptions::default()).unwrap();
    let data = Arc::new(vec![7u8; 10_000]);
    let digest = sha256_digest(&data);
    let storage = storage_server(Arc::clone(&data));
    let storage_url = storage.url();
    let challenge = format!(
        "Bearer realm=\"{}\",service=\"fake-hub\",scope=\"repository:repo:pull\"",
        tokens.realm()
    );
    let front = FakeServer::start(move |req| match req.header("authorization") {
        Some(a) if a.starts_with("Bearer ") => HttpResponse::new(307)
            .header("Location", format!("{storage_url}/storage/{}", req.path())),
        _ => HttpResponse::new(401).header("WWW-Authenticate", challenge.as_str()),
    })
    .unwrap();
    let r: Reference = format!("{}/repo:1", front.host()).parse().unwrap();
    let client = client_with(&front.host(), None);
    let d = Descriptor::new(MediaType::ImageLayer, data.len() as u64, digest);
    let mut got = Vec::new();
    client
        .open_blob(&r, &d)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, *data);
    let reqs = tokens.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].service.as_deref(), Some("fake-hub"));
    assert_eq!(reqs[0].scopes, ["repository:repo:pull"]);
    let stored = storage.requests();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].header("authorization"), None);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}
