//! HTTP: extract, call one service function, map the result.

pub mod dev_idp;
mod flow;
mod health;
mod home;
mod login;
pub mod pages;
mod request_id;
mod session;

pub use request_id::{request_id_middleware, RequestId};

use crate::crypto::SecretBox;
use crate::db::Db;
use crate::oidc::ProviderCache;
use crate::service::session::Sessions;
use actix_web::cookie::Key;
use actix_web::web;
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
    pub secure_cookies: bool,
    pub session_cookie: String,
    pub flow_ttl: Duration,
    pub demo: Option<Arc<dev_idp::DevIdp>>,
    /// Set when shutdown begins: readiness turns 503 first.
    pub shutting_down: Arc<AtomicBool>,
}

pub fn configure(cfg: &mut web::ServiceConfig, demo: bool) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(home::index)
        .service(login::login)
        .service(login::callback)
        .service(login::initiate_get)
        .service(login::initiate_post)
        .service(login::initiate_any_get)
        .service(login::initiate_any_post)
        .service(session::current)
        .service(session::logout);
    if demo {
        cfg.service(dev_idp::scope());
    }
}
