//! Findings of hostile testing, kept as tests.

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::TestUser;
use reqwest::StatusCode;

fn dora() -> TestUser {
    TestUser::new("sub-dora", "dora@example.com", "Dora", "Diaz")
}

on_both_databases! {
    async fn sign_out_ends_the_session_even_if_the_cookie_is_replayed(app) {
        app.add_tenant("acme", true).await;
        let browser = app.browser();
        let resp = app.sign_in_with(&browser, "acme", dora()).await;
        let token = resp.cookies().find(|c| c.name() == "jit_sso_session").unwrap().value().to_owned();
        assert_eq!(browser.post(app.url("/logout")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
        let replay = app.browser().get(app.url("/session"))
            .header("cookie", format!("jit_sso_session={token}"))
            .send().await.unwrap();
        assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
        // Signing in again works at once.
        let again = app.browser();
        app.sign_in_with(&again, "acme", dora()).await;
        assert_eq!(again.get(app.url("/session")).send().await.unwrap().status(), StatusCode::OK);
    }
}

#[actix_web::test]
async fn a_cross_site_sign_out_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let browser = app.browser();
    app.sign_in_with(&browser, "acme", dora()).await;
    let resp = browser
        .post(app.url("/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        browser
            .get(app.url("/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn repeated_or_missing_parameters_get_a_page_not_framework_text() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let resp = app
        .browser()
        .get(app.url("/t/acme/callback?state=a&state=b"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.text().await.unwrap().contains("malformed"));
}

#[actix_web::test]
async fn unknown_paths_get_a_404_page_and_probes_answer_head() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app
        .browser()
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.text().await.unwrap().contains("Page not found"));
    for path in ["/healthz", "/readyz", "/"] {
        let resp = app.browser().head(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "HEAD {path}");
    }
}

#[actix_web::test]
async fn pages_cannot_be_framed_and_never_leak_the_callback_url() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app.browser().get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
}

#[actix_web::test]
async fn open_sign_ins_per_browser_are_capped_so_cookies_stay_small() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.provider.login_as(dora());
    let browser = app.browser();
    let mut authorizes = Vec::new();
    for _ in 0..12 {
        authorizes.push(app.start_login(&browser, "/t/acme/login").await);
    }
    // The newest flow still finishes; the browser holds at most four flow cookies.
    let callback = app.authorize(&browser, authorizes.last().unwrap()).await;
    let resp = browser.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    // The oldest flow was pruned: finishing it is refused as a lost sign-in.
    let oldest = app.authorize(&browser, &authorizes[0]).await;
    assert_eq!(
        browser.get(oldest).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

#[actix_web::test]
async fn demo_mode_never_takes_over_a_real_tenant_named_demo() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.database.url = url.clone())
        .await
        .unwrap();
    app.add_tenant("demo", false).await;
    let mut settings = settings_for(&url);
    settings.demo.enabled = true;
    let err = jit_sso::startup::Application::build(settings)
        .await
        .err()
        .expect("demo must refuse");
    assert!(
        format!("{err:#}").contains("refuses to take it over"),
        "{err:#}"
    );
    let tenant = jit_sso::service::tenants::find(&app.db, "demo")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.issuer, app.provider.issuer());
}

#[actix_web::test]
async fn a_wrong_client_secret_is_reported_as_a_configuration_problem() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.provider.token_error_next("invalid_client");
    let resp = app.sign_in("acme", dora()).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(resp.text().await.unwrap().contains("not set up correctly"));
}

#[actix_web::test]
async fn a_browser_that_came_by_another_host_name_is_sent_to_the_public_one_first() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let resp = app
        .browser()
        .get(app.url("/t/acme/login?return_to=/x"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(
        resp.headers()["location"],
        app.url("/t/acme/login?return_to=/x").as_str()
    );
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "no flow starts on the wrong host"
    );
}
