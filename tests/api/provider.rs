//! In-process OpenID Connect provider for the integration tests.
//!
//! Authorization code flow only, with mandatory PKCE (S256), nonce and state, signed ID
//! tokens (RS256 by default; PS256, ES256 and EdDSA on request), a userinfo endpoint
//! (JSON or a signed JWT), and knobs for misbehaving on purpose. Knobs named `*_next`
//! act on the next successful token response only; the others persist.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use actix_web::dev::{ServerHandle, Service};
use actix_web::http::header;
use actix_web::HttpServer;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use url::{form_urlencoded, Url};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret";
/// The SPKI PEM of `KeyId::Rsa1`, exactly as `openssl pkey -pubout` writes it.
const RSA1_PUBLIC_PEM: &str = include_str!("../fixtures/test_rsa_key.pub.pem");
const BASIC: &str = "client_secret_basic";
const POST: &str = "client_secret_post";

pub type Claims = Map<String, Value>;
type EditOnce = Box<dyn FnOnce(&mut Claims) + Send>;
type Edit = Arc<dyn Fn(&mut Claims) + Send + Sync>;

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

impl KeyId {
    const ALL: [KeyId; 4] = [KeyId::Rsa1, KeyId::Rsa2, KeyId::Ec256, KeyId::Ed25519];

    pub fn kid(self) -> &'static str {
        match self {
            KeyId::Rsa1 => "test-key-1",
            KeyId::Rsa2 => "test-key-2",
            KeyId::Ec256 => "ec-1",
            KeyId::Ed25519 => "ed-1",
        }
    }

    /// The algorithm its JWK states while it is not the signing key.
    pub fn default_alg(self) -> Algorithm {
        match self {
            KeyId::Rsa1 | KeyId::Rsa2 => Algorithm::RS256,
            KeyId::Ec256 => Algorithm::ES256,
            KeyId::Ed25519 => Algorithm::EdDSA,
        }
    }

    fn can_sign(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyId::Rsa1 | KeyId::Rsa2 => {
                matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
            }
            KeyId::Ec256 => alg == ES256,
            KeyId::Ed25519 => alg == EdDSA,
        }
    }

    fn encoding_key(self) -> EncodingKey {
        let pem: &[u8] = match self {
            KeyId::Rsa1 => include_bytes!("../fixtures/test_rsa_key.pem"),
            KeyId::Rsa2 => include_bytes!("../fixtures/rsa_key_2.pem"),
            KeyId::Ec256 => include_bytes!("../fixtures/ec_p256_key.pem"),
            KeyId::Ed25519 => include_bytes!("../fixtures/ed25519_key.pem"),
        };
        let key = match self {
            KeyId::Rsa1 | KeyId::Rsa2 => EncodingKey::from_rsa_pem(pem),
            KeyId::Ec256 => EncodingKey::from_ec_pem(pem),
            KeyId::Ed25519 => EncodingKey::from_ed_pem(pem),
        };
        key.unwrap_or_else(|e| panic!("fixture key {self:?}: {e}"))
    }
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
        }
    }
}

#[derive(Default)]
struct State {
    user: Option<TestUser>,
    deny: Option<String>,
    token_error: Option<String>,
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

    fn key(&self, id: KeyId) -> &EncodingKey {
        &self.keys[id as usize]
    }

    fn jwk(&self, id: KeyId, alg: Algorithm, with_kid: bool) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(self.key(id), alg).expect("JWK of a fixture key");
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_id = with_kid.then(|| id.kid().to_owned());
        jwk
    }

    fn sign(&self, claims: &Claims, signer: Signer, with_kid: bool) -> String {
        let kid = with_kid.then(|| signer.key.kid());
        encode(signer.alg, kid, claims, self.key(signer.key))
    }
}

fn encode(alg: Algorithm, kid: Option<&str>, claims: &Claims, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign JWT")
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
    /// The user every following /authorize approves (until changed).
    pub fn login_as(&self, user: TestUser) {
        self.shared.lock().user = Some(user);
    }
    pub fn tamper_next(&self, t: Tamper) {
        self.shared.lock().next.tamper = Some(t);
    }
    pub fn deny_next(&self, error: &str) {
        self.shared.lock().deny = Some(error.to_owned());
    }
    /// The next token request, whatever it holds, is answered 400 `{"error": error}`.
    pub fn token_error_next(&self, error: &str) {
        self.shared.lock().token_error = Some(error.to_owned());
    }

    /// Which key and algorithm sign ID tokens (and userinfo JWTs). Default: Rsa1, RS256.
    /// Panics on a pair that cannot work (e.g. Ec256 with RS256).
    pub fn sign_with(&self, key: KeyId, alg: Algorithm) {
        assert!(
            key.can_sign(alg),
            "TestProvider: {key:?} cannot sign {alg:?}"
        );
        self.shared.lock().config.signer = Signer { key, alg };
    }
    /// The public keys /jwks serves, in this order. Default: [Rsa1].
    pub fn publish(&self, keys: &[KeyId]) {
        self.shared.lock().config.published = keys.to_vec();
    }
    /// Publishes only `key` and signs with it, with its default algorithm.
    pub fn rotate_to(&self, key: KeyId) {
        self.sign_with(key, key.default_alg());
        self.publish(&[key]);
    }
    pub fn omit_kid_in_jwks(&self, omit: bool) {
        self.shared.lock().config.kids_in_jwks = !omit;
    }
    pub fn omit_kid_next(&self) {
        self.shared.lock().next.omit_kid = true;
    }
    /// The next ID token is HS256 with the PEM of Rsa1's public key as the secret
    /// (key-confusion attack); its header names kid "test-key-1".
    pub fn hmac_with_public_key_next(&self) {
        self.shared.lock().next.hmac_with_public_key = true;
    }
    /// Changes the next ID token's claims just before it is signed.
    pub fn edit_next_claims(&self, f: impl FnOnce(&mut Claims) + Send + 'static) {
        self.shared.lock().next.edit = Some(Box::new(f));
    }
    /// Changes every userinfo response (for a JWT: after `iss` and `aud` are added).
    pub fn edit_userinfo(&self, f: impl Fn(&mut Claims) + Send + Sync + 'static) {
        self.shared.lock().config.userinfo_edit = Some(Arc::new(f));
    }
    /// Userinfo answered as `application/jwt`, signed like the ID tokens.
    pub fn userinfo_as_jwt(&self, on: bool) {
        self.shared.lock().config.userinfo_jwt = on;
    }
    /// The `issuer` stated by discovery; `None` states the real one.
    pub fn set_discovery_issuer(&self, issuer: Option<String>) {
        self.shared.lock().config.discovery_issuer = issuer;
    }
    /// `id_token_signing_alg_values_supported` in discovery. Default: ["RS256"].
    pub fn set_advertised_algs(&self, algs: &[&str]) {
        self.shared.lock().config.advertised_algs = to_strings(algs);
    }
    /// The advertised client authentication methods; the token endpoint accepts only
    /// these. Default: client_secret_basic and client_secret_post.
    pub fn set_auth_methods(&self, methods: &[&str]) {
        self.shared.lock().config.auth_methods = to_strings(methods);
    }
    /// Every endpoint handles a request at once (counting it, consuming codes and `*_next`
    /// knobs) but holds its answer back for `d`.
    pub fn set_delay(&self, d: Duration) {
        self.shared.lock().config.delay = d;
    }

    /// The client authentication method of the last well-formed token request
    /// ("none" when it had no client credentials).
    pub fn last_auth_method(&self) -> Option<String> {
        self.shared.lock().last_auth_method.clone()
    }
    /// Discovery and JWKS answer 503 while `down` (authorize, token, userinfo still work).
    pub fn metadata_down(&self, down: bool) {
        self.shared.lock().config.metadata_down = down;
    }
    pub fn discovery_requests(&self) -> usize {
        self.shared.lock().counts[0]
    }
    pub fn jwks_requests(&self) -> usize {
        self.shared.lock().counts[1]
    }
    pub fn token_requests(&self) -> usize {
        self.shared.lock().counts[2]
    }
    pub fn userinfo_requests(&self) -> usize {
        self.shared.lock().counts[3]
    }
    pub fn last_authorize_query(&self) -> Option<Vec<(String, String)>> {
        self.shared.lock().last_authorize.clone()
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

async fn discovery(op: web::Data<Shared>) -> HttpResponse {
    let mut st = op.lock();
    st.counts[0] += 1;
    if st.config.metadata_down {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let c = &st.config;
    let base = &op.base;
    let mut doc = json!({
        "issuer": c.discovery_issuer.as_ref().unwrap_or(&op.issuer),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": c.advertised_algs,
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": c.auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email",
            "email_verified", "given_name", "family_name", "name"],
    });
    if c.userinfo_jwt {
        doc["userinfo_signing_alg_values_supported"] = json!([c.signer.alg]);
    }
    HttpResponse::Ok().json(doc)
}

async fn jwks(op: web::Data<Shared>) -> HttpResponse {
    let (published, signer, with_kid) = {
        let mut st = op.lock();
        st.counts[1] += 1;
        if st.config.metadata_down {
            return HttpResponse::ServiceUnavailable().finish();
        }
        let c = &st.config;
        (c.published.clone(), c.signer, c.kids_in_jwks)
    };
    let alg = |k: KeyId| {
        if k == signer.key {
            signer.alg
        } else {
            k.default_alg()
        }
    };
    let keys: Vec<Jwk> = published
        .into_iter()
        .map(|k| op.jwk(k, alg(k), with_kid))
        .collect();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

/// Parses form/query pairs; a repeated parameter is an error (RFC 6749 §3.1).
fn parse_pairs(input: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(input) {
        if map.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("parameter {k} repeated"));
        }
    }
    Ok(map)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn authorize(op: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let query = req.query_string().as_bytes();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query).into_owned().collect();
    op.lock().last_authorize = Some(pairs);
    let checked = parse_pairs(query).and_then(|p| Ok((check_authorize(&p)?, p)));
    let (mut redirect, p) = match checked {
        Ok(ok) => ok,
        Err(e) => return HttpResponse::BadRequest().body(e),
    };
    let mut st = op.lock();
    let params = match st.deny.take() {
        Some(error) => vec![("error", error), ("state", p["state"].clone())],
        None => {
            let Some(user) = st.user.clone() else {
                let msg = "TestProvider: login_as() was not called";
                return HttpResponse::BadRequest().body(msg);
            };
            let code = random_token();
            let grant = Grant {
                user,
                nonce: p["nonce"].clone(),
                redirect_uri: p["redirect_uri"].clone(),
                challenge: p["code_challenge"].clone(),
                client_id: p["client_id"].clone(),
            };
            st.codes.insert(code.clone(), grant);
            let state = p["state"].clone();
            vec![("code", code), ("state", state), ("iss", op.issuer.clone())]
        }
    };
    redirect.query_pairs_mut().extend_pairs(params);
    let location = (header::LOCATION, redirect.as_str());
    HttpResponse::Found().insert_header(location).finish()
}

/// Validates an authorization request; returns the redirect URI to answer on.
fn check_authorize(p: &HashMap<String, String>) -> Result<Url, String> {
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let required = "response_type client_id redirect_uri scope state nonce code_challenge";
    if let Some(k) = required.split(' ').find(|k| get(k).is_none()) {
        return Err(format!("missing {k}"));
    }
    let ensure = |ok: bool, msg: &str| if ok { Ok(()) } else { Err(msg.to_owned()) };
    let code_flow = get("response_type") == Some("code");
    let s256 = get("code_challenge_method") == Some("S256");
    ensure(code_flow, "response_type must be code")?;
    ensure(get("client_id") == Some(CLIENT_ID), "unknown client_id")?;
    ensure(
        p["scope"].split(' ').any(|s| s == "openid"),
        "no openid scope",
    )?;
    ensure(s256, "code_challenge_method must be S256")?;
    let url = Url::parse(&p["redirect_uri"]).map_err(|e| format!("redirect_uri: {e}"))?;
    let web_url = matches!(url.scheme(), "http" | "https") && url.fragment().is_none();
    ensure(web_url, "redirect_uri must be http(s) without fragment")?;
    Ok(url)
}

/// An OAuth error: the `error` code and its `error_description`.
type OAuthError = (&'static str, String);

fn oauth(error: &'static str, description: &str) -> OAuthError {
    (error, description.to_owned())
}

fn no_store(mut res: HttpResponseBuilder) -> HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store"));
    res
}

fn oauth_response((error, description): OAuthError) -> HttpResponse {
    let mut res = match error {
        "invalid_client" => HttpResponse::Unauthorized(),
        _ => HttpResponse::BadRequest(),
    };
    if error == "invalid_client" {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"test-provider\""));
    }
    no_store(res).json(json!({ "error": error, "error_description": description }))
}

/// Decodes one application/x-www-form-urlencoded component (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// The client authentication method a token request uses.
fn auth_method(req: &HttpRequest, p: &HashMap<String, String>) -> &'static str {
    if req.headers().contains_key(header::AUTHORIZATION) {
        BASIC
    } else if p.contains_key("client_secret") {
        POST
    } else {
        "none"
    }
}

/// Authenticates the client (Basic or client_secret_post); returns its client_id.
fn authenticate_client(
    req: &HttpRequest,
    p: &HashMap<String, String>,
) -> Result<String, OAuthError> {
    let invalid = |d: &str| Err(oauth("invalid_client", d));
    let (id, secret) = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => {
            if p.contains_key("client_secret") {
                return invalid("more than one client authentication method");
            }
            let creds = value.to_str().ok().and_then(|v| v.strip_prefix("Basic "));
            let decoded = creds.and_then(|c| STANDARD.decode(c.trim()).ok());
            let text = String::from_utf8(decoded.unwrap_or_default()).unwrap_or_default();
            let Some((id, secret)) = text.split_once(':') else {
                return invalid("malformed Basic credentials");
            };
            match (form_decode(id), form_decode(secret)) {
                (Some(id), Some(secret)) => (id, secret),
                _ => return invalid("malformed Basic credentials"),
            }
        }
        None => match (p.get("client_id"), p.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return invalid("client authentication required"),
        },
    };
    if p.get("client_id").is_some_and(|body_id| *body_id != id) {
        return invalid("client_id in body does not match credentials");
    }
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return invalid("bad client credentials");
    }
    Ok(id)
}

async fn token(op: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let forced = {
        let mut st = op.lock();
        st.counts[2] += 1;
        st.token_error.take()
    };
    match forced {
        Some(error) => no_store(HttpResponse::BadRequest()).json(json!({ "error": error })),
        None => exchange_code(&op, &req, &body).unwrap_or_else(oauth_response),
    }
}

fn exchange_code(op: &Shared, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, OAuthError> {
    let invalid_grant = |d: &str| oauth("invalid_grant", d);
    let invalid_request = |d: &str| oauth("invalid_request", d);
    if req.content_type() != "application/x-www-form-urlencoded" {
        return Err(invalid_request("body must be form-urlencoded"));
    }
    let p = parse_pairs(body).map_err(|e| invalid_request(&e))?;
    let method = auth_method(req, &p);
    let allowed = {
        let mut st = op.lock();
        st.last_auth_method = Some(method.to_owned());
        st.config.auth_methods.iter().any(|m| m == method)
    };
    if !allowed {
        let msg = format!("{method} is not an allowed authentication method");
        return Err(oauth("invalid_client", &msg));
    }
    let client_id = authenticate_client(req, &p)?;
    if p.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return Err(oauth("unsupported_grant_type", "authorization_code only"));
    }
    let (Some(code), Some(verifier)) = (p.get("code"), p.get("code_verifier")) else {
        return Err(invalid_request("code and code_verifier are required"));
    };
    // Any presentation consumes the code, successful or not.
    let mut st = op.lock();
    let grant = st
        .codes
        .remove(code)
        .ok_or_else(|| invalid_grant("unknown or used code"))?;
    if grant.client_id != client_id || p.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(invalid_grant(
            "client_id or redirect_uri differs from the authorization",
        ));
    }
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    let verifier_ok = (43..=128).contains(&verifier.len()) && verifier.bytes().all(unreserved);
    if !verifier_ok || URL_SAFE_NO_PAD.encode(Sha256::digest(verifier)) != grant.challenge {
        return Err(invalid_grant("PKCE verification failed"));
    }
    let access_token = random_token();
    st.access_tokens
        .insert(access_token.clone(), grant.user.clone());
    let next = std::mem::take(&mut st.next);
    let signer = st.config.signer;
    drop(st);
    let id_token = id_token(op, &grant, &access_token, next, signer);
    Ok(no_store(HttpResponse::Ok())
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        })))
}

fn id_token(op: &Shared, grant: &Grant, access_token: &str, next: Next, signer: Signer) -> String {
    let tamper = next.tamper.unwrap_or(Tamper::None);
    let alg = match next.hmac_with_public_key {
        true => Algorithm::HS256,
        false => signer.alg,
    };
    let mut claims = id_token_claims(op, grant, tamper);
    claims.insert("at_hash".to_owned(), at_hash(alg, access_token).into());
    if let Some(edit) = next.edit {
        edit(&mut claims);
    }
    if tamper == Tamper::AlgNone {
        let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        return format!(
            "{head}.{}.",
            URL_SAFE_NO_PAD.encode(Value::from(claims).to_string())
        );
    }
    let with_kid = !next.omit_kid;
    let jwt = if next.hmac_with_public_key {
        let kid = with_kid.then(|| KeyId::Rsa1.kid());
        let secret = EncodingKey::from_secret(RSA1_PUBLIC_PEM.as_bytes()).expect("HMAC key");
        encode(Algorithm::HS256, kid, &claims, &secret)
    } else {
        op.sign(&claims, signer, with_kid)
    };
    match tamper {
        Tamper::BadSignature => corrupt_signature(&jwt),
        _ => jwt,
    }
}

/// The claims of an honest ID token, but for `tamper`; without `at_hash`.
fn id_token_claims(op: &Shared, grant: &Grant, tamper: Tamper) -> Claims {
    let now = UNIX_EPOCH.elapsed().expect("clock after 1970").as_secs();
    let (iat, exp) = match tamper {
        Tamper::Expired => (now - 7200, now - 3600),
        _ => (now, now + 300),
    };
    let mut claims = object(json!({
        "iss": if tamper == Tamper::WrongIssuer { "http://evil.example" } else { &op.issuer },
        "sub": grant.user.sub,
        "aud": if tamper == Tamper::WrongAudience { "someone-else" } else { CLIENT_ID },
        "iat": iat,
        "exp": exp,
        "nonce": if tamper == Tamper::WrongNonce { "not-the-nonce" } else { &grant.nonce },
    }));
    claims.extend(grant.user.claims(tamper != Tamper::NamesOnlyInUserinfo));
    if tamper == Tamper::MissingSub {
        claims.remove("sub");
    }
    claims
}

/// `at_hash`: the left half of the access token's hash, by `alg`'s hash function
/// (SHA-512 for EdDSA with Ed25519).
fn at_hash(alg: Algorithm, access_token: &str) -> String {
    use Algorithm::*;
    let digest = match alg {
        HS384 | RS384 | PS384 | ES384 => Sha384::digest(access_token).to_vec(),
        HS512 | RS512 | PS512 | EdDSA => Sha512::digest(access_token).to_vec(),
        _ => Sha256::digest(access_token).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Flips one bit of a compact JWS's signature.
fn corrupt_signature(jwt: &str) -> String {
    let (signed, signature) = jwt.rsplit_once('.').expect("compact JWS");
    let mut signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    signature[0] ^= 1;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn userinfo(op: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let auth = req.headers().get(header::AUTHORIZATION);
    let token = auth.and_then(|v| v.to_str().ok()?.strip_prefix("Bearer "));
    let (user, edit, jwt_signer) = {
        let mut st = op.lock();
        st.counts[3] += 1;
        let user = token.and_then(|t| st.access_tokens.get(t.trim()).cloned());
        let c = &st.config;
        (
            user,
            c.userinfo_edit.clone(),
            c.userinfo_jwt.then_some(c.signer),
        )
    };
    let Some(user) = user else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
            .json(json!({ "error": "invalid_token" }));
    };
    let mut claims = user.claims(true);
    claims.insert("sub".to_owned(), user.sub.into());
    if jwt_signer.is_some() {
        claims.insert("iss".to_owned(), op.issuer.clone().into());
        claims.insert("aud".to_owned(), CLIENT_ID.into());
    }
    if let Some(edit) = edit {
        edit(&mut claims);
    }
    match jwt_signer {
        Some(signer) => HttpResponse::Ok()
            .content_type("application/jwt")
            .body(op.sign(&claims, signer, true)),
        None => HttpResponse::Ok().json(claims),
    }
}
