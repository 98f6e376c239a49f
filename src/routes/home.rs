//! `GET /`: who is signed in, and in demo mode the way to try it.

use super::pages::{escape, html};
use super::session::current_profile;
use super::AppState;
use actix_web::http::StatusCode;
use actix_web::{route, web, HttpRequest, HttpResponse};

#[route("/", method = "GET", method = "HEAD")]
pub async fn index(app: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let signed_in = match current_profile(&app, &req).await {
        Ok(found) => found,
        Err(e) => {
            log::warn!("home page session lookup failed: {e}");
            None
        }
    };
    let mut body = String::from("<main>");
    match signed_in {
        Some((tenant, p)) => {
            body.push_str(&format!(
                r#"<h1>Welcome, {first}!</h1>
<div class="box"><dl>
<dt>Name</dt><dd>{first} {last}</dd>
<dt>Email</dt><dd>{email}</dd>
<dt>Company</dt><dd>{company}</dd>
<dt>Role</dt><dd>{role}</dd>
<dt>Account created</dt><dd>{via}</dd>
</dl>
<form method="post" action="/logout"><button type="submit">Sign out</button></form></div>"#,
                first = escape(&p.first_name),
                last = escape(&p.last_name),
                email = escape(&p.email),
                company = escape(&tenant.display_name),
                role = escape(&p.role),
                via = if p.created_via == "jit" {
                    "on first sign-in (JIT)"
                } else {
                    "by an operator"
                },
            ));
        }
        None => {
            body.push_str("<h1>jit-sso</h1><p>You are not signed in.</p>");
            if app.demo.is_some() {
                body.push_str(
                    r#"<div class="box"><p>Demo mode: sign in to the <strong>Demo Company</strong> through the built-in development identity provider. Type any name and email; your profile is created on first sign-in.</p>
<p><a class="button" href="/t/demo/login">Sign in to the demo</a></p></div>"#,
                );
            } else {
                body.push_str(r#"<p class="muted">Employees sign in through their company's link: <code>/t/&lt;company&gt;/login</code>.</p>"#);
            }
        }
    }
    body.push_str("</main>");
    html(StatusCode::OK, "jit-sso", &body)
}
