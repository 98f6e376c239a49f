//! The development identity provider served in demo mode under `/dev-idp`.
//!
//! A real, if tiny, OpenID provider: discovery, keys, an authorize page where you type a
//! name and email, and a token endpoint that checks the client secret and PKCE and signs ID
//! tokens with an ES256 key generated at start. The service signs in through it with its
//! normal login code. Anyone can type any identity here, so it only ever runs in demo mode.

use crate::crypto::{constant_time_eq, random_token};
use crate::domain::{person_name, Email};
use crate::routes::pages::{escape, html};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const CLIENT_ID: &str = "demo-client";
const CODE_TTL: Duration = Duration::from_secs(120);

struct Grant {
    redirect_uri: String,
    nonce: String,
    challenge: String,
    sub: String,
    email: String,
    given_name: String,
    family_name: String,
    expires: Instant,
}

pub struct DevIdp {
    issuer: String,
    redirect_uri: String,
    client_secret: String,
    key: EncodingKey,
    kid: String,
    jwk: serde_json::Value,
    codes: Mutex<HashMap<String, Grant>>,
}

impl DevIdp {
    /// `public_url` without a trailing slash; the issuer is `{public_url}/dev-idp`.
    /// `client_secret` is stable for a given session key, so two demo processes over one
    /// database do not invalidate each other's registration.
    pub fn new(public_url: &str, client_secret: String) -> Self {
        let secret_key = loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
                break k;
            }
        };
        let der = secret_key
            .to_pkcs8_der()
            .expect("a P-256 key encodes as PKCS#8");
        let key = EncodingKey::from_ec_der(der.as_bytes());
        let point = secret_key.public_key().to_sec1_bytes();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let kid = random_token(8);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        DevIdp {
            issuer: format!("{public_url}/dev-idp"),
            redirect_uri: format!("{public_url}/t/demo/callback"),
            client_secret,
            key,
            kid,
            jwk,
            codes: Mutex::new(HashMap::new()),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }
}

pub fn scope() -> actix_web::Scope {
    web::scope("/dev-idp")
        // OAuth clients expect JSON errors from the token endpoint.
        .app_data(
            web::FormConfig::default()
                .limit(16 * 1024)
                .error_handler(|_, _| {
                    actix_web::error::InternalError::from_response(
                        "invalid request",
                        oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
                    )
                    .into()
                }),
        )
        .service(discovery)
        .service(jwks)
        .service(authorize_form)
        .service(authorize_submit)
        .service(token)
}

fn idp(app: &crate::routes::AppState) -> &DevIdp {
    app.demo
        .as_deref()
        .expect("dev-idp routes are mounted only in demo mode")
}

type App = web::Data<crate::routes::AppState>;

#[get("/.well-known/openid-configuration")]
async fn discovery(app: App) -> HttpResponse {
    let iss = &idp(&app).issuer;
    HttpResponse::Ok().json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "email", "email_verified", "given_name", "family_name", "name"],
    }))
}

#[get("/jwks")]
async fn jwks(app: App) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "keys": [idp(&app).jwk] }))
}

#[derive(Deserialize)]
struct AuthorizeParams {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    code_challenge_method: String,
}

#[derive(Deserialize)]
struct AuthorizeForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    given_name: String,
    family_name: String,
    email: String,
}

/// Why an authorize request is refused, if it is.
fn check(idp: &DevIdp, p: &AuthorizeParams) -> Result<(), &'static str> {
    if p.response_type != "code" || p.client_id != CLIENT_ID {
        return Err("unknown client or response type");
    }
    if p.redirect_uri != idp.redirect_uri {
        return Err("this redirect URI is not registered");
    }
    if p.code_challenge_method != "S256"
        || p.code_challenge.len() < 43
        || p.state.is_empty()
        || p.nonce.is_empty()
    {
        return Err("PKCE (S256), state and nonce are required");
    }
    Ok(())
}

fn bad_request(why: &str) -> HttpResponse {
    html(
        StatusCode::BAD_REQUEST,
        "Bad sign-in request",
        &format!(
            "<main class=\"box\"><h1>Bad sign-in request</h1><p>{}</p></main>",
            escape(why)
        ),
    )
}

#[get("/authorize")]
async fn authorize_form(app: App, query: web::Query<AuthorizeParams>) -> HttpResponse {
    let idp = idp(&app);
    if let Err(why) = check(idp, &query) {
        return bad_request(why);
    }
    let hidden: String = [
        ("response_type", &query.response_type),
        ("client_id", &query.client_id),
        ("redirect_uri", &query.redirect_uri),
        ("state", &query.state),
        ("nonce", &query.nonce),
        ("code_challenge", &query.code_challenge),
        ("code_challenge_method", &query.code_challenge_method),
    ]
    .iter()
    .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, escape(v)))
    .collect();
    let body = format!(
        r#"<main class="box"><h1>Development identity provider</h1>
<p class="muted">Demo only: whoever you type here is who you are. A real company would use Okta or Entra ID.</p>
<form method="post" action="/dev-idp/authorize">{hidden}
<label for="given_name">First name</label><input id="given_name" name="given_name" required autofocus>
<label for="family_name">Last name</label><input id="family_name" name="family_name">
<label for="email">Email</label><input id="email" name="email" type="email" required>
<p><button type="submit">Sign in</button></p></form></main>"#
    );
    html(StatusCode::OK, "Development identity provider", &body)
}

#[post("/authorize")]
async fn authorize_submit(app: App, form: web::Form<AuthorizeForm>) -> HttpResponse {
    let idp = idp(&app);
    let form = form.into_inner();
    if let Err(why) = check(idp, &form.params) {
        return bad_request(why);
    }
    let (Ok(email), Some(given)) = (
        Email::parse(&form.email),
        person_name(Some(&form.given_name)),
    ) else {
        return html(
            StatusCode::BAD_REQUEST,
            "Check your details",
            "<main class=\"box\"><h1>Check your details</h1><p>A first name and a valid email address are required. Go back and try again.</p></main>",
        );
    };
    let sub = format!(
        "dev-{}",
        &hex(&Sha256::digest(email.normalized().as_bytes()))[..24]
    );
    let code = random_token(32);
    let p = form.params;
    let mut codes = idp.codes.lock().expect("codes lock");
    codes.retain(|_, g| g.expires > Instant::now());
    codes.insert(
        code.clone(),
        Grant {
            redirect_uri: p.redirect_uri.clone(),
            nonce: p.nonce,
            challenge: p.code_challenge,
            sub,
            email: email.as_given().to_owned(),
            given_name: given,
            family_name: person_name(Some(&form.family_name)).unwrap_or_default(),
            expires: Instant::now() + CODE_TTL,
        },
    );
    let mut target = match url::Url::parse(&p.redirect_uri) {
        Ok(u) => u,
        Err(_) => return HttpResponse::BadRequest().finish(),
    };
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &p.state)
        .append_pair("iss", &idp.issuer);
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.to_string()))
        .finish()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
}

fn oauth_error(status: StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error }))
}

fn client_authenticated(idp: &DevIdp, req: &HttpRequest) -> bool {
    let Some(encoded) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Some(decoded) = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return false;
    };
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    unescape(id) == CLIENT_ID
        && constant_time_eq(unescape(secret).as_bytes(), idp.client_secret.as_bytes())
}

#[post("/token")]
async fn token(app: App, req: HttpRequest, form: web::Form<TokenForm>) -> HttpResponse {
    let idp = idp(&app);
    if !client_authenticated(idp, &req) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.grant_type != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let grant = idp.codes.lock().expect("codes lock").remove(&form.code);
    let Some(grant) = grant.filter(|g| g.expires > Instant::now()) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(form.code_verifier.as_bytes()));
    if grant.redirect_uri != form.redirect_uri
        || !constant_time_eq(challenge.as_bytes(), grant.challenge.as_bytes())
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = format!("{} {}", grant.given_name, grant.family_name)
        .trim()
        .to_owned();
    let claims = json!({
        "iss": idp.issuer, "sub": grant.sub, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
        "nonce": grant.nonce, "email": grant.email, "email_verified": true,
        "given_name": grant.given_name, "family_name": grant.family_name, "name": name,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(idp.kid.clone());
    let Ok(id_token) = jsonwebtoken::encode(&header, &claims, &idp.key) else {
        return oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": random_token(32),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
        }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
