//! In-process OpenID Connect provider for the integration tests.
//!
//! Authorization code flow only, with mandatory PKCE (S256), nonce and state, signed ID
//! tokens (RS256 by default; PS256, ES256 and EdDSA on request), a userinfo endpoint
//! (JSON or a signed JWT), and knobs for misbehaving on purpose. Knobs named `*_next`
//! act on the next successful token response only; the others persist.
#![allow(dead_code)]

#[path = "provider/endpoints.rs"]
mod endpoints;
#[path = "provider/keys.rs"]
mod keys;
#[path = "provider/knobs.rs"]
mod knobs;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service};
use actix_web::HttpServer;
use actix_web::{web, App};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Map, Value};

use endpoints::{authorize, discovery, jwks, token, userinfo};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret";
const BASIC: &str = "client_secret_basic";
const POST: &str = "client_secret_post";

pub type Claims = Map<String, Value>;
/// A change to the next token response's or ID token's JSON.
pub type EditOnce = Box<dyn FnOnce(&mut Claims) + Send>;
type Edit = Arc<dyn Fn(&mut Claims) + Send + Sync>;
type DocEdit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// A token response sent as is (status, content type, body), whatever the request held.
#[derive(Clone, Debug)]
pub struct RawReply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
}

impl TestUser {
    pub fn new(sub: &str, email: &str, given: &str, family: &str) -> Self {
        TestUser {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            email_verified: Some(true),
            given_name: Some(given.to_owned()),
            family_name: Some(family.to_owned()),
            name: Some(format!("{given} {family}")),
        }
    }

    /// All present claims except `sub`; `names` = false leaves out email and the names.
    fn claims(&self, names: bool) -> Claims {
        let mut m = object(json!({
            "email": self.email, "email_verified": self.email_verified, "name": self.name,
            "given_name": self.given_name, "family_name": self.family_name,
        }));
        let named = ["email", "given_name", "family_name", "name"];
        m.retain(|k, v| !v.is_null() && (names || !named.contains(&k.as_str())));
        m
    }
}

fn object(value: Value) -> Claims {
    match value {
        Value::Object(m) => m,
        _ => unreachable!("a json! object literal"),
    }
}

/// One deliberate defect in the next token response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    None,
    WrongNonce,
    /// Signed as usual, then one bit of the signature is flipped.
    BadSignature,
    WrongAudience,
    WrongIssuer,
    Expired,
    NamesOnlyInUserinfo,
    AlgNone,
    MissingSub,
}

/// The provider's key pairs (test-only fixtures under `tests/fixtures/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyId {
    Rsa1,
    Rsa2,
    Ec256,
    Ed25519,
}

/// Which key signs, with which algorithm.
#[derive(Clone, Copy, Debug)]
struct Signer {
    key: KeyId,
    alg: Algorithm,
}

struct Grant {
    user: TestUser,
    nonce: String,
    redirect_uri: String,
    challenge: String,
    client_id: String,
}

/// Defects of the next successful token response.
#[derive(Default)]
struct Next {
    tamper: Option<Tamper>,
    omit_kid: bool,
    hmac_with_public_key: bool,
    edit: Option<EditOnce>,
    /// Edits the JSON of the next successful token response (after the ID token is signed).
    token_json: Option<EditOnce>,
}

/// Persistent behaviour.
struct Config {
    signer: Signer,
    published: Vec<KeyId>,
    kids_in_jwks: bool,
    advertised_algs: Vec<String>,
    discovery_issuer: Option<String>,
    auth_methods: Vec<String>,
    userinfo_edit: Option<Edit>,
    userinfo_jwt: bool,
    delay: Duration,
    /// Discovery and keys answer 503 (the rest keeps working).
    metadata_down: bool,
    discovery_edit: Option<DocEdit>,
    jwks_edit: Option<DocEdit>,
    /// The next this-many discovery requests answer 500.
    discovery_failures: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            signer: Signer {
                key: KeyId::Rsa1,
                alg: Algorithm::RS256,
            },
            published: vec![KeyId::Rsa1],
            kids_in_jwks: true,
            advertised_algs: vec!["RS256".to_owned()],
            discovery_issuer: None,
            auth_methods: vec![BASIC.to_owned(), POST.to_owned()],
            userinfo_edit: None,
            userinfo_jwt: false,
            metadata_down: false,
            delay: Duration::ZERO,
            discovery_edit: None,
            jwks_edit: None,
            discovery_failures: 0,
        }
    }
}

#[derive(Default)]
struct State {
    user: Option<TestUser>,
    deny: Option<String>,
    token_error: Option<String>,
    token_raw: Option<RawReply>,
    next: Next,
    config: Config,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, TestUser>,
    counts: [usize; 4], // discovery, jwks, token, userinfo
    last_authorize: Option<Vec<(String, String)>>,
    last_auth_method: Option<String>,
}

struct Shared {
    /// Exactly as stated in tokens (a trailing slash is kept).
    issuer: String,
    /// The issuer without a trailing slash: endpoint URLs are `{base}/token` etc.
    base: String,
    keys: [EncodingKey; 4],
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct TestProvider {
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl TestProvider {
    pub async fn start() -> TestProvider {
        Self::start_at("").await
    }

    /// A provider whose issuer is `http://127.0.0.1:{port}{path}` (`path` is "" or starts
    /// with '/'; a trailing slash stays in the issuer). Every endpoint is served under the
    /// issuer, discovery at `{issuer without trailing slash}/.well-known/openid-configuration`.
    pub async fn start_at(path: &str) -> TestProvider {
        assert!(
            path.is_empty() || path.starts_with('/'),
            "bad issuer path {path:?}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test provider");
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let prefix = path.trim_end_matches('/').to_owned();
        let shared = Arc::new(Shared {
            issuer: format!("{origin}{path}"),
            base: format!("{origin}{prefix}"),
            keys: KeyId::ALL.map(KeyId::encoding_key),
            state: Mutex::default(),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            let op = data.clone();
            App::new()
                .app_data(data.clone())
                .wrap_fn(move |req, srv| {
                    let delay = op.lock().config.delay;
                    let response = srv.call(req);
                    async move {
                        let response = response.await;
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        response
                    }
                })
                .service(
                    web::scope(&prefix)
                        .route(
                            "/.well-known/openid-configuration",
                            web::get().to(discovery),
                        )
                        .route("/jwks", web::get().to(jwks))
                        .route("/authorize", web::get().to(authorize))
                        .route("/token", web::post().to(token))
                        .route("/userinfo", web::get().to(userinfo)),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen test provider")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        TestProvider { shared, handle }
    }

    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }
    /// The URL of an endpoint, e.g. `url("/token")`, whatever the issuer's path.
    pub fn url(&self, endpoint: &str) -> String {
        format!("{}{endpoint}", self.shared.base)
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        // The stop command is sent eagerly; the returned future only awaits completion.
        drop(self.handle.stop(false));
    }
}

fn to_strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
