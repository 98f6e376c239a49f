//! Hostile input to the admin API: half-applied updates, blanks, odd paging, hostile JSON,
//! wrong methods and schemes.

use super::*;

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
