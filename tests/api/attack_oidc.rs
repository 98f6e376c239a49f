//! Misbehaving or unusual providers, and failure modes reported against similar products.
//! Each test asserts what a person would see: the status, a clear page, nothing written,
//! nothing secret shown.

use crate::helpers::*;
use crate::oidc_checks::{app_with_tenant, erin};
use crate::provider::{KeyId, CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// One full sign-in of erin into acme; returns status and page.
async fn attempt(app: &TestApp) -> (StatusCode, String) {
    let resp = app.sign_in("acme", erin()).await;
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// Nothing secret and no framework text on a page.
fn assert_clean(page: &str) {
    for bad in [
        CLIENT_SECRET,
        "access_token",
        "id_token",
        "eyJ",
        "panicked",
        "Traceback",
    ] {
        assert!(!page.contains(bad), "page shows {bad:?}: {page}");
    }
    assert!(!page.contains("<script"), "unescaped markup: {page}");
    assert!(
        page.contains("<h1>") || page.contains("<title>"),
        "not a page: {page}"
    );
}

fn gateway(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// A raw HTTP server on loopback: answers every request by calling `answer` with the
/// stream (after the request headers and body have been read).
fn raw_server(answer: impl Fn(&mut std::net::TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                answer(&mut stream);
            });
        }
    });
    addr
}

/// Points the provider's token endpoint at `url`.
fn token_endpoint_at(app: &TestApp, url: String) {
    app.provider.edit_discovery(move |d| {
        d["token_endpoint"] = json!(url.clone());
    });
}

// ---------------------------------------------------------------- 1. token endpoint

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
    let edits: Vec<crate::provider::TokenEdit> = vec![
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

// ---------------------------------------------------------------- 2. discovery and keys

#[actix_web::test]
async fn discovery_500_then_recovering_signs_in_on_the_next_try() {
    let app = app_with_tenant().await;
    app.provider.fail_discovery(1);
    let (status, page) = get_page(&app, "/t/acme/login").await;
    assert!(gateway(status), "{status}: {page}");
    assert!(!page.contains("oops"), "{page}");
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no negative caching: {page}");
}

#[actix_web::test]
async fn discovery_answering_html_200_is_a_502_page() {
    let app = app_with_tenant().await;
    let url = raw_server(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 22\r\nConnection: close\r\n\r\n<html>captive!</html>\n");
    });
    app.add_tenant_with("portal", &url, true, None).await;
    let (status, page) = get_page(&app, "/t/portal/login").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(!page.contains("captive"), "{page}");
}

#[actix_web::test]
async fn a_jwks_with_only_encryption_keys_is_a_502_page_not_a_500() {
    let app = app_with_tenant().await;
    app.provider.edit_jwks(|d| {
        for k in d["keys"].as_array_mut().unwrap() {
            k["use"] = json!("enc");
        }
    });
    let (status, page) = get_page(&app, "/t/acme/login").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("not set up correctly"), "{page}");
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn jwks_keys_without_kid_still_verify_a_token_that_names_a_kid() {
    // Some providers publish a single key with no kid but put a kid in token headers.
    let app = app_with_tenant().await;
    app.provider.omit_kid_in_jwks(true);
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
}

#[actix_web::test]
async fn duplicate_kids_with_different_keys_still_find_the_right_one() {
    let app = app_with_tenant().await;
    let impostor = {
        let mut k = app.provider.jwk_of(KeyId::Rsa2);
        k["kid"] = app.provider.jwk_of(KeyId::Rsa1)["kid"].clone();
        k
    };
    app.provider.edit_jwks(move |d| {
        d["keys"]
            .as_array_mut()
            .unwrap()
            .insert(0, impostor.clone());
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
}

#[actix_web::test]
async fn a_jwk_alg_differing_from_the_token_header_is_refused_cleanly() {
    let app = app_with_tenant().await;
    app.provider.edit_jwks(|d| {
        for k in d["keys"].as_array_mut().unwrap() {
            k["alg"] = json!("RS512");
        }
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn a_jwk_with_only_x5c_or_garbage_members_is_not_a_500() {
    let app = app_with_tenant().await;
    app.provider.edit_jwks(|d| {
        d["keys"] = json!([
            {"kty": "RSA", "kid": "test-key-1", "use": "sig", "x5c": ["MIIBIjANBgkq"]},
            {"kty": "RSA", "kid": "other", "n": 5, "e": null},
            "not a key",
            {"kty": "oct", "k": "c2VjcmV0"}
        ]);
    });
    let (status, page) = get_page(&app, "/t/acme/login").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(!page.contains("c2VjcmV0"), "{page}");
}

#[actix_web::test]
async fn a_discovery_document_with_a_non_string_endpoint_is_a_502() {
    let app = app_with_tenant().await;
    app.provider.edit_discovery(|d| {
        d["token_endpoint"] = json!(["http://127.0.0.1:1/token"]);
        d["userinfo_endpoint"] = json!(42);
        d["id_token_signing_alg_values_supported"] = json!("RS256");
    });
    let resp = app
        .browser()
        .get(app.url("/t/acme/login"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(
        status,
        StatusCode::BAD_GATEWAY,
        "{}",
        resp.text().await.unwrap()
    );
}

// ---------------------------------------------------------------- 3. ID token claims

fn now() -> i64 {
    jit_sso::db::now_millis() / 1000
}

#[actix_web::test]
async fn exp_and_iat_as_floats_are_accepted() {
    // NumericDate is "a JSON numeric value", fractions allowed (RFC 7519 2).
    let app = app_with_tenant().await;
    let t = now();
    app.provider.edit_next_claims(move |c| {
        c.insert("exp".into(), json!(t as f64 + 300.25));
        c.insert("iat".into(), json!(t as f64 + 0.5));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
}

#[actix_web::test]
async fn nbf_in_the_future_is_refused_and_a_float_nbf_in_the_past_is_fine() {
    let app = app_with_tenant().await;
    let t = now();
    app.provider.edit_next_claims(move |c| {
        c.insert("nbf".into(), json!(t + 3600));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert_eq!(app.count("profiles").await, 0);
    app.provider.edit_next_claims(move |c| {
        c.insert("nbf".into(), json!(t as f64 - 1.5));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
}

#[actix_web::test]
async fn exp_as_a_string_is_refused_not_a_500() {
    let app = app_with_tenant().await;
    let t = now();
    app.provider.edit_next_claims(move |c| {
        c.insert("exp".into(), json!((t + 300).to_string()));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn an_absent_email_verified_follows_the_tenant_default_and_signs_in() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.email_verified = None;
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.profiles("acme").await.len(), 1);
}

#[actix_web::test]
async fn an_email_with_uppercase_and_spaces_is_trimmed_and_matches_the_lowercase_one() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.email = Some("  Erin@EXAMPLE.com \t".into());
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let profiles = app.profiles("acme").await;
    assert_eq!(profiles.len(), 1);
    assert_eq!(
        profiles[0].email.trim(),
        profiles[0].email,
        "stored untrimmed"
    );
    assert_eq!(profiles[0].email_normalized, "erin@example.com");
}

#[actix_web::test]
async fn a_unicode_email_domain_is_not_a_500() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.email = Some("erin@bücher.example".into());
    let resp = app.sign_in("acme", user).await;
    assert_ne!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let mut user = erin();
    user.sub = "sub-kelvin".into();
    user.email = Some("erin@example.\u{212a}om".into()); // Kelvin sign look-alike
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn given_name_absent_but_name_present_fills_both_names() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.given_name = None;
    user.family_name = None;
    user.name = Some("Erin Eriksen".into());
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let p = &app.profiles("acme").await[0];
    assert_eq!(
        (p.first_name.as_str(), p.last_name.as_str()),
        ("Erin", "Eriksen")
    );
}

#[actix_web::test]
async fn names_of_100_kb_are_capped_and_the_sign_in_works() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.given_name = Some("E".repeat(100_000));
    user.family_name = Some("Ё".repeat(50_000));
    user.name = Some("x".repeat(100_000));
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let p = &app.profiles("acme").await[0];
    assert!(
        p.first_name.chars().count() <= 1000,
        "{}",
        p.first_name.len()
    );
    assert!(p.last_name.chars().count() <= 1000, "{}", p.last_name.len());
}

#[actix_web::test]
async fn html_and_control_characters_in_claims_are_escaped_on_every_page() {
    let app = app_with_tenant().await;
    let browser = app.browser();
    let mut user = erin();
    user.given_name = Some("<script>alert(1)</script>\u{0007}Erin".into());
    user.family_name = Some("\"><img src=x onerror=alert(2)>\u{0000}".into());
    let resp = app.sign_in_with(&browser, "acme", user).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let home = browser.get(app.url("/")).send().await.unwrap();
    let page = home.text().await.unwrap();
    assert!(page.contains("Welcome"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(
        !page.contains('\u{0007}') && !page.contains('\u{0000}'),
        "control chars shown"
    );
    // Admin roster as JSON, if present, is not HTML; the refusal page with a bad email:
    let mut user = erin();
    user.sub = "sub-evil".into();
    user.email = Some("<script>alert(3)</script>@example.com".into());
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = resp.text().await.unwrap();
    assert!(!page.contains("<script>alert"), "{page}");
}

#[actix_web::test]
async fn a_sub_longer_than_255_characters_is_not_a_500() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.sub = "s".repeat(300);
    let resp = app.sign_in("acme", user.clone()).await;
    let status = resp.status();
    assert!(
        status == StatusCode::SEE_OTHER || status == StatusCode::UNAUTHORIZED,
        "{status}"
    );
    // A second sign-in finds the same person.
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), status);
    assert!(app.count("profiles").await <= 1);
}

#[actix_web::test]
async fn a_non_string_sub_or_email_is_refused_not_a_500() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("sub".into(), json!(12345));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    app.provider.edit_next_claims(|c| {
        c.insert("email".into(), json!(["erin@example.com"]));
    });
    let (status, page) = attempt(&app).await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{page}");
    assert_clean(&page);
}

#[actix_web::test]
async fn a_nonce_from_an_earlier_completed_flow_is_refused() {
    let app = app_with_tenant().await;
    let browser = app.browser();
    app.provider.login_as(erin());
    let first = app.start_login(&browser, "/t/acme/login").await;
    let old_nonce = url::Url::parse(&first)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "nonce")
        .unwrap()
        .1
        .into_owned();
    let cb = app.authorize(&browser, &first).await;
    assert_eq!(
        browser.get(cb).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    app.provider.edit_next_claims(move |c| {
        c.insert("nonce".into(), json!(old_nonce));
    });
    let (status, _) = attempt(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("profiles").await, 1);
}

// ---------------------------------------------------------------- 4. callback

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
        "{}?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E+User+cancelled&state={state}",
        app.url("/t/acme/callback")
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

// ---------------------------------------------------------------- second batch

#[actix_web::test]
async fn email_verified_null_is_read_as_unstated_not_as_false() {
    // Providers that serialise a missing attribute as null (default tenant: unstated = trusted).
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("email_verified".into(), Value::Null);
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "null should behave like an absent email_verified: {page}"
    );
    assert_eq!(app.count("profiles").await, 1);
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
async fn a_single_audience_array_without_azp_is_accepted() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("aud".into(), json!([crate::provider::CLIENT_ID]));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
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

#[actix_web::test]
async fn a_token_signed_with_a_1024_bit_rsa_key_is_refused_cleanly() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let app = app_with_tenant().await;
    let rsa = openssl::rsa::Rsa::generate(1024).unwrap();
    let pem = rsa.private_key_to_pem().unwrap();
    let weak = json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "weak-1024",
        "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
        "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
    });
    app.provider.edit_jwks(move |d| {
        d["keys"].as_array_mut().unwrap().push(weak.clone());
    });
    let browser = app.browser();
    app.provider.login_as(erin());
    let authorize = app.start_login(&browser, "/t/acme/login").await;
    let nonce = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "nonce")
        .unwrap()
        .1
        .into_owned();
    let issuer = app.provider.issuer();
    let t = now();
    let claims = json!({
        "iss": issuer, "sub": "sub-erin", "aud": crate::provider::CLIENT_ID,
        "iat": t, "exp": t + 300, "nonce": nonce,
        "email": "erin@example.com", "email_verified": true,
        "given_name": "Erin", "family_name": "Eriksen",
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("weak-1024".into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    let jwt = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    app.provider.edit_token_response_next(move |m| {
        m.insert("id_token".into(), json!(jwt));
    });
    let callback = app.authorize(&browser, &authorize).await;
    let resp = browser.get(callback).send().await.unwrap();
    let status = resp.status();
    let page = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn names_of_only_invisible_characters_do_not_block_sign_in() {
    let app = app_with_tenant().await;
    let mut user = erin();
    user.given_name = Some("\u{200b}\u{200b}".into());
    user.family_name = Some("   ".into());
    user.name = Some("\u{202e}".into());
    let resp = app.sign_in("acme", user).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("profiles").await, 1);
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

/// GET `path` in a fresh browser: the status and the page.
async fn get_page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let resp = app.browser().get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}
