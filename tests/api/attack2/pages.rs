//! Hostile requests to the sign-in pages: sizes, methods, HEAD, and provider responses
//! that name the wrong issuer or none.

use super::*;

#[actix_web::test]
async fn forms_over_the_size_limit_are_413_not_400() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let big = "a".repeat(20 * 1024);
    for path in ["/admin/login", "/t/acme/initiate", "/initiate"] {
        let resp = app
            .browser()
            .post(app.url(path))
            .form(&[("token", big.as_str()), ("iss", big.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    // Just under the limit is an ordinary answer.
    let under = "a".repeat(15 * 1024);
    let resp = app
        .browser()
        .post(app.url("/admin/login"))
        .form(&[("token", under.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn the_longest_return_path_still_fits_in_a_flow_cookie_and_is_followed() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app.provider
        .login_as(TestUser::new("s-r", "rita@example.com", "Rita", "R"));
    let target = format!("/{}", "a".repeat(2047));
    let browser = app.browser();
    let resp = browser
        .get(app.url(&format!("/t/acme/login?return_to={target}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    for c in resp.headers().get_all("set-cookie") {
        let pair = c.to_str().unwrap().split(';').next().unwrap().len();
        assert!(pair <= 4096, "a browser drops a cookie of {pair} bytes");
    }
    let callback = app.authorize(&browser, &location(&resp)).await;
    let done = browser.get(callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(location(&done).ends_with(&target));
}

#[actix_web::test]
async fn an_error_response_naming_another_issuer_is_refused_as_such() {
    // RFC 9207 2.4: an authorization response, error responses included, whose iss is not
    // the provider we sent the browser to is rejected; its error is not believed.
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let browser = app.browser();
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let state = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let resp = browser
        .get(app.url("/t/acme/callback"))
        .query(&[
            ("state", state.as_str()),
            ("error", "access_denied"),
            ("iss", "https://evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("different identity provider"));
}

/// RFC 9207 2.4: a provider that advertises `authorization_response_iss_parameter_supported`
/// names itself in every response; one without `iss` may come from elsewhere (a mix-up).
#[actix_web::test]
async fn a_response_without_iss_is_refused_when_the_provider_always_sends_it() {
    for advertised in [true, false] {
        let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
        app.provider.edit_discovery(move |d| {
            d["authorization_response_iss_parameter_supported"] = json!(advertised);
        });
        app.add_tenant("acme", true).await;
        app.provider
            .login_as(TestUser::new("s-m", "mo@acme.example", "Mo", "M"));
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        let callback = app.authorize(&browser, &authorize).await;
        let mut without_iss = url::Url::parse(&callback).unwrap();
        let pairs: Vec<(String, String)> = without_iss
            .query_pairs()
            .filter(|(k, _)| k != "iss")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        without_iss.query_pairs_mut().clear().extend_pairs(pairs);
        let resp = browser.get(without_iss).send().await.unwrap();
        if advertised {
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
            assert!(resp
                .text()
                .await
                .unwrap()
                .contains("did not say which identity provider"));
            assert_eq!(app.count("profiles").await, 0);
        } else {
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "iss is optional here");
            assert_eq!(app.count("profiles").await, 1);
        }
    }
}

#[actix_web::test]
async fn a_wrong_method_on_a_page_is_405_with_allow_not_page_not_found() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    for (method, path, allow) in [
        (Method::POST, "/t/acme/login", "GET, HEAD"),
        (Method::POST, "/t/acme/callback", "GET, HEAD"),
        (Method::GET, "/logout", "POST"),
        (Method::PUT, "/session", "GET, HEAD"),
        (Method::GET, "/admin/login", "POST"),
        (Method::DELETE, "/admin/t/acme", "GET, HEAD"),
    ] {
        let resp = app
            .browser()
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
    }
    let resp = app
        .browser()
        .post(app.url("/t/acme/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// HEAD works wherever GET does (RFC 9110 9.3.2): the same status and headers, no body
/// bytes on the wire (which would corrupt the next response on a kept-alive connection).
#[actix_web::test]
async fn head_is_answered_wherever_get_is_without_a_body() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(true).await;
    for (path, status) in [
        ("/t/acme/login", StatusCode::FOUND),
        ("/admin/v1/tenants", StatusCode::OK),
        ("/admin", StatusCode::OK),
        ("/no-such-page", StatusCode::NOT_FOUND),
    ] {
        let resp = app
            .browser()
            .head(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "HEAD {path}");
    }
    use std::io::{Read, Write};
    let address = app.address.trim_start_matches("http://").to_owned();
    let raw = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(address).unwrap();
        s.write_all(b"HEAD /t/acme/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw
    })
    .await
    .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 302"), "{head}");
    assert_eq!(body, "", "a HEAD response carries no body");
}

#[actix_web::test]
async fn a_body_that_is_not_a_form_is_415() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    for path in ["/admin/login", "/t/acme/initiate"] {
        let resp = app
            .browser()
            .post(app.url(path))
            .json(&json!({"token": "x", "iss": "y"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
    }
}
