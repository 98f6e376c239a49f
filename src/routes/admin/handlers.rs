//! Handlers of `/admin/v1`: extract, call one service function, map the result.

use super::params::{json_body, Params};
use super::{ApiError, StaffAuth, WriterAuth};
use crate::db::audit::AuditQuery;
use crate::db::profiles::RosterQuery;
use crate::db::tenants::{TenantChanges, TenantRow};
use crate::routes::AppState;
use crate::service::admin::{self, decode_cursor, ProviderChange};
use crate::service::claims::wanted_claims;
use crate::service::tenants::{self, TenantInput};
use crate::settings::Secret;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

type App = web::Data<AppState>;
type Res = Result<HttpResponse, ApiError>;

pub fn tenant_json(app: &AppState, t: &TenantRow) -> Value {
    json!({
        "slug": t.slug,
        "name": t.display_name,
        "jit_enabled": t.jit_enabled,
        "issuer": t.issuer,
        "client_id": t.client_id,
        "client_secret_set": !t.client_secret_enc.is_empty(),
        "scopes": t.scopes,
        "app_url": t.app_url,
        "redirect_uri": format!("{}/t/{}/callback", app.public_url, t.slug),
        "initiate_login_uri": format!("{}/t/{}/initiate", app.public_url, t.slug),
        "claim_mapping": { "email": t.email_claim, "given_name": t.given_name_claim, "family_name": t.family_name_claim },
        "email_trust": { "trust_unstated_email": t.trust_unstated_email, "trust_username_email": t.trust_username_email },
        "allowed_email_domains": t.allowed_email_domains.split_whitespace().collect::<Vec<_>>(),
        "sync_names": t.sync_names,
        "profile_defaults": { "role": t.default_role, "locale": t.default_locale, "time_zone": t.default_time_zone },
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

pub async fn list_tenants(_: StaffAuth, app: App, req: HttpRequest) -> Res {
    let rows = tenants::list(&app.db)
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    let items: Vec<Value> = rows.iter().map(|t| tenant_json(&app, t)).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenantBody {
    slug: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: String,
    app_url: Option<String>,
    scopes: Option<String>,
}

pub async fn create_tenant(staff: WriterAuth, app: App, req: HttpRequest, body: web::Bytes) -> Res {
    let b: NewTenantBody = json_body(&req, &body)?;
    let input = TenantInput {
        slug: b.slug,
        display_name: b.name,
        issuer: b.issuer,
        client_id: b.client_id,
        client_secret: Secret::new(b.client_secret),
        app_url: b.app_url,
        scopes: b.scopes,
    };
    let t = tenants::add_tenant(&app.db, &app.secrets, input, &staff.actor())
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Created().json(tenant_json(&app, &t)))
}

async fn load(app: &AppState, req: &HttpRequest, slug: &str) -> Result<TenantRow, ApiError> {
    admin::last_sign_in(&app.db, slug)
        .await
        .map(|(t, _)| t)
        .map_err(|e| ApiError::from_admin(req, e))
}

pub async fn get_tenant(_: StaffAuth, app: App, req: HttpRequest, slug: web::Path<String>) -> Res {
    let t = load(&app, &req, &slug).await?;
    Ok(HttpResponse::Ok().json(tenant_json(&app, &t)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    name: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scopes: Option<String>,
    /// Absent keeps the app URL; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    app_url: Option<Option<String>>,
    email_claim: Option<String>,
    given_name_claim: Option<String>,
    family_name_claim: Option<String>,
    trust_unstated_email: Option<bool>,
    trust_username_email: Option<bool>,
    allowed_email_domains: Option<Vec<String>>,
    sync_names: Option<bool>,
    default_role: Option<String>,
    default_locale: Option<String>,
    default_time_zone: Option<String>,
}

/// A present field, whose `null` is a value of its own (plain `Option<Option<_>>` reads a
/// `null` as absent, so a setting could never be removed).
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn update_tenant(
    staff: WriterAuth,
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Res {
    let actor = staff.actor();
    let p: TenantPatch = json_body(&req, &body)?;
    if let Some(scopes) = &p.scopes {
        if !scopes.split_whitespace().any(|s| s == "openid") {
            return Err(ApiError::invalid(
                &req,
                "scopes",
                "scopes must include openid",
            ));
        }
    }
    let changes = TenantChanges {
        display_name: p.name,
        app_url: p.app_url,
        scopes: p.scopes,
        email_claim: p.email_claim,
        given_name_claim: p.given_name_claim,
        family_name_claim: p.family_name_claim,
        trust_unstated_email: p.trust_unstated_email,
        trust_username_email: p.trust_username_email,
        allowed_email_domains: p.allowed_email_domains.map(|d| d.join(" ")),
        sync_names: p.sync_names,
        default_role: p.default_role,
        default_locale: p.default_locale,
        default_time_zone: p.default_time_zone,
        updated_at: None,
    };
    let provider = ProviderChange {
        issuer: p.issuer,
        client_id: p.client_id,
        client_secret: p.client_secret,
    };
    let updated = admin::update_tenant(
        &app.db,
        &app.secrets,
        Some(&app.providers),
        &slug,
        provider,
        changes,
        &actor,
    )
    .await;
    app.tenants.forget(&slug);
    let t = updated.map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Ok().json(tenant_json(&app, &t)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JitBody {
    enabled: bool,
    reason: String,
}

pub async fn set_jit(
    staff: WriterAuth,
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
    body: web::Bytes,
) -> Res {
    let actor = staff.actor();
    let body: JitBody = json_body(&req, &body)?;
    let changed = tenants::set_jit(&app.db, &slug, body.enabled, &body.reason, &actor).await;
    app.tenants.forget(&slug);
    let old = changed.map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Ok()
        .json(json!({ "slug": slug.as_str(), "jit_enabled": body.enabled, "previous": old })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterParams {
    q: Option<String>,
    created_via: Option<String>,
    created_after: Option<i64>,
    created_before: Option<i64>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list_profiles(
    _: StaffAuth,
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
    Params(q): Params<RosterParams>,
) -> Res {
    if let Some(via) = &q.created_via {
        if via != "jit" && via != "operator" {
            return Err(ApiError::invalid(
                &req,
                "created_via",
                "created_via is jit or operator",
            ));
        }
    }
    let after = q
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()
        .map_err(|e| ApiError::from_admin(&req, e))?;
    let query = RosterQuery {
        text: q.q,
        created_via: q.created_via,
        created_from: q.created_after,
        created_until: q.created_before,
        after,
        limit: q.limit.unwrap_or(50),
    };
    let page = admin::roster_page(&app.db, &slug, query)
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn get_profile(
    _: StaffAuth,
    app: App,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Res {
    let (slug, id) = path.into_inner();
    let (profile, links) = admin::profile_with_links(&app.db, &slug, &id)
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Ok().json(json!({ "profile": profile, "identities": links })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    reason: String,
}

async fn set_active(
    staff: WriterAuth,
    app: App,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: ReasonBody,
    active: bool,
) -> Res {
    let actor = staff.actor();
    let (slug, id) = path.into_inner();
    let p = admin::set_profile_active(&app.db, &slug, &id, active, &body.reason, &actor)
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Ok().json(p))
}

pub async fn deactivate_profile(
    staff: WriterAuth,
    app: App,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Res {
    let body: ReasonBody = json_body(&req, &body)?;
    set_active(staff, app, req, path, body, false).await
}

pub async fn reactivate_profile(
    staff: WriterAuth,
    app: App,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Res {
    let body: ReasonBody = json_body(&req, &body)?;
    set_active(staff, app, req, path, body, true).await
}

pub async fn unlink_profile(
    staff: WriterAuth,
    app: App,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Res {
    let body: ReasonBody = json_body(&req, &body)?;
    let (slug, id) = path.into_inner();
    let removed = admin::unlink_identities(&app.db, &slug, &id, &body.reason, &staff.actor())
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Ok().json(json!({ "removed": removed })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    kind: Option<String>,
    profile: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub async fn list_audit(
    _: StaffAuth,
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
    Params(q): Params<AuditParams>,
) -> Res {
    let before = q
        .cursor
        .as_deref()
        .map(decode_cursor)
        .transpose()
        .map_err(|e| ApiError::from_admin(&req, e))?;
    let query = AuditQuery {
        kind: q.kind,
        profile_id: q.profile,
        since: q.since,
        until: q.until,
        before,
        limit: q.limit.unwrap_or(50),
    };
    let page = admin::audit_page(&app.db, &slug, query)
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|e| {
            let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
            json!({ "id": e.id, "occurred_at": e.occurred_at, "kind": e.kind, "actor": e.actor,
                    "profile_id": e.profile_id, "request_id": e.request_id, "details": details })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": page.next_cursor })))
}

/// The integration check as JSON (also used by the web page).
pub async fn check_report(
    app: &AppState,
    slug: &str,
) -> Result<Value, crate::service::tenants::AdminError> {
    let (t, last) = admin::last_sign_in(&app.db, slug).await?;
    let scopes: Vec<String> = t.scopes.split_whitespace().map(str::to_owned).collect();
    let items = app
        .providers
        .inspect(&t.issuer, &t.slug, &scopes, &wanted_claims(&t))
        .await;
    let ok = items.iter().all(|i| i.ok);
    Ok(json!({
        "tenant": t.slug,
        "ok": ok,
        "items": items,
        "register_at_provider": {
            "redirect_uri": format!("{}/t/{}/callback", app.public_url, t.slug),
            "initiate_login_uri": format!("{}/t/{}/initiate", app.public_url, t.slug),
        },
        "jit_enabled": t.jit_enabled,
        "last_successful_sign_in": last,
    }))
}

pub async fn check_tenant(
    _: StaffAuth,
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
) -> Res {
    let report = check_report(&app, &slug)
        .await
        .map_err(|e| ApiError::from_admin(&req, e))?;
    Ok(HttpResponse::Ok().json(report))
}
