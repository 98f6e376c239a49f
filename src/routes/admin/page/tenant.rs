//! The console's tenant pages: the tenant with its integration check, the JIT switch, the
//! roster and the audit trail.

use super::*;

#[derive(Deserialize)]
struct JitForm {
    csrf: String,
    enabled: String,
    reason: String,
}

#[post("/t/{slug}/jit")]
pub(super) async fn switch_jit(
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
pub(super) async fn tenant_page(
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
pub(super) async fn roster(
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
pub(super) async fn audit(app: App, req: HttpRequest, slug: web::Path<String>) -> HttpResponse {
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
