//! `GET /session` (who is signed in, as JSON) and `POST /logout`.

use super::{pages, AppState};
use crate::db::profiles::ProfileRow;
use crate::db::tenants::TenantRow;
use crate::db::{profiles, tenants, DbError};
use crate::domain::STATUS_ACTIVE;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde_json::json;

/// The signed-in person, if the session cookie is valid and the profile is still active.
pub async fn current_profile(
    app: &AppState,
    req: &HttpRequest,
) -> Result<Option<(TenantRow, ProfileRow)>, DbError> {
    let Some(claims) = req
        .cookie(&app.session_cookie)
        .and_then(|c| app.sessions.verify(c.value()))
    else {
        return Ok(None);
    };
    app.db
        .run(move |conn| {
            let profile = profiles::find_by_id(conn, &claims.sub)?.filter(|p| {
                p.tenant_id == claims.tid
                    && p.status == STATUS_ACTIVE
                    // Same millisecond as the sign-out counts as before it.
                    // A session issued in the very millisecond of a sign-out counts as before it.
                    && p.sessions_revoked_at.is_none_or(|at| claims.ims > at)
            });
            let Some(profile) = profile else {
                return Ok(None);
            };
            Ok(tenants::find_by_id(conn, &profile.tenant_id)?.map(|t| (t, profile)))
        })
        .await
}

#[get("/session")]
pub async fn current(app: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match current_profile(&app, &req).await {
        Ok(Some((tenant, p))) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "id": p.id,
                "tenant": tenant.slug,
                "email": p.email,
                "first_name": p.first_name,
                "last_name": p.last_name,
                "role": p.role,
                "locale": p.locale,
                "time_zone": p.time_zone,
                "status": p.status,
                "created_via": p.created_via,
                "created_at": p.created_at,
                "last_sign_in_at": p.last_sign_in_at,
            })),
        Ok(None) => HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Cookie"))
            .json(json!({ "error": "not_signed_in", "message": "No valid session." })),
        Err(e) => {
            log::warn!("session lookup failed: {e}");
            HttpResponse::ServiceUnavailable().json(json!({
                "error": "unavailable",
                "message": "The service is temporarily unavailable."
            }))
        }
    }
}

/// Signs out: the person's sessions issued until now stop being accepted (on every
/// device) and the cookie is removed. A cross-site POST is refused.
#[post("/logout")]
pub async fn logout(app: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let cross_site = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| origin != app.public_origin);
    if cross_site {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "This sign-out request came from another site, so we ignored it.",
            None,
        );
    }
    if let Some(claims) = req
        .cookie(&app.session_cookie)
        .and_then(|c| app.sessions.verify(c.value()))
    {
        let at = crate::db::now_millis();
        let revoked = app
            .db
            .run(move |conn| {
                profiles::revoke_sessions(conn, &claims.sub, at).map_err(DbError::from)
            })
            .await;
        if let Err(e) = revoked {
            log::warn!("sign-out could not be recorded: {e}");
            return pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "We could not sign you out",
                "The service is temporarily unavailable. Please try again in a minute.",
                None,
            );
        }
    }
    let mut cookie = Cookie::new(app.session_cookie.clone(), "");
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_secure(app.secure_cookies);
    cookie.set_same_site(SameSite::Lax);
    cookie.make_removal();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/"))
        .cookie(cookie)
        .finish()
}
