//! Sign-in started from the company's SSO portal (OpenID Connect Core 1.0, section 4).

use crate::helpers::*;
use crate::provider::TestUser;
use reqwest::StatusCode;

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[actix_web::test]
async fn a_portal_tile_starts_a_fresh_flow_with_login_hint_and_target() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.provider
        .login_as(TestUser::new("s", "fay@example.com", "Fay", "F"));
    let browser = app.browser();
    let iss = app.provider.issuer();
    let path = format!(
        "/t/acme/initiate?iss={}&login_hint=fay%40example.com&target_link_uri=%2Fcourses%2F9",
        enc(&iss)
    );
    let authorize = app.start_login(&browser, &path).await;
    assert!(authorize.starts_with(&iss));
    let q = query_of(&authorize);
    assert!(q.contains(&("login_hint".into(), "fay@example.com".into())));
    let callback = app.authorize(&browser, &authorize).await;
    let resp = browser.get(callback).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/courses/9");
}

#[actix_web::test]
async fn initiate_by_post_works_like_get() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let resp = app
        .browser()
        .post(app.url("/t/acme/initiate"))
        .form(&[("iss", app.provider.issuer())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).starts_with(&app.provider.issuer()));
}

#[actix_web::test]
async fn initiate_with_another_issuer_or_none_is_a_400() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let wrong = app
        .browser()
        .get(app.url("/t/acme/initiate?iss=https%3A%2F%2Fevil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("not this company"));
    let none = app
        .browser()
        .get(app.url("/t/acme/initiate"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn initiate_without_a_tenant_finds_it_by_issuer_and_refuses_ambiguity() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let iss = enc(&app.provider.issuer());
    let found = app
        .browser()
        .get(app.url(&format!("/initiate?iss={iss}")))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), StatusCode::FOUND);
    let unknown = app
        .browser()
        .get(app.url("/initiate?iss=https%3A%2F%2Fnobody.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    app.add_tenant("acme-two", true).await;
    let several = app
        .browser()
        .get(app.url(&format!("/initiate?iss={iss}")))
        .send()
        .await
        .unwrap();
    assert_eq!(several.status(), StatusCode::BAD_REQUEST);
    assert!(several.text().await.unwrap().contains("Several companies"));
}

#[actix_web::test]
async fn a_target_link_uri_to_another_site_is_not_followed() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant_with("acme", &app.provider.issuer(), true, Some("/home"))
        .await;
    app.provider
        .login_as(TestUser::new("s", "gus@example.com", "Gus", "G"));
    for (target, expected) in [
        ("https://evil.example/x".to_owned(), "/home".to_owned()),
        (app.url("/own/page?x=1"), "/own/page?x=1".to_owned()),
    ] {
        let browser = app.browser();
        let path = format!(
            "/t/acme/initiate?iss={}&target_link_uri={}",
            enc(&app.provider.issuer()),
            enc(&target)
        );
        let authorize = app.start_login(&browser, &path).await;
        let callback = app.authorize(&browser, &authorize).await;
        let resp = browser.get(callback).send().await.unwrap();
        assert_eq!(
            resp.headers()["location"].to_str().unwrap(),
            expected,
            "{target}"
        );
    }
}
