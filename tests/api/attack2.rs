//! Second round of hostile testing: the admin API and console, and sign-in edge cases.

use crate::helpers::admin_call as call;
use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::TestUser;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

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

#[actix_web::test]
async fn a_patch_refused_for_one_field_changes_no_other_field() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(false).await;
    let patch = json!({"issuer": "https://elsewhere.example", "email_claim": "not a claim"});
    let (status, b) = call(&app, &token, Method::PATCH, "/tenants/acme", Some(patch)).await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("email_claim")),
        "{b}"
    );
    let (_, acme) = call(&app, &token, Method::GET, "/tenants/acme", None).await;
    assert_eq!(
        acme["issuer"],
        app.provider.issuer(),
        "the provider was changed by a refused request"
    );
    let (_, trail) = call(
        &app,
        &token,
        Method::GET,
        "/tenants/acme/audit?kind=provider_changed",
        None,
    )
    .await;
    assert_eq!(trail["items"], json!([]), "{trail}");
}

#[actix_web::test]
async fn a_blank_name_is_refused_on_update_as_on_registration() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(false).await;
    let (status, b) = call(
        &app,
        &token,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"name": "  "})),
    )
    .await;
    assert_eq!(
        (status, b["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("name")),
        "{b}"
    );
    let (_, acme) = call(&app, &token, Method::GET, "/tenants/acme", None).await;
    assert_eq!(acme["name"], "acme Inc.");
}

#[actix_web::test]
async fn an_app_url_set_through_the_api_can_be_removed_with_null() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant_with(
        "acme",
        &app.provider.issuer(),
        true,
        Some("https://app.example/home"),
    )
    .await;
    let token = app.staff_token(false).await;
    let (status, b) = call(
        &app,
        &token,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"app_url": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["app_url"], Value::Null, "{b}");
    // Leaving the field out keeps it.
    let (_, b) = call(
        &app,
        &token,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"app_url": "/x"})),
    )
    .await;
    let (_, b2) = call(
        &app,
        &token,
        Method::PATCH,
        "/tenants/acme",
        Some(json!({"sync_names": false})),
    )
    .await;
    assert_eq!(
        (b["app_url"].as_str(), b2["app_url"].as_str()),
        (Some("/x"), Some("/x"))
    );
}

on_both_databases! {
    // A cursor is opaque but decodes to text the database compares: a NUL hidden in it
    // must be the client's 400, not PostgreSQL's 500.
    async fn a_cursor_hiding_a_nul_character_is_a_400(app) {
        app.add_tenant("acme", true).await;
        let token = app.staff_token(true).await;
        // base64url("0:\0")
        for path in ["/tenants/acme/profiles?cursor=MDoA", "/tenants/acme/audit?cursor=MDoA"] {
            let (status, b) = call(&app, &token, Method::GET, path, None).await;
            assert_eq!((status, b["field"].as_str()), (StatusCode::BAD_REQUEST, Some("cursor")), "{path}: {b}");
        }
    }
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
async fn a_wrong_method_on_an_admin_route_is_405_with_allow() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(false).await;
    for (method, path, allow) in [
        (Method::DELETE, "/tenants/acme", "GET, HEAD, PATCH"),
        (Method::POST, "/tenants/acme/audit", "GET, HEAD"),
        (Method::GET, "/tenants/acme/jit", "PUT"),
    ] {
        let resp = reqwest::Client::new()
            .request(method.clone(), app.url(&format!("/admin/v1{path}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
        let b: Value = resp.json().await.unwrap();
        assert_eq!(b["error"], "method_not_allowed");
    }
    let (status, b) = call(&app, &token, Method::GET, "/no-such-thing", None).await;
    assert_eq!(
        (status, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{b}"
    );
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
async fn odd_paging_parameters_are_clamped_or_named() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(true).await;
    for q in [
        "limit=0",
        "limit=-5",
        "limit=9223372036854775807",
        "profiles:created_after=9&created_before=-9",
        "audit:since=5&until=1",
    ] {
        for list in ["profiles", "audit"] {
            let q = match q.split_once(':') {
                Some((only, q)) if only == list => q,
                Some(_) => continue,
                None => q,
            };
            let (status, b) = call(
                &app,
                &token,
                Method::GET,
                &format!("/tenants/acme/{list}?{q}"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{list}?{q}: {b}");
        }
    }
    for (q, field) in [
        ("limit=99999999999999999999", "limit"),
        ("limit=1.5", "limit"),
        ("cursor=%F0%9F", "cursor"),
        ("cursor=!!", "cursor"),
        ("cursor=", "cursor"),
    ] {
        let (status, b) = call(
            &app,
            &token,
            Method::GET,
            &format!("/tenants/acme/audit?{q}"),
            None,
        )
        .await;
        assert_eq!(
            (status, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{q}: {b}"
        );
    }
}

#[actix_web::test]
async fn hostile_json_bodies_are_400_or_413_naming_the_problem() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(false).await;
    let send = |body: Vec<u8>| {
        reqwest::Client::new()
            .patch(app.url("/admin/v1/tenants/acme"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let surrogate = r#"{"name": "\ud800"}"#.to_owned();
    let many = json!({"allowed_email_domains": vec!["a.example"; 5_000]}).to_string();
    for body in [deep, surrogate, "{\"name\": 1e999999}".to_owned()] {
        assert_eq!(
            send(body.clone().into_bytes()).await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{}",
            &body[..40.min(body.len())]
        );
    }
    assert_eq!(
        send(many.into_bytes()).await.unwrap().status(),
        StatusCode::OK
    );
    let over = json!({"name": "x".repeat(65 * 1024)}).to_string();
    assert_eq!(
        send(over.into_bytes()).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
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
async fn a_repeated_json_key_is_refused_not_guessed_at() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", false).await;
    let token = app.staff_token(false).await;
    let resp = reqwest::Client::new()
        .put(app.url("/admin/v1/tenants/acme/jit"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"enabled": false, "reason": "ticket 1", "enabled": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["field"], "enabled", "{b}");
    let (_, acme) = call(&app, &token, Method::GET, "/tenants/acme", None).await;
    assert_eq!(acme["jit_enabled"], false);
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
async fn blank_profile_defaults_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(false).await;
    for field in ["default_role", "default_locale", "default_time_zone"] {
        let (status, b) = call(
            &app,
            &token,
            Method::PATCH,
            "/tenants/acme",
            Some(json!({ field: " " })),
        )
        .await;
        assert_eq!(
            (status, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{b}"
        );
    }
    let (_, acme) = call(&app, &token, Method::GET, "/tenants/acme", None).await;
    assert_eq!(
        acme["profile_defaults"],
        json!({"role": "learner", "locale": "en-US", "time_zone": "UTC"})
    );
}

#[actix_web::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let token = app.staff_token(true).await;
    for scheme in ["bearer", "BEARER"] {
        let resp = reqwest::Client::new()
            .get(app.url("/admin/v1/tenants"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{scheme}");
    }
    let resp = reqwest::Client::new()
        .get(app.url("/admin/v1/tenants"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
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
async fn a_client_id_that_cannot_be_one_is_refused() {
    // RFC 6749 A.1: printable ASCII; and it travels in the browser's redirect URL.
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    let token = app.staff_token(false).await;
    let long = "c".repeat(30_000);
    for bad in ["x\r\ny", "caf\u{e9}", long.as_str()] {
        let (status, b) = call(
            &app,
            &token,
            Method::PATCH,
            "/tenants/acme",
            Some(json!({"client_id": bad})),
        )
        .await;
        assert_eq!(
            (status, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("client_id")),
            "{b}"
        );
        let new = json!({"slug": "beta", "name": "Beta", "issuer": app.provider.issuer(), "client_id": bad, "client_secret": "s"});
        let (status, b) = call(&app, &token, Method::POST, "/tenants", Some(new)).await;
        assert_eq!(
            (status, b["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("client_id")),
            "{b}"
        );
    }
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
