//! `GET /t/{tenant}/callback` finishes a code flow: the flow cookie, the provider's answer
//! (RFC 9207 `iss` first), the sign-in decision and the session cookie.

use super::flow::{self, FlowState};
use super::login::{client_config, load_tenant};
use super::{AppState, RequestId};
use crate::db::tenants::TenantRow;
use crate::error::{AppError, ErrorKind};
use crate::service::signin::{self, Outcome};
use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{get, web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

#[get("/t/{tenant}/callback")]
pub async fn callback(
    app: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, AppError> {
    let started = std::time::Instant::now();
    let slug = path.into_inner();
    let tenant = load_tenant(&app, &slug).await?;
    let (response, outcome) = match callback_for(&app, &req, &tenant, &query).await {
        Ok((response, decision)) => (response, decision.to_owned()),
        Err(e) => {
            let outcome = e.kind.metric_label();
            (e.for_tenant(&slug).error_response(), outcome)
        }
    };
    let m = crate::metrics::get();
    m.signins.with_label_values(&[&slug, &outcome]).inc();
    m.callback_seconds
        .with_label_values(&[&slug])
        .observe(started.elapsed().as_secs_f64());
    Ok(response)
}

/// Checks the flow state, then finishes the flow; the flow cookie goes whatever happens.
async fn callback_for(
    app: &AppState,
    req: &HttpRequest,
    tenant: &TenantRow,
    query: &CallbackQuery,
) -> Result<(HttpResponse, &'static str), AppError> {
    let state = query
        .state
        .as_deref()
        .ok_or(AppError::new(ErrorKind::BadState(
            "The sign-in response carried no state, so we cannot tell which sign-in it belongs to.",
        )))?;
    let flow = match FlowState::from_request(app, req, &tenant.slug, state) {
        Ok(flow) => flow,
        Err(why) => {
            let kind = match already_signed_in(app, req, tenant).await {
                Some(target) => ErrorKind::AlreadySignedIn(target),
                None => ErrorKind::BadState(why),
            };
            return Err(AppError::new(kind));
        }
    };
    let removal = flow::removal(app, &tenant.slug, state);
    let mut result = finish_flow(app, req, tenant, flow, query).await;
    let response = match &mut result {
        Ok((response, _)) => response,
        Err(e) => {
            e.flow_over = Some(Box::new(removal));
            return result;
        }
    };
    response.add_cookie(&removal).ok();
    result
}

/// A callback whose flow is gone (the back button after signing in, a reloaded or
/// bookmarked callback) from a browser that already holds a session for this tenant: the
/// page says so and links to the application. Nothing is exchanged or written.
async fn already_signed_in(
    app: &AppState,
    req: &HttpRequest,
    tenant: &TenantRow,
) -> Option<String> {
    let (session_tenant, _) = super::session::current_profile(app, req).await.ok()??;
    (session_tenant.id == tenant.id)
        .then(|| tenant.app_url.clone().unwrap_or_else(|| "/".to_owned()))
}

async fn finish_flow(
    app: &AppState,
    req: &HttpRequest,
    tenant: &TenantRow,
    flow: FlowState,
    query: &CallbackQuery,
) -> Result<(HttpResponse, &'static str), AppError> {
    // RFC 9207: when the provider names itself, it must be this tenant's provider, for an
    // error response too (whose error would otherwise be believed); a provider that says
    // it always names itself must have (2.4), or the response may come from elsewhere.
    match &query.iss {
        Some(iss) if iss != &tenant.issuer => {
            return Err(AppError::new(ErrorKind::BadState(
                "The sign-in response came from a different identity provider than the one we sent you to.",
            )));
        }
        Some(_) => {}
        None => {
            let provider = app.providers.provider(&tenant.issuer, &tenant.slug).await?;
            if provider.iss_in_responses {
                return Err(AppError::new(ErrorKind::BadState(
                    "The sign-in response did not say which identity provider sent it, although yours always does.",
                )));
            }
        }
    }
    if let Some(error) = &query.error {
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        log::info!("tenant={} provider returned error={code}", tenant.slug);
        return Err(AppError::new(ErrorKind::ProviderSaid(code)));
    }
    let code = query
        .code
        .as_deref()
        .ok_or(AppError::new(ErrorKind::BadState(
            "The sign-in response carried no authorization code.",
        )))?;
    let cfg = client_config(app, tenant)?;
    let wanted = crate::service::claims::wanted_claims(tenant);
    let identity = app
        .providers
        .finish(&cfg, code, &flow.verifier, &flow.nonce, &wanted)
        .await?;
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let outcome = signin::sign_in(&app.db, tenant.clone(), identity, request_id.clone()).await?;
    let rid = request_id.unwrap_or_default();
    match outcome {
        Outcome::Refused(why) => {
            log::info!(
                "sign-in tenant={} outcome=refused reason={} request_id={rid}",
                tenant.slug,
                why.code()
            );
            Err(AppError::new(ErrorKind::Refused(why)))
        }
        Outcome::Admitted { profile, decision } => {
            log::info!(
                "sign-in tenant={} outcome={} profile={} request_id={rid}",
                tenant.slug,
                decision.code(),
                profile.id
            );
            let token = app.sessions.issue(&profile.id, &tenant.id, &tenant.slug);
            let target = flow
                .return_to
                .or_else(|| tenant.app_url.clone())
                .unwrap_or_else(|| "/".to_owned());
            let response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, target))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(session_cookie(app, token))
                .finish();
            Ok((response, decision.code()))
        }
    }
}

pub fn session_cookie(app: &AppState, token: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(app.session_cookie.clone(), token);
    cookie.set_path("/");
    cookie.set_http_only(true);
    cookie.set_secure(app.secure_cookies);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(time::Duration::seconds(app.sessions.ttl().as_secs() as i64));
    cookie
}
