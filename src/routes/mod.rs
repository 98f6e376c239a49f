//! HTTP: extract, call one service function, map the result.

pub mod admin;
mod callback;
pub mod dev_idp;
mod flow;
mod health;
mod home;
mod login;
pub mod pages;
mod request_id;
mod session;
pub mod tenant_cache;

pub use request_id::{head_as_get, request_id_middleware, RequestId};

use crate::crypto::SecretBox;
use crate::db::Db;
use crate::error::{AppError, ErrorKind};
use crate::oidc::ProviderCache;
use crate::service::session::Sessions;
use actix_web::cookie::Key;
use actix_web::http::StatusCode;
use actix_web::{error, web, HttpResponse};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// Everything a handler may need, built once in `startup`.
pub struct AppState {
    pub db: Db,
    pub providers: ProviderCache,
    pub sessions: Sessions,
    pub secrets: SecretBox,
    /// Encrypts and authenticates the per-flow sign-in state cookies.
    pub flow_key: Key,
    /// Without a trailing slash.
    pub public_url: String,
    /// scheme://host[:port] of `public_url`, as browsers send it in `Origin`.
    pub public_origin: String,
    /// host[:port] of `public_url`, as browsers send it in `Host` (no default port).
    pub public_host: String,
    pub secure_cookies: bool,
    pub session_cookie: String,
    pub flow_ttl: Duration,
    pub demo: Option<Arc<dev_idp::DevIdp>>,
    pub tenants: tenant_cache::TenantCache,
    /// Set when shutdown begins: readiness turns 503 first.
    pub shutting_down: Arc<AtomicBool>,
}

/// Malformed query strings and forms (a missing, repeated or mistyped parameter) get the
/// plain-words 400 page, not the framework's text.
fn malformed(err: impl std::fmt::Display) -> actix_web::Error {
    log::info!("malformed request parameters: {err}");
    AppError::new(ErrorKind::BadRequest(
        "The link or form you sent is incomplete or malformed: a parameter is missing, repeated or invalid.",
    ))
    .into()
}

/// A form over the size limit is 413, and a body that is not a form 415: statuses that
/// tell the sender what to change.
fn form_error(err: error::UrlencodedError) -> actix_web::Error {
    match err {
        error::UrlencodedError::Overflow { .. } => {
            let page = pages::error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Too much data",
                "The form you sent is larger than this site accepts.",
                None,
            );
            error::InternalError::from_response(err, page).into()
        }
        error::UrlencodedError::ContentType => {
            let page = pages::error_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Not a form",
                "This address takes a web form (application/x-www-form-urlencoded).",
                None,
            );
            error::InternalError::from_response(err, page).into()
        }
        other => malformed(other),
    }
}

/// The site's pages and the methods they answer, so that a wrong method is a 405 with
/// `Allow` rather than "page not found" (the admin API answers for itself).
const PAGES: &[(&str, &str)] = &[
    ("/", "GET, HEAD"),
    ("/healthz", "GET, HEAD"),
    ("/readyz", "GET, HEAD"),
    ("/t/{tenant}/login", "GET, HEAD"),
    ("/t/{tenant}/callback", "GET, HEAD"),
    ("/t/{tenant}/initiate", "GET, HEAD, POST"),
    ("/initiate", "GET, HEAD, POST"),
    ("/session", "GET, HEAD"),
    ("/logout", "POST"),
    ("/admin", "GET, HEAD"),
    ("/admin/login", "POST"),
    ("/admin/logout", "POST"),
    ("/admin/t/{slug}", "GET, HEAD"),
    ("/admin/t/{slug}/jit", "POST"),
    ("/admin/t/{slug}/roster", "GET, HEAD"),
    ("/admin/t/{slug}/audit", "GET, HEAD"),
];

/// What no route took: a known page asked with another method is 405, the rest 404.
pub async fn no_route(req: actix_web::HttpRequest) -> HttpResponse {
    let known = PAGES
        .iter()
        .find(|(pattern, _)| actix_web::dev::ResourceDef::new(*pattern).is_match(req.path()));
    let Some((_, allow)) = known else {
        return not_found().await;
    };
    let mut resp = pages::error_page(
        StatusCode::METHOD_NOT_ALLOWED,
        "Not available this way",
        "This address cannot be used like that. Follow a link or use the form instead.",
        None,
    );
    resp.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    resp
}

/// The 404 page for every unknown path.
pub async fn not_found() -> HttpResponse {
    pages::error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address. Check the link you followed.",
        None,
    )
}

pub fn configure(cfg: &mut web::ServiceConfig, demo: bool) {
    cfg.app_data(web::QueryConfig::default().error_handler(|e, _| malformed(e)))
        .app_data(
            web::FormConfig::default()
                .limit(16 * 1024)
                .error_handler(|e, _| form_error(e)),
        );
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(home::index)
        .service(login::login)
        .service(callback::callback)
        .service(login::initiate_get)
        .service(login::initiate_post)
        .service(login::initiate_any_get)
        .service(login::initiate_any_post)
        .service(session::current)
        .service(session::logout);
    cfg.service(admin::scope()).service(admin::page::scope());
    if demo {
        cfg.service(dev_idp::scope());
    }
}
