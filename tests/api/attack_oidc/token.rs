//! The token endpoint misbehaving: odd bodies, statuses, sizes and speeds.

use super::*;

#[actix_web::test]
async fn token_200_with_an_error_field_is_not_a_500_and_creates_nothing() {
    let app = app_with_tenant().await;
    app.provider.token_raw_next(
        200,
        "application/json",
        r#"{"error":"invalid_grant","error_description":"code expired"}"#,
    );
    let (status, page) = attempt(&app).await;
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::BAD_GATEWAY,
        "a 200 carrying an OAuth error should read as the code refused (400) or a provider fault (502), got {status}: {page}"
    );
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn token_200_with_an_html_body_is_a_502_page() {
    let app = app_with_tenant().await;
    app.provider.token_raw_next(
        200,
        "text/html",
        "<html><body><script>x()</script>Please log in</body></html>",
    );
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("not set up correctly"), "{page}");
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn token_200_with_a_json_array_or_null_is_a_502_page() {
    let app = app_with_tenant().await;
    for body in ["[]", "null", "\"id_token\"", ""] {
        app.provider.token_raw_next(200, "application/json", body);
        let (status, page) = attempt(&app).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "body {body:?}: {page}");
        assert_clean(&page);
    }
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn token_400_with_an_html_waf_page_is_not_a_500() {
    let app = app_with_tenant().await;
    app.provider
        .token_raw_next(400, "text/html", "<html><h1>Request blocked</h1></html>");
    let (status, page) = attempt(&app).await;
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::BAD_GATEWAY,
        "{status}: {page}"
    );
    assert!(!page.contains("Request blocked"), "{page}");
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn token_endpoint_redirecting_to_a_login_page_is_a_provider_fault_502() {
    // A proxy in front of the provider answers the back channel with a redirect.
    let app = app_with_tenant().await;
    let url = raw_server(|s| {
        let _ = s.write_all(
            b"HTTP/1.1 302 Found\r\nLocation: https://sso.example/login\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    token_endpoint_at(&app, format!("{url}/token"));
    let (status, page) = attempt(&app).await;
    assert_eq!(
        status,
        StatusCode::BAD_GATEWAY,
        "a redirect from the token endpoint is the provider's fault, not a used code: {page}"
    );
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn token_type_lowercase_or_missing_and_expires_in_as_string_still_sign_in() {
    let app = app_with_tenant().await;
    let edits: Vec<crate::provider::EditOnce> = vec![
        Box::new(|m| {
            m.insert("token_type".into(), json!("bearer"));
        }),
        Box::new(|m| {
            m.remove("token_type");
        }),
        Box::new(|m| {
            m.insert("expires_in".into(), json!("300"));
        }),
        Box::new(|m| {
            m.insert("expires_in".into(), json!(299.5));
            m.insert("scope".into(), json!(["openid", "email"]));
            m.insert("refresh_token".into(), json!(null));
        }),
    ];
    for (i, edit) in edits.into_iter().enumerate() {
        app.provider.edit_token_response_next(edit);
        let (status, page) = attempt(&app).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "variant {i}: {page}");
    }
    assert_eq!(app.count("profiles").await, 1);
}

#[actix_web::test]
async fn an_id_token_that_is_not_a_string_is_a_provider_fault_not_a_500() {
    let app = app_with_tenant().await;
    for bad in [
        json!(12345),
        json!({"jwt": "x"}),
        json!(["a.b.c"]),
        json!(null),
        json!(""),
    ] {
        let b = bad.clone();
        app.provider.edit_token_response_next(move |m| {
            m.insert("id_token".into(), b);
        });
        let (status, page) = attempt(&app).await;
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{bad}: {page}");
        assert!(
            gateway(status),
            "id_token {bad} is a provider defect: expected 502, got {status}"
        );
        assert_clean(&page);
    }
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn a_token_response_of_several_megabytes_is_a_502_page_quickly() {
    let app = app_with_tenant().await;
    let mut body = br#"{"access_token":"x","token_type":"Bearer","padding":""#.to_vec();
    body.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
    body.extend_from_slice(b"\"}");
    app.provider.token_raw_next(200, "application/json", body);
    let started = Instant::now();
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn a_token_response_that_drips_forever_ends_within_the_timeout() {
    let app = app_with_tenant().await;
    let url = raw_server(|s| {
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"a\":\"",
        );
        for _ in 0..300 {
            std::thread::sleep(Duration::from_millis(100));
            if s.write_all(b"a").is_err() {
                return;
            }
        }
    });
    token_endpoint_at(&app, format!("{url}/token"));
    let started = Instant::now();
    let (status, page) = attempt(&app).await;
    let took = started.elapsed();
    assert!(gateway(status), "{status}: {page}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn a_token_endpoint_that_closes_the_connection_is_a_gateway_page() {
    let app = app_with_tenant().await;
    let url = raw_server(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"id_tok");
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    token_endpoint_at(&app, format!("{url}/token"));
    let (status, page) = attempt(&app).await;
    assert!(gateway(status), "{status}: {page}");
    assert_clean(&page);
}
