//! The callback: provider errors, stale or tampered flows.

use super::*;

#[actix_web::test]
async fn access_denied_with_an_html_description_gives_a_clear_escaped_page() {
    let app = app_with_tenant().await;
    let browser = app.browser();
    app.provider.login_as(erin());
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let callback = app.authorize(&browser, &authorize).await;
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let url = format!(
        "{}?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E+User+cancelled&state={state}&iss={}",
        app.url("/t/acme/callback"),
        app.provider.issuer()
    );
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = resp.text().await.unwrap();
    assert!(page.contains("access_denied"), "{page}");
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn an_error_code_with_markup_is_escaped() {
    let app = app_with_tenant().await;
    let browser = app.browser();
    app.provider.login_as(erin());
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let callback = app.authorize(&browser, &authorize).await;
    let url = format!("{callback}&error=%3Cscript%3Ealert(1)%3C/script%3E");
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let page = resp.text().await.unwrap();
    assert_clean(&page);
}

#[actix_web::test]
async fn a_callback_with_both_code_and_error_exchanges_nothing() {
    let app = app_with_tenant().await;
    let browser = app.browser();
    app.provider.login_as(erin());
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let callback = app.authorize(&browser, &authorize).await;
    let resp = browser
        .get(format!("{callback}&error=access_denied"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.provider.token_requests(), 0);
    assert_eq!(app.count("profiles").await, 0);
    assert_clean(&resp.text().await.unwrap());
}

#[actix_web::test]
async fn a_provider_error_without_state_is_a_clear_4xx_page() {
    let app = app_with_tenant().await;
    let resp =
        app.browser()
            .get(app.url(
                "/t/acme/callback?error=invalid_request&error_description=redirect_uri+mismatch",
            ))
            .send()
            .await
            .unwrap();
    let status = resp.status();
    assert!(status.is_client_error(), "{status}");
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Start signing in again") || page.contains("sign"),
        "{page}"
    );
    assert_clean(&page);
}

#[actix_web::test]
async fn a_callback_after_the_flow_expired_is_a_400_and_exchanges_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.oidc.flow_ttl_secs = 1)
        .await
        .unwrap();
    app.add_tenant("acme", true).await;
    let browser = app.browser();
    app.provider.login_as(erin());
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let callback = app.authorize(&browser, &authorize).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let resp = browser.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let page = resp.text().await.unwrap();
    assert!(page.contains("no longer valid"), "{page}");
    assert_eq!(app.provider.token_requests(), 0);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn an_iss_parameter_with_a_trailing_slash_variant_is_refused() {
    let app = app_with_tenant().await;
    let browser = app.browser();
    app.provider.login_as(erin());
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let callback = app.authorize(&browser, &authorize).await;
    let issuer = app.provider.issuer();
    let cb = with_param(&callback, "iss", |_| format!("{issuer}/"));
    let resp = browser.get(cb).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.provider.token_requests(), 0);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn a_state_of_30_kb_is_a_4xx_page_not_a_500() {
    let app = app_with_tenant().await;
    let state = "A".repeat(30_000);
    let resp = app
        .browser()
        .get(app.url(&format!("/t/acme/callback?code=x&state={state}")))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(app.provider.token_requests(), 0);
}

crate::on_both_databases! {
    /// `/initiate` without a tenant looks the browser's `iss` up in the database. A NUL in
    /// it (PostgreSQL text cannot hold one) is an unknown provider, not a database error.
    async fn an_initiate_iss_with_a_nul_character_is_a_400_page(app) {
        app.add_tenant("acme", true).await;
        for path in ["/initiate?iss=%00", "/initiate?iss=https%3A%2F%2Fidp.example%00"] {
            let (status, page) = get_page(&app, path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {page}");
            assert_clean(&page);
        }
        let resp = app
            .browser()
            .post(app.url("/initiate"))
            .form(&[("iss", "\u{0}")])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let page = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "POST: {page}");
        assert_clean(&page);
        assert_eq!(app.provider.token_requests(), 0);
    }
}
