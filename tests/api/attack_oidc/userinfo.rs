//! Userinfo that refuses, answers something else, or fills null claims.

use super::*;

#[actix_web::test]
async fn a_userinfo_endpoint_refusing_the_access_token_is_not_a_500() {
    // Entra-style: the access token is for another API; userinfo answers 401.
    let app = app_with_tenant().await;
    let url = raw_server(|s| {
        let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    app.provider.edit_discovery(move |d| {
        d["userinfo_endpoint"] = json!(format!("{url}/userinfo"));
    });
    let mut user = erin();
    user.given_name = None; // the ID token lacks given_name: userinfo is asked
    let resp = app.sign_in("acme", user).await;
    let status = resp.status();
    let page = resp.text().await.unwrap();
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{page}");
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "email and sub were in the ID token; a failed userinfo should not block sign-in: {status} {page}"
    );
}

#[actix_web::test]
async fn a_null_email_in_the_id_token_is_filled_from_userinfo() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("email".into(), Value::Null);
        c.insert("given_name".into(), Value::Null);
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "a null claim is a missing claim; userinfo has it: {page}"
    );
    let p = &app.profiles("acme").await[0];
    assert_eq!(p.email_normalized, "erin@example.com");
    assert_eq!(p.first_name, "Erin");
}

#[actix_web::test]
async fn a_userinfo_answering_html_200_is_not_a_500() {
    let app = app_with_tenant().await;
    let url = raw_server(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>");
    });
    app.provider.edit_discovery(move |d| {
        d["userinfo_endpoint"] = json!(format!("{url}/userinfo"));
    });
    let mut user = erin();
    user.given_name = None;
    let resp = app.sign_in("acme", user).await;
    let status = resp.status();
    let page = resp.text().await.unwrap();
    assert!(
        status == StatusCode::SEE_OTHER || gateway(status),
        "userinfo garbage is a provider fault (502) or ignorable: {status} {page}"
    );
}

#[actix_web::test]
async fn an_access_token_that_cannot_be_a_header_skips_userinfo_instead_of_failing() {
    // A token response whose access_token holds a line break cannot be sent as
    // "Authorization: Bearer ...". Userinfo only completes the ID token: sign-in goes on
    // with the ID token's claims instead of a 502.
    let app = app_with_tenant().await;
    let mut user = erin();
    user.given_name = None; // the ID token lacks given_name: userinfo would be asked
    app.provider.edit_next_claims(|c| {
        c.remove("at_hash");
    });
    app.provider.edit_token_response_next(|m| {
        m.insert("access_token".into(), json!("abc\r\nX-Injected: 1"));
    });
    let resp = app.sign_in("acme", user).await;
    let status = resp.status();
    let page = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    assert_eq!(app.provider.userinfo_requests(), 0);
    assert_eq!(app.count("profiles").await, 1);
}
