//! Hostile input to the web console: searches, forms, a database that does not answer.

use super::*;

/// A browser signed in to the web console.
async fn console(app: &TestApp) -> reqwest::Client {
    let browser = app.browser();
    let token = app.staff_token(false).await;
    let resp = browser
        .post(app.url("/admin/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    browser
}

on_both_databases! {
    async fn the_console_roster_search_with_a_nul_is_a_400_not_a_404(app) {
        app.add_tenant("acme", true).await;
        let browser = console(&app).await;
        let ok = browser.get(app.url("/admin/t/acme/roster?q=a")).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        let resp = browser.get(app.url("/admin/t/acme/roster?q=%00")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
}

#[actix_web::test]
async fn the_console_jit_switch_refuses_a_value_that_is_neither_on_nor_off() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let browser = console(&app).await;
    let home = browser
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = home
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    for enabled in ["yes", "ON", ""] {
        let form = [
            ("csrf", csrf.as_str()),
            ("enabled", enabled),
            ("reason", "ticket 7"),
        ];
        let resp = browser
            .post(app.url("/admin/t/acme/jit"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{enabled:?}");
    }
    let token = app.staff_token(true).await;
    let (_, acme) = call(&app, &token, Method::GET, "/tenants/acme", None).await;
    assert_eq!(
        acme["jit_enabled"], true,
        "JIT was switched off by a form that did not say off"
    );
}

#[actix_web::test]
async fn the_console_says_the_database_is_down_instead_of_signing_staff_out() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    app.add_tenant("acme", true).await;
    let browser = console(&app).await;
    let token = app.staff_token(false).await;
    app.postgres().unwrap().drop_now();
    let login = app
        .browser()
        .post(app.url("/admin/login"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "not \"unknown or revoked\""
    );
    for path in ["/admin", "/admin/t/acme/roster"] {
        let resp = browser.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
}
