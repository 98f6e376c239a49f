//! `/admin`: a small server-rendered console for support staff. Sign in with a staff token
//! (kept encrypted in an HttpOnly, SameSite=Strict cookie); every form carries a CSRF token
//! derived from that cookie.

use super::handlers::check_report;
use crate::crypto::constant_time_eq;
use crate::domain::when;
use crate::routes::pages::{escape, html};
use crate::routes::AppState;
use crate::service::admin::{self, Page};
use crate::service::staff::{self, Staff};
use crate::service::tenants;
use actix_web::cookie::{Cookie, CookieJar, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sha2::{Digest, Sha256};

const COOKIE: &str = "jit_sso_admin";
type App = web::Data<AppState>;

pub fn scope() -> actix_web::Scope {
    web::scope("/admin")
        .service(home)
        .service(login)
        .service(logout)
        .service(tenant_page)
        .service(switch_jit)
        .service(roster)
        .service(audit)
}

/// The signed-in staff member and the CSRF token for their forms.
struct Session {
    staff: Staff,
    csrf: String,
}

fn csrf_for(cookie_value: &str) -> String {
    Sha256::digest(format!("csrf:{cookie_value}").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signed-in staff member, if any; `Err` is the page to show when the database cannot
/// tell (a staff member is not signed out, nor their token unknown, because of that).
async fn session(app: &AppState, req: &HttpRequest) -> Result<Option<Session>, HttpResponse> {
    let Some(raw) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    let mut jar = CookieJar::new();
    jar.add_original(raw.clone());
    let Some(token) = jar.private(&app.flow_key).get(COOKIE) else {
        return Ok(None);
    };
    let staff = staff::authenticate(&app.db, token.value())
        .await
        .map_err(unavailable)?;
    Ok(staff.map(|staff| Session {
        staff,
        csrf: csrf_for(raw.value()),
    }))
}

fn unavailable(e: crate::db::DbError) -> HttpResponse {
    log::warn!("admin page: {e}");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "<main><p>The database is not answering. Try again in a minute.</p></main>",
    )
}

/// The signed-in staff member, or the response to send instead (to sign in, or 503).
macro_rules! signed_in {
    ($app:expr, $req:expr) => {
        match session(&$app, &$req).await {
            Ok(Some(s)) => s,
            Ok(None) => return redirect("/admin"),
            Err(resp) => return resp,
        }
    };
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

fn page(title: &str, who: Option<&Session>, body: &str) -> HttpResponse {
    let nav = match who {
        Some(s) => format!(
            r#"<nav class="muted"><a href="/admin">Tenants</a> · signed in as {}{} · <form method="post" action="/admin/logout" style="display:inline"><input type="hidden" name="csrf" value="{}"><button type="submit">Sign out</button></form></nav>"#,
            escape(&s.staff.name),
            if s.staff.read_only {
                " (read-only)"
            } else {
                ""
            },
            s.csrf
        ),
        None => String::new(),
    };
    html(
        StatusCode::OK,
        title,
        &format!("{nav}<main><h1>{}</h1>{body}</main>", escape(title)),
    )
}

#[get("")]
async fn home(app: App, req: HttpRequest) -> HttpResponse {
    let s = match session(&app, &req).await {
        Ok(Some(s)) => s,
        Err(resp) => return resp,
        Ok(None) => {
            return page(
                "Support console",
                None,
                r#"<form method="post" action="/admin/login" class="box"><label for="token">Staff token</label><input id="token" name="token" type="password" autocomplete="off" required><p><button type="submit">Sign in</button></p></form><p class="muted">Create a token with <code>jit-sso token create --name you</code>.</p>"#,
            )
        }
    };
    let Ok(rows) = tenants::list(&app.db).await else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "<main><p>The database is not answering. Try again in a minute.</p></main>",
        );
    };
    let mut body =
        String::from(r#"<table><tr><th>Tenant</th><th>Name</th><th>JIT</th><th>Switch</th></tr>"#);
    for t in rows {
        let next = if t.jit_enabled { "off" } else { "on" };
        let form = if s.staff.read_only {
            String::from("<span class=\"muted\">read-only</span>")
        } else {
            format!(
                r#"<form method="post" action="/admin/t/{slug}/jit"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="enabled" value="{next}"><input name="reason" placeholder="Reason (required)" required aria-label="Reason for {slug}"><button type="submit">Turn JIT {next}</button></form>"#,
                slug = escape(&t.slug),
                csrf = s.csrf
            )
        };
        body.push_str(&format!(
            r#"<tr><td><a href="/admin/t/{slug}">{slug}</a></td><td>{name}</td><td data-jit="{slug}">{jit}</td><td>{form}</td></tr>"#,
            slug = escape(&t.slug),
            name = escape(&t.display_name),
            jit = if t.jit_enabled { "on" } else { "off" },
        ));
    }
    body.push_str("</table>");
    page("Tenants", Some(&s), &body)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

#[post("/login")]
async fn login(app: App, form: web::Form<LoginForm>) -> HttpResponse {
    match staff::authenticate(&app.db, form.token.trim()).await {
        Err(e) => unavailable(e),
        Ok(Some(_)) => {
            let mut jar = CookieJar::new();
            jar.private_mut(&app.flow_key)
                .add(Cookie::new(COOKIE, form.token.trim().to_owned()));
            let mut cookie = jar.get(COOKIE).expect("just added").clone();
            cookie.set_path("/admin");
            cookie.set_http_only(true);
            cookie.set_secure(app.secure_cookies);
            cookie.set_same_site(SameSite::Strict);
            let mut resp = redirect("/admin");
            resp.add_cookie(&cookie).ok();
            resp
        }
        _ => {
            let mut resp = page(
                "Support console",
                None,
                r#"<p role="alert">That token is unknown or revoked.</p><p><a href="/admin">Try again</a></p>"#,
            );
            *resp.status_mut() = StatusCode::UNAUTHORIZED;
            resp
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

fn csrf_ok(s: &Session, presented: &str) -> bool {
    constant_time_eq(s.csrf.as_bytes(), presented.as_bytes())
}

fn forbidden(why: &str) -> HttpResponse {
    html(StatusCode::FORBIDDEN, "Not allowed", &format!("<main class=\"box\"><h1>Not allowed</h1><p>{}</p><p><a href=\"/admin\">Back</a></p></main>", escape(why)))
}

#[post("/logout")]
async fn logout(app: App, req: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    if let Some(s) = session(&app, &req).await.unwrap_or(None) {
        if !csrf_ok(&s, &form.csrf) {
            return forbidden("The form was not sent from this console.");
        }
    }
    let mut cookie = Cookie::new(COOKIE, "");
    cookie.set_path("/admin");
    cookie.make_removal();
    let mut resp = redirect("/admin");
    resp.add_cookie(&cookie).ok();
    resp
}

#[derive(Deserialize)]
struct JitForm {
    csrf: String,
    enabled: String,
    reason: String,
}

#[post("/t/{slug}/jit")]
async fn switch_jit(
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
    form: web::Form<JitForm>,
) -> HttpResponse {
    let s = signed_in!(app, req);
    if !csrf_ok(&s, &form.csrf) {
        return forbidden("The form was not sent from this console.");
    }
    if s.staff.read_only {
        return forbidden("Your token is read-only.");
    }
    let enabled = match form.enabled.as_str() {
        "on" => true,
        "off" => false,
        // Only a crafted form gets here; it must not switch JIT off by default.
        _ => {
            let mut resp = page(
                "Not understood",
                Some(&s),
                "<p role=\"alert\">The form must say on or off.</p><p><a href=\"/admin\">Back</a></p>",
            );
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return resp;
        }
    };
    let actor = format!("staff:{}", s.staff.name);
    let changed = tenants::set_jit(&app.db, &slug, enabled, &form.reason, &actor).await;
    app.tenants.forget(&slug);
    match changed {
        Ok(_) => redirect("/admin"),
        Err(tenants::AdminError::Invalid { message, .. }) => {
            let mut resp = page(
                "Reason needed",
                Some(&s),
                &format!(
                    "<p role=\"alert\">{}</p><p><a href=\"/admin\">Back</a></p>",
                    escape(&message)
                ),
            );
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            resp
        }
        Err(tenants::AdminError::UnknownTenant(_)) => crate::routes::not_found().await,
        Err(e) => {
            log::warn!("admin page: {e}");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "<main><p>Could not save the change. Try again.</p></main>",
            )
        }
    }
}

/// A console page that could not be read: an unknown tenant is the 404 page, anything
/// else (the database not answering) is not the staff member's doing.
async fn failed(e: tenants::AdminError) -> HttpResponse {
    match e {
        tenants::AdminError::UnknownTenant(_) => crate::routes::not_found().await,
        e => {
            log::warn!("admin page: {e}");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "<main><p>The database is not answering. Try again in a minute.</p></main>",
            )
        }
    }
}

#[derive(Deserialize)]
struct TenantQuery {
    check: Option<String>,
}

#[get("/t/{slug}")]
async fn tenant_page(
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
    q: web::Query<TenantQuery>,
) -> HttpResponse {
    let s = signed_in!(app, req);
    let (t, last) = match admin::last_sign_in(&app.db, &slug).await {
        Ok(found) => found,
        Err(e) => return failed(e).await,
    };
    let slug = escape(&t.slug);
    let mut body = format!(
        r#"<dl class="box"><dt>Name</dt><dd>{}</dd><dt>Issuer</dt><dd>{}</dd><dt>Client id</dt><dd>{}</dd><dt>JIT</dt><dd>{}</dd><dt>Last sign-in</dt><dd>{}</dd><dt>Redirect URI</dt><dd><code>{}/t/{slug}/callback</code></dd><dt>Initiate login URI</dt><dd><code>{}/t/{slug}/initiate</code></dd></dl>
<p><a href="/admin/t/{slug}/roster">Roster</a> · <a href="/admin/t/{slug}/audit">Audit trail</a> · <a href="/admin/t/{slug}?check=1">Run the integration check</a></p>"#,
        escape(&t.display_name),
        escape(&t.issuer),
        escape(&t.client_id),
        if t.jit_enabled { "on" } else { "off" },
        when(last),
        escape(&app.public_url),
        escape(&app.public_url),
    );
    if q.check.is_some() {
        match check_report(&app, &t.slug).await {
            Ok(report) => {
                body.push_str("<h2>Integration check</h2><table>");
                for i in report["items"].as_array().into_iter().flatten() {
                    let ok = i["ok"].as_bool().unwrap_or(false);
                    body.push_str(&format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        if ok { "ok" } else { "<strong>FAIL</strong>" },
                        escape(i["item"].as_str().unwrap_or("")),
                        escape(i["detail"].as_str().unwrap_or(""))
                    ));
                }
                body.push_str("</table>");
            }
            Err(e) => body.push_str(&format!("<p role=\"alert\">{}</p>", escape(&e.to_string()))),
        }
    }
    page(&format!("Tenant {}", t.slug), Some(&s), &body)
}

#[derive(Deserialize)]
struct RosterParams {
    q: Option<String>,
}

#[get("/t/{slug}/roster")]
async fn roster(
    app: App,
    req: HttpRequest,
    slug: web::Path<String>,
    params: web::Query<RosterParams>,
) -> HttpResponse {
    let s = signed_in!(app, req);
    if params.q.as_deref().is_some_and(|q| !crate::db::storable(q)) {
        // PostgreSQL cannot even compare a NUL character.
        let mut resp = page(
            "Search not possible",
            Some(&s),
            "<p role=\"alert\">The search text must not contain a NUL character.</p>",
        );
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        return resp;
    }
    let query = crate::db::profiles::RosterQuery {
        text: params.q.clone(),
        limit: admin::MAX_PAGE,
        ..Default::default()
    };
    let items = match admin::roster_page(&app.db, &slug, query).await {
        Ok(Page { items, .. }) => items,
        Err(e) => return failed(e).await,
    };
    let mut body = format!(
        r#"<form method="get"><label for="q">Search by email or name</label><input id="q" name="q" value="{}"><button type="submit">Search</button></form><table><tr><th>Email</th><th>Name</th><th>Status</th><th>Created</th><th>Last sign-in</th></tr>"#,
        escape(params.q.as_deref().unwrap_or(""))
    );
    for p in &items {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{} ({})</td><td>{}</td></tr>",
            escape(&p.email),
            escape(&p.first_name),
            escape(&p.last_name),
            escape(&p.status),
            when(Some(p.created_at)),
            escape(&p.created_via),
            when(p.last_sign_in_at)
        ));
    }
    body.push_str(&format!(
        "</table><p class=\"muted\">{} profile(s) shown.</p>",
        items.len()
    ));
    page(&format!("Roster of {slug}"), Some(&s), &body)
}

#[get("/t/{slug}/audit")]
async fn audit(app: App, req: HttpRequest, slug: web::Path<String>) -> HttpResponse {
    let s = signed_in!(app, req);
    let query = crate::db::audit::AuditQuery {
        limit: admin::MAX_PAGE,
        ..Default::default()
    };
    let items = match admin::audit_page(&app.db, &slug, query).await {
        Ok(Page { items, .. }) => items,
        Err(e) => return failed(e).await,
    };
    let mut body =
        String::from("<table><tr><th>When</th><th>What</th><th>Who</th><th>Details</th></tr>");
    for e in &items {
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            when(Some(e.occurred_at)),
            escape(&e.kind),
            escape(&e.actor),
            escape(&e.details)
        ));
    }
    body.push_str("</table>");
    page(&format!("Audit trail of {slug}"), Some(&s), &body)
}
