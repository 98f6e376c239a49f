//! The benchmark identity provider: an in-process OpenID provider on loopback that approves
//! every authorization request at once, for the user named by `login_hint`.
//!
//! It still does what a real provider does per sign-in (client authentication with
//! client_secret_basic, PKCE S256, single-use codes, a freshly signed ID token with
//! `nonce` and `at_hash`), so the service does all of its work; everything that can be
//! computed once (keys, discovery, JWKS) is.

use crate::provider_tokens::TokenSigner;
use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::Algorithm;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use url::form_urlencoded;

pub const CLIENT_ID: &str = "bench";
pub use crate::provider_tokens::RSA_PEM;

/// What the authorization step remembers for the token step.
struct Grant {
    login_hint: String,
    nonce: String,
    challenge: String,
    issued: Instant,
}

#[derive(Default)]
pub struct Counters {
    pub authorize: AtomicU64,
    pub token: AtomicU64,
    /// Requests the provider refused (bad client, PKCE, reused code...): must stay 0.
    pub refused: AtomicU64,
    pub discovery: AtomicU64,
    pub jwks: AtomicU64,
}

struct Shared {
    issuer: String,
    redirect_uri: String,
    /// `client_id:client_secret`, as client_secret_basic carries it (both are URL-safe).
    credentials: String,
    /// Signs the ID tokens.
    tokens: TokenSigner,
    discovery: String,
    jwks: String,
    codes: Mutex<HashMap<String, Grant>>,
    counters: Counters,
}

pub struct Provider {
    shared: Arc<Shared>,
    handle: ServerHandle,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Provider {
    /// Starts the provider on 127.0.0.1 (a free port) with `workers` server threads. It
    /// accepts only `redirect_uri` and the client `bench` with `client_secret`.
    pub fn start(
        alg: Algorithm,
        redirect_uri: &str,
        client_secret: &str,
        workers: usize,
    ) -> Provider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the benchmark provider");
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let (tokens, jwks) = TokenSigner::new(alg);
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "authorization_response_iss_parameter_supported": true,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email",
                "email_verified", "given_name", "family_name", "name"],
        })
        .to_string();
        let shared = Arc::new(Shared {
            issuer,
            redirect_uri: redirect_uri.to_owned(),
            credentials: format!("{CLIENT_ID}:{client_secret}"),
            tokens,
            discovery,
            jwks,
            codes: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery_doc),
                )
                .route("/jwks", web::get().to(jwks_doc))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
        })
        .workers(workers.max(1))
        // Longer than any client's idle pool timeout: a connection the provider closes just
        // as the service reuses it fails that sign-in (see the benchmark's README).
        .keep_alive(std::time::Duration::from_secs(600))
        .disable_signals()
        .listen(listener)
        .expect("listen benchmark provider")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Provider { shared, handle }
    }

    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Codes issued but never redeemed (each is a sign-in that did not finish).
    pub fn open_codes(&self) -> usize {
        self.shared.codes.lock().unwrap().len()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn discovery_doc(op: web::Data<Shared>) -> HttpResponse {
    op.counters.discovery.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(op.discovery.clone())
}

async fn jwks_doc(op: web::Data<Shared>) -> HttpResponse {
    op.counters.jwks.fetch_add(1, Ordering::Relaxed);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(op.jwks.clone())
}

fn refuse(op: &Shared, status: u16, error: &str, description: &str) -> HttpResponse {
    op.counters.refused.fetch_add(1, Ordering::Relaxed);
    let status = actix_web::http::StatusCode::from_u16(status).unwrap();
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error, "error_description": description }))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Auto-approve: checks the request, then redirects straight back with a code.
async fn authorize(op: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
    op.counters.authorize.fetch_add(1, Ordering::Relaxed);
    let mut p: HashMap<String, String> = HashMap::with_capacity(12);
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if p.insert(k.into_owned(), v.into_owned()).is_some() {
            return refuse(&op, 400, "invalid_request", "a parameter is repeated");
        }
    }
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    for k in [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "login_hint",
    ] {
        if get(k).is_none() {
            return refuse(&op, 400, "invalid_request", &format!("missing {k}"));
        }
    }
    if get("client_id") != Some(CLIENT_ID) || get("redirect_uri") != Some(&op.redirect_uri) {
        return refuse(
            &op,
            400,
            "invalid_request",
            "unknown client or redirect_uri",
        );
    }
    if get("response_type") != Some("code")
        || get("code_challenge_method") != Some("S256")
        || !p["scope"].split(' ').any(|s| s == "openid")
    {
        return refuse(
            &op,
            400,
            "invalid_request",
            "code flow with PKCE S256 and scope openid only",
        );
    }
    let code = random_token();
    let location = format!(
        "{}?code={code}&state={}&iss={}",
        op.redirect_uri,
        enc(&p["state"]),
        enc(&op.issuer)
    );
    let grant = Grant {
        login_hint: p.remove("login_hint").unwrap(),
        nonce: p.remove("nonce").unwrap(),
        challenge: p.remove("code_challenge").unwrap(),
        issued: Instant::now(),
    };
    op.codes.lock().unwrap().insert(code, grant);
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Code exchange: client_secret_basic, single-use code, PKCE S256, a signed ID token.
async fn token(op: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    op.counters.token.fetch_add(1, Ordering::Relaxed);
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|c| STANDARD.decode(c.trim()).ok());
    if basic.as_deref() != Some(op.credentials.as_bytes()) {
        return refuse(
            &op,
            401,
            "invalid_client",
            "client_secret_basic with the bench client",
        );
    }
    let mut p: HashMap<String, String> = HashMap::with_capacity(4);
    for (k, v) in form_urlencoded::parse(&body) {
        p.insert(k.into_owned(), v.into_owned());
    }
    if p.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return refuse(
            &op,
            400,
            "unsupported_grant_type",
            "authorization_code only",
        );
    }
    if p.get("redirect_uri") != Some(&op.redirect_uri) {
        return refuse(&op, 400, "invalid_grant", "redirect_uri differs");
    }
    let (Some(code), Some(verifier)) = (p.get("code"), p.get("code_verifier")) else {
        return refuse(
            &op,
            400,
            "invalid_request",
            "code and code_verifier are required",
        );
    };
    // Any presentation consumes the code.
    let Some(grant) = op.codes.lock().unwrap().remove(code) else {
        return refuse(&op, 400, "invalid_grant", "unknown or used code");
    };
    if grant.issued.elapsed().as_secs() > 600 {
        return refuse(&op, 400, "invalid_grant", "code expired");
    }
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return refuse(&op, 400, "invalid_grant", "PKCE verification failed");
    }
    let access_token = random_token();
    let id_token = op
        .tokens
        .id_token(&op.issuer, &grant.login_hint, &grant.nonce, &access_token);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }))
}
