//! The provider around the ID token: discovery and its issuer, key rotation and caching,
//! the token and userinfo endpoints, timeouts, and the authorization response's issuer
//! (OpenID Connect Core 1.0 and Discovery 1.0; certification test names where they exist).

use crate::helpers::*;
use crate::oidc_checks::{app_with_tenant, erin, status_of_sign_in};
use crate::provider::{KeyId, Tamper, TestProvider};
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn rp_discovery_issuer_not_matching_config() {
    let app = app_with_tenant().await;
    // The discovery document states the issuer with a trailing slash; the tenant has none.
    app.provider
        .set_discovery_issuer(Some(format!("{}/", app.provider.issuer())));
    let resp = app
        .browser()
        .get(app.url("/t/acme/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(resp.text().await.unwrap().contains("not set up correctly"));
}

#[actix_web::test]
async fn an_issuer_with_a_trailing_slash_works_when_configured_exactly_so() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let provider = TestProvider::start_at("/tenant-a/").await;
    assert!(provider.issuer().ends_with('/'));
    app.add_tenant_with("exact", &provider.issuer(), true, None)
        .await;
    app.add_tenant_with(
        "sloppy",
        provider.issuer().trim_end_matches('/'),
        true,
        None,
    )
    .await;
    provider.login_as(erin());
    let browser = app.browser();
    let authorize = app.start_login(&browser, "/t/exact/login").await;
    let callback = location(&browser.get(&authorize).send().await.unwrap());
    assert_eq!(
        browser.get(callback).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    // Without the slash the configured issuer differs from the discovered one: refused.
    let resp = app
        .browser()
        .get(app.url("/t/sloppy/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
}

#[actix_web::test]
async fn rp_userinfo_bad_sub_claim() {
    let app = app_with_tenant().await;
    app.provider.edit_userinfo(|c| {
        c.insert("sub".into(), json!("somebody-else"));
    });
    app.provider.tamper_next(Tamper::NamesOnlyInUserinfo);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn userinfo_returned_as_a_signed_jwt_is_handled() {
    let app = app_with_tenant().await;
    app.provider.userinfo_as_jwt(true);
    app.provider.tamper_next(Tamper::NamesOnlyInUserinfo);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    let p = &app.profiles("acme").await[0];
    assert_eq!(
        (p.first_name.as_str(), p.email.as_str()),
        ("Erin", "erin@example.com")
    );
}

#[actix_web::test]
async fn userinfo_never_overrides_the_verified_email_decision() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.email_verified = Some(false);
    app.provider.edit_userinfo(|c| {
        c.insert("email_verified".into(), json!(true));
    });
    app.provider.edit_next_claims(|c| {
        c.remove("given_name");
    });
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn rp_token_endpoint_client_secret_basic() {
    let app = app_with_tenant().await;
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    assert_eq!(
        app.provider.last_auth_method().as_deref(),
        Some("client_secret_basic")
    );
}

#[actix_web::test]
async fn client_secret_post_is_used_when_it_is_all_the_provider_offers() {
    let app = app_with_tenant().await;
    app.provider.set_auth_methods(&["client_secret_post"]);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    assert_eq!(
        app.provider.last_auth_method().as_deref(),
        Some("client_secret_post")
    );
}

#[actix_web::test]
async fn a_token_endpoint_error_becomes_a_clear_page() {
    let app = app_with_tenant().await;
    app.provider.token_error_next("invalid_grant");
    let resp = app.sign_in("acme", erin()).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("already used or has expired") && page.contains("Start signing in again")
    );
}

#[actix_web::test]
async fn rp_key_rotation_op_sign_key() {
    let app = app_with_tenant().await;
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    let fetched = app.provider.jwks_requests();
    app.provider.rotate_to(KeyId::Rsa2);
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::SEE_OTHER,
        "no restart needed"
    );
    assert_eq!(
        app.provider.jwks_requests(),
        fetched + 1,
        "exactly one refetch"
    );
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    assert_eq!(
        app.provider.jwks_requests(),
        fetched + 1,
        "the new keys stay cached"
    );
}

#[actix_web::test]
async fn an_unknown_key_triggers_at_most_one_refetch_per_interval() {
    let app = app_with_tenant().await;
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    let fetched = app.provider.jwks_requests();
    // Tokens signed with a key the provider never publishes.
    app.provider.sign_with(KeyId::Rsa2, Algorithm::RS256);
    for _ in 0..3 {
        assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.provider.jwks_requests(), fetched + 1);
}

#[actix_web::test]
async fn discovery_and_keys_are_fetched_once_for_many_sign_ins() {
    let app = app_with_tenant().await;
    for _ in 0..5 {
        assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    }
    assert_eq!(app.provider.discovery_requests(), 1);
    assert_eq!(app.provider.jwks_requests(), 1);
}

#[actix_web::test]
async fn a_slow_provider_fails_within_the_timeout_with_a_503_page() {
    let app = app_with_tenant().await;
    app.provider.set_delay(std::time::Duration::from_secs(6));
    let started = std::time::Instant::now();
    let resp = app
        .browser()
        .get(app.url("/t/acme/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(resp.text().await.unwrap().contains("not answering"));
}

#[actix_web::test]
async fn an_authorization_response_from_another_issuer_is_refused() {
    let app = app_with_tenant().await;
    app.provider.login_as(erin());
    let browser = app.browser();
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let callback = app.authorize(&browser, &authorize).await;
    let url = with_param(&callback, "iss", |_| "https://attacker.example".to_owned());
    let resp = browser.get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.provider.token_requests(),
        0,
        "the code is never sent to anyone"
    );
}

#[actix_web::test]
async fn cached_keys_keep_working_while_the_provider_metadata_is_down() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.oidc.discovery_ttl_secs = 1)
        .await
        .unwrap();
    app.add_tenant("acme", true).await;
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    // The cached copy expires; discovery and keys now answer 503 while the rest works.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.provider.metadata_down(true);
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::SEE_OTHER,
        "the cached keys verify the token"
    );
    assert!(
        app.provider.discovery_requests() >= 2,
        "a refresh was tried"
    );
}

#[actix_web::test]
async fn without_cached_metadata_an_unreachable_provider_is_a_503() {
    let app = app_with_tenant().await;
    app.provider.metadata_down(true);
    let resp = app
        .browser()
        .get(app.url("/t/acme/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}
