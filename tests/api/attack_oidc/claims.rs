//! ID token claims of odd types, sizes and contents.

use super::*;

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
async fn names_of_10_kb_are_capped_and_the_sign_in_works() {
    // (An ID token over 64 KiB is refused whole: oidc::verify::MAX_TOKEN_BYTES.)
    let app = app_with_tenant().await;
    let mut user = erin();
    user.given_name = Some("E".repeat(10_000));
    user.family_name = Some("Ё".repeat(5_000));
    user.name = Some("x".repeat(10_000));
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
async fn a_single_audience_array_without_azp_is_accepted() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("aud".into(), json!([crate::provider::CLIENT_ID]));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
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

crate::on_both_databases! {
    /// OpenID Connect Core 2 caps `sub` at 255 ASCII characters. Beyond that, PostgreSQL
    /// cannot index it (a btree entry is at most 2,704 bytes; identities has UNIQUE
    /// (tenant_id, issuer, subject)) and cannot store a NUL at all: both were a 500 there
    /// and worked on SQLite. Now both databases refuse them with the same page.
    async fn a_sub_with_a_nul_or_over_255_bytes_is_refused_on_every_database(app) {
        use base64::Engine;
        app.add_tenant("acme", true).await;
        let noise: Vec<u8> = (0..12_000).map(|_| rand::random::<u8>()).collect();
        let long = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(noise);
        for sub in ["sub-erin\u{0}".to_owned(), "s".repeat(256), long] {
            let mut user = erin();
            user.sub = sub;
            let resp = app.sign_in("acme", user).await;
            let status = resp.status();
            let page = resp.text().await.unwrap_or_default();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
            assert_clean(&page);
        }
        assert_eq!(app.count("profiles").await, 0);
        assert_eq!(app.count("identities").await, 0);
        let mut user = erin();
        user.sub = "s".repeat(255);
        assert_eq!(app.sign_in("acme", user).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.count("identities").await, 1);
    }
}
