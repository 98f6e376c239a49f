//! Liveness and readiness probes.

use super::AppState;
use actix_web::{route, web, HttpResponse};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Liveness: the process answers. Touches nothing.
#[route("/healthz", method = "GET", method = "HEAD")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers within a second and no migration is pending; 503
/// while shutting down.
#[route("/readyz", method = "GET", method = "HEAD")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.shutting_down.load(Ordering::Relaxed) {
        return not_ready("shutting down");
    }
    match tokio::time::timeout(Duration::from_secs(1), state.db.check_ready()).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Ok(Err(crate::db::DbError::MigrationsPending)) => {
            log::debug!("not ready: migrations pending");
            not_ready("database migrations are pending")
        }
        Ok(Err(e)) => {
            log::debug!("not ready: {e}");
            not_ready("database unavailable")
        }
        Err(_) => not_ready("database did not answer within 1s"),
    }
}

fn not_ready(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .json(serde_json::json!({ "status": "unavailable", "reason": reason }))
}
