//! `GET /t/{tenant}/login` and third-party initiated login start a code flow
//! (`callback.rs` finishes it).

use super::flow::{self, FlowState};
use super::AppState;
use crate::db::tenants::TenantRow;
use crate::domain::ReturnTo;
use crate::error::{AppError, ErrorKind};
use crate::oidc::ClientConfig;
use crate::service::tenants;
use crate::settings::Secret;
use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

#[get("/t/{tenant}/login")]
pub async fn login(
    app: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, AppError> {
    if let Some(moved) = canonical_host(&app, &req) {
        return Ok(moved);
    }
    let tenant = load_tenant(&app, &path).await?;
    let return_to = local_target(&app, query.return_to.as_deref());
    start_flow(&app, &req, &tenant, return_to, query.login_hint.as_deref()).await
}

/// A sign-in must run on the public URL's host: the flow cookie is set for the host the
/// browser used, and the provider returns to the public URL. On a developer's machine a
/// browser that came by another loopback name (localhost for 127.0.0.1) is sent to the
/// public one first. Nothing else is moved: behind a reverse proxy the Host header can be
/// the proxy's upstream name (nginx's default), and sending that browser to the public
/// URL would bring it straight back, in a redirect loop.
fn canonical_host(app: &AppState, req: &HttpRequest) -> Option<HttpResponse> {
    if app.public_host.is_empty() || !is_loopback(&app.public_host) {
        return None;
    }
    let info = req.connection_info();
    let host = info.host();
    if host.eq_ignore_ascii_case(&app.public_host) || !is_loopback(host) {
        return None;
    }
    let target = format!(
        "{}{}",
        app.public_url,
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    Some(
        HttpResponse::Found()
            .insert_header((header::LOCATION, target))
            .finish(),
    )
}

/// Whether `host[:port]` names this machine: localhost, 127.0.0.0/8 or ::1.
fn is_loopback(host: &str) -> bool {
    url::Url::parse(&format!("http://{host}/")).is_ok_and(|url| crate::oidc::is_loopback(&url))
}

/// A return path on this site: a relative path, or an absolute URL on our own public
/// origin (reduced to its path). Anything else is ignored (logged), never followed.
fn local_target(app: &AppState, raw: Option<&str>) -> Option<ReturnTo> {
    let raw = raw?;
    let own = format!("{}/", app.public_url);
    let candidate = match raw.strip_prefix(&app.public_url) {
        Some(rest) if raw.starts_with(&own) || rest.is_empty() => {
            if rest.is_empty() {
                "/"
            } else {
                rest
            }
        }
        _ => raw,
    };
    let parsed = ReturnTo::parse(candidate);
    if parsed.is_none() {
        log::info!("ignoring a return target that is not a path on this site");
    }
    parsed
}

/// Third-party initiated login (OpenID Connect Core 1.0, section 4): what an SSO portal
/// tile sends, by GET or POST.
#[derive(Deserialize)]
pub struct InitiateParams {
    iss: Option<String>,
    login_hint: Option<String>,
    target_link_uri: Option<String>,
}

async fn initiate(
    app: &AppState,
    req: &HttpRequest,
    slug: Option<&str>,
    params: InitiateParams,
) -> Result<HttpResponse, AppError> {
    let bad = |why| AppError::new(ErrorKind::BadRequest(why));
    let iss = params
        .iss
        .as_deref()
        .ok_or_else(|| bad("The sign-in request did not say which identity provider it came from (the iss parameter is missing)."))?;
    let tenant = match slug {
        Some(slug) => {
            let tenant = load_tenant(app, slug).await?;
            if tenant.issuer != iss {
                return Err(bad(
                    "The sign-in request names an identity provider that is not this company's.",
                )
                .for_tenant(slug));
            }
            tenant
        }
        None => {
            // Not an issuer URL (a NUL the database cannot even compare, a megabyte of
            // text): no tenant can have it.
            let mut found = match crate::oidc::validate_issuer(iss) {
                Ok(_) => tenants::find_by_issuer(&app.db, iss).await?,
                Err(_) => Vec::new(),
            };
            match found.len() {
                1 => found.remove(0),
                0 => return Err(bad("No company here uses the identity provider this sign-in request came from.")),
                _ => return Err(bad("Several companies use this identity provider; please use your company's own sign-in link.")),
            }
        }
    };
    let target = local_target(app, params.target_link_uri.as_deref());
    start_flow(app, req, &tenant, target, params.login_hint.as_deref()).await
}

#[get("/t/{tenant}/initiate")]
pub async fn initiate_get(
    app: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<InitiateParams>,
) -> Result<HttpResponse, AppError> {
    if let Some(moved) = canonical_host(&app, &req) {
        return Ok(moved);
    }
    initiate(&app, &req, Some(&path), query.into_inner()).await
}

#[post("/t/{tenant}/initiate")]
pub async fn initiate_post(
    app: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<InitiateParams>,
) -> Result<HttpResponse, AppError> {
    initiate(&app, &req, Some(&path), form.into_inner()).await
}

#[get("/initiate")]
pub async fn initiate_any_get(
    app: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<InitiateParams>,
) -> Result<HttpResponse, AppError> {
    initiate(&app, &req, None, query.into_inner()).await
}

#[post("/initiate")]
pub async fn initiate_any_post(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<InitiateParams>,
) -> Result<HttpResponse, AppError> {
    initiate(&app, &req, None, form.into_inner()).await
}

/// Redirects the browser to the tenant's provider with a fresh state, nonce and PKCE.
async fn start_flow(
    app: &AppState,
    req: &HttpRequest,
    tenant: &TenantRow,
    return_to: Option<ReturnTo>,
    login_hint: Option<&str>,
) -> Result<HttpResponse, AppError> {
    let cfg = client_config(app, tenant)?;
    let hint = login_hint.filter(|h| !h.is_empty() && h.len() <= 254);
    let request = app
        .providers
        .start(&cfg, hint)
        .await
        .map_err(|e| AppError::from(e).for_tenant(&tenant.slug))?;
    let flow = FlowState::new(
        app,
        &tenant.slug,
        request.state,
        request.nonce,
        request.pkce_verifier,
        return_to.map(|r| r.as_str().to_owned()),
    );
    let mut response = HttpResponse::Found();
    response
        .insert_header((header::LOCATION, request.url))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    for stale in flow::prune(app, req, &tenant.slug) {
        response.cookie(stale);
    }
    Ok(response.cookie(flow.to_cookie(app)).finish())
}

pub(super) async fn load_tenant(app: &AppState, slug: &str) -> Result<TenantRow, AppError> {
    if crate::domain::TenantSlug::parse(slug).is_err() {
        return Err(AppError::new(ErrorKind::UnknownTenant));
    }
    if let Some(row) = app.tenants.get(slug) {
        return Ok(row);
    }
    let ticket = app.tenants.ticket();
    let row = tenants::find(&app.db, slug)
        .await?
        .ok_or_else(|| AppError::new(ErrorKind::UnknownTenant))?;
    app.tenants.put(ticket, &row);
    Ok(row)
}

pub(super) fn client_config(app: &AppState, tenant: &TenantRow) -> Result<ClientConfig, AppError> {
    let secret = app.secrets.open(&tenant.client_secret_enc).map_err(|e| {
        log::error!("tenant={}: {e}", tenant.slug);
        AppError::new(ErrorKind::ProviderMisconfigured).for_tenant(&tenant.slug)
    })?;
    Ok(ClientConfig {
        tenant: tenant.slug.clone(),
        issuer: tenant.issuer.clone(),
        client_id: tenant.client_id.clone(),
        client_secret: Secret::new(secret),
        scopes: tenant
            .scopes
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        redirect_uri: format!("{}/t/{}/callback", app.public_url, tenant.slug),
    })
}
