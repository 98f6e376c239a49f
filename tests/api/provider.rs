//! In-process OpenID Connect provider for the integration tests.
//!
//! Authorization code flow only, with mandatory PKCE (S256), nonce and state,
//! RS256 ID tokens, a userinfo endpoint, and knobs for misbehaving on purpose.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use url::{form_urlencoded, Url};

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-secret";
const KID: &str = "test-key-1";
const KEY_PEM: &str = include_str!("../fixtures/test_rsa_key.pem");
const OTHER_KEY_PEM: &str = include_str!("../fixtures/other_rsa_key.pem");

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
    fn claims(&self, names: bool) -> Map<String, Value> {
        let Value::Object(mut m) = json!({
            "email": self.email, "email_verified": self.email_verified, "name": self.name,
            "given_name": self.given_name, "family_name": self.family_name,
        }) else {
            unreachable!("json! object literal")
        };
        let named = ["email", "given_name", "family_name", "name"];
        m.retain(|k, v| !v.is_null() && (names || !named.contains(&k.as_str())));
        m
    }
}

/// One deliberate defect in the next token response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    None,
    WrongNonce,
    BadSignature,
    WrongAudience,
    WrongIssuer,
    Expired,
    NamesOnlyInUserinfo,
    AlgNone,
    MissingSub,
}

struct Grant {
    user: TestUser,
    nonce: String,
    redirect_uri: String,
    challenge: String,
    client_id: String,
}

#[derive(Default)]
struct State {
    user: Option<TestUser>,
    tamper: Option<Tamper>,
    deny: Option<String>,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, TestUser>,
    counts: [usize; 4], // discovery, jwks, token, userinfo
    last_authorize: Option<Vec<(String, String)>>,
}

struct Shared {
    issuer: String,
    key: EncodingKey,
    other_key: EncodingKey,
    jwk: Value,
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
    port: u16,
}

impl TestProvider {
    pub async fn start() -> TestProvider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind test provider");
        let port = listener.local_addr().unwrap().port();
        let key = EncodingKey::from_rsa_pem(KEY_PEM.as_bytes()).unwrap();
        let jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        let AlgorithmParameters::RSA(rsa) = jwk.algorithm else {
            unreachable!("fixture is an RSA key")
        };
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": rsa.n, "e": rsa.e,
        });
        let shared = Arc::new(Shared {
            issuer: format!("http://127.0.0.1:{port}"),
            key,
            other_key: EncodingKey::from_rsa_pem(OTHER_KEY_PEM.as_bytes()).unwrap(),
            jwk,
            state: Mutex::default(),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/jwks", web::get().to(jwks))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen test provider")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        TestProvider {
            shared,
            handle,
            port,
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// The user every following /authorize approves (until changed).
    pub fn login_as(&self, user: TestUser) {
        self.shared.lock().user = Some(user);
    }
    pub fn tamper_next(&self, t: Tamper) {
        self.shared.lock().tamper = Some(t);
    }
    pub fn deny_next(&self, error: &str) {
        self.shared.lock().deny = Some(error.to_owned());
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

async fn discovery(op: web::Data<Shared>) -> HttpResponse {
    op.lock().counts[0] += 1;
    let iss = &op.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email",
            "email_verified", "given_name", "family_name", "name"],
    }))
}

async fn jwks(op: web::Data<Shared>) -> HttpResponse {
    op.lock().counts[1] += 1;
    HttpResponse::Ok().json(json!({ "keys": [op.jwk] }))
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

fn oauth_response((error, description): OAuthError) -> HttpResponse {
    let mut res = match error {
        "invalid_client" => HttpResponse::Unauthorized(),
        _ => HttpResponse::BadRequest(),
    };
    if error == "invalid_client" {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"test-provider\""));
    }
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error, "error_description": description }))
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
    op.lock().counts[2] += 1;
    exchange_code(&op, &req, &body).unwrap_or_else(oauth_response)
}

fn exchange_code(op: &Shared, req: &HttpRequest, body: &[u8]) -> Result<HttpResponse, OAuthError> {
    let invalid_grant = |d: &str| oauth("invalid_grant", d);
    let invalid_request = |d: &str| oauth("invalid_request", d);
    if req.content_type() != "application/x-www-form-urlencoded" {
        return Err(invalid_request("body must be form-urlencoded"));
    }
    let p = parse_pairs(body).map_err(|e| invalid_request(&e))?;
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
    let tamper = st.tamper.take().unwrap_or(Tamper::None);
    drop(st);
    let id_token = id_token(op, &grant, &access_token, tamper);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        })))
}

fn id_token(op: &Shared, grant: &Grant, access_token: &str, tamper: Tamper) -> String {
    let now = UNIX_EPOCH.elapsed().expect("clock after 1970").as_secs();
    let (iat, exp) = match tamper {
        Tamper::Expired => (now - 7200, now - 3600),
        _ => (now, now + 300),
    };
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token)[..16]);
    let mut claims = json!({
        "iss": if tamper == Tamper::WrongIssuer { "http://evil.example" } else { &op.issuer },
        "sub": grant.user.sub,
        "aud": if tamper == Tamper::WrongAudience { "someone-else" } else { CLIENT_ID },
        "iat": iat,
        "exp": exp,
        "nonce": if tamper == Tamper::WrongNonce { "not-the-nonce" } else { &grant.nonce },
        "at_hash": at_hash,
    });
    let map = claims.as_object_mut().expect("claims are an object");
    map.extend(grant.user.claims(tamper != Tamper::NamesOnlyInUserinfo));
    if tamper == Tamper::MissingSub {
        map.remove("sub");
    }
    if tamper == Tamper::AlgNone {
        let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        return format!("{head}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()));
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    let bad = tamper == Tamper::BadSignature;
    let key = if bad { &op.other_key } else { &op.key };
    jsonwebtoken::encode(&header, &claims, key).expect("sign ID token")
}

async fn userinfo(op: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    let mut st = op.lock();
    st.counts[3] += 1;
    let auth = req.headers().get(header::AUTHORIZATION);
    let token = auth.and_then(|v| v.to_str().ok()?.strip_prefix("Bearer "));
    let Some(user) = token.and_then(|t| st.access_tokens.get(t.trim())) else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
            .json(json!({ "error": "invalid_token" }));
    };
    let mut claims = user.claims(true);
    claims.insert("sub".to_owned(), Value::String(user.sub.clone()));
    HttpResponse::Ok().json(claims)
}
