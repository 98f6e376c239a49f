//! The HTTP endpoints: discovery, JWKS, authorize, token and userinfo.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, HttpResponseBuilder};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use url::{form_urlencoded, Url};

use super::keys::id_token;
use super::{Grant, KeyId, Shared, BASIC, CLIENT_ID, CLIENT_SECRET, POST};

pub(super) async fn discovery(op: web::Data<Shared>) -> HttpResponse {
    let mut st = op.lock();
    st.counts[0] += 1;
    if st.config.metadata_down {
        return HttpResponse::ServiceUnavailable().finish();
    }
    if st.config.discovery_failures > 0 {
        st.config.discovery_failures -= 1;
        return HttpResponse::InternalServerError().body("<html>oops</html>");
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
    if let Some(edit) = &c.discovery_edit {
        edit(&mut doc);
    }
    HttpResponse::Ok().json(doc)
}

pub(super) async fn jwks(op: web::Data<Shared>) -> HttpResponse {
    let (published, signer, with_kid, jwks_edit) = {
        let mut st = op.lock();
        st.counts[1] += 1;
        if st.config.metadata_down {
            return HttpResponse::ServiceUnavailable().finish();
        }
        let c = &st.config;
        (
            c.published.clone(),
            c.signer,
            c.kids_in_jwks,
            c.jwks_edit.clone(),
        )
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
    let mut doc = json!({ "keys": keys });
    if let Some(edit) = jwks_edit {
        edit(&mut doc);
    }
    HttpResponse::Ok().json(doc)
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

pub(super) async fn authorize(op: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
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
        // RFC 9207: error responses name the provider too.
        Some(error) => vec![
            ("error", error),
            ("state", p["state"].clone()),
            ("iss", op.issuer.clone()),
        ],
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

pub(super) async fn token(
    op: web::Data<Shared>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (forced, raw) = {
        let mut st = op.lock();
        st.counts[2] += 1;
        (st.token_error.take(), st.token_raw.take())
    };
    if let Some(raw) = raw {
        let status = actix_web::http::StatusCode::from_u16(raw.status).expect("status");
        return HttpResponse::build(status)
            .content_type(raw.content_type)
            .body(raw.body);
    }
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
    let mut next = std::mem::take(&mut st.next);
    let token_json = next.token_json.take();
    let signer = st.config.signer;
    drop(st);
    let id_token = id_token(op, &grant, &access_token, next, signer);
    let mut reply = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    });
    if let (Some(edit), Some(m)) = (token_json, reply.as_object_mut()) {
        edit(m);
    }
    Ok(no_store(HttpResponse::Ok())
        .insert_header((header::PRAGMA, "no-cache"))
        .json(reply))
}

pub(super) async fn userinfo(op: web::Data<Shared>, req: HttpRequest) -> HttpResponse {
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
