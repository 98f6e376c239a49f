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
        .service(tenant::tenant_page)
        .service(tenant::switch_jit)
        .service(tenant::roster)
        .service(tenant::audit)
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

// After the helpers and `signed_in!` it uses (macros are in scope from their definition on).
mod tenant;
