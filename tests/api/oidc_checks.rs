//! ID token and provider checks of OpenID Connect Core 1.0 (3.1.3.7) and Discovery 1.0.
//! Tests are named after the OpenID Foundation relying-party certification tests.

use crate::helpers::*;
use crate::provider::{KeyId, Tamper, TestUser};
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::json;

pub(crate) fn erin() -> TestUser {
    TestUser::new("sub-erin", "erin@example.com", "Erin", "Eriksen")
}

pub(crate) async fn app_with_tenant() -> TestApp {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("acme", true).await;
    app
}

/// A tenant whose provider advertises `algs` as its ID token signing algorithms.
async fn app_with_tenant_advertising(algs: &[&str]) -> TestApp {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.provider.set_advertised_algs(algs);
    app.add_tenant("acme", true).await;
    app
}

pub(crate) async fn status_of_sign_in(app: &TestApp) -> StatusCode {
    app.sign_in("acme", erin()).await.status()
}

fn now() -> i64 {
    jit_sso::db::now_millis() / 1000
}

#[actix_web::test]
async fn rp_id_token_issuer_mismatch() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("iss".into(), json!("https://someone-else.example"));
    });
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn rp_id_token_aud() {
    let app = app_with_tenant().await;
    app.provider.tamper_next(Tamper::WrongAudience);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
    app.provider.edit_next_claims(|c| {
        c.insert(
            "aud".into(),
            json!([crate::provider::CLIENT_ID, "another-client"]),
        );
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::UNAUTHORIZED,
        "several audiences need azp"
    );
    app.provider.edit_next_claims(|c| {
        c.insert(
            "aud".into(),
            json!([crate::provider::CLIENT_ID, "another-client"]),
        );
        c.insert("azp".into(), json!("another-client"));
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::UNAUTHORIZED,
        "azp must be us"
    );
    app.provider.edit_next_claims(|c| {
        c.insert(
            "aud".into(),
            json!([crate::provider::CLIENT_ID, "another-client"]),
        );
        c.insert("azp".into(), json!(crate::provider::CLIENT_ID));
    });
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn rp_id_token_bad_sig_rs256() {
    let app = app_with_tenant().await;
    app.provider.tamper_next(Tamper::BadSignature);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn rp_id_token_bad_sig_es256() {
    let app = app_with_tenant().await;
    app.provider.publish(&[KeyId::Ec256]);
    app.provider.sign_with(KeyId::Ec256, Algorithm::ES256);
    app.provider.set_advertised_algs(&["ES256"]);
    app.provider.tamper_next(Tamper::BadSignature);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::SEE_OTHER,
        "an honest ES256 token passes"
    );
}

#[actix_web::test]
async fn ps256_and_eddsa_tokens_are_verified() {
    let app = app_with_tenant().await;
    app.provider
        .set_advertised_algs(&["RS256", "PS256", "EdDSA"]);
    app.provider.publish(&[KeyId::Rsa1, KeyId::Ed25519]);
    app.provider.sign_with(KeyId::Rsa1, Algorithm::PS256);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    app.provider.sign_with(KeyId::Ed25519, Algorithm::EdDSA);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    app.provider.tamper_next(Tamper::BadSignature);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn rp_id_token_sig_none() {
    let app = app_with_tenant().await;
    app.provider.tamper_next(Tamper::AlgNone);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("profiles").await, 0);
}

#[actix_web::test]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    // Even from a provider that does sign with HS256: the MAC key is our client secret only.
    for advertised in [&["RS256"][..], &["RS256", "HS256"]] {
        let app = app_with_tenant_advertising(advertised).await;
        app.provider.hmac_with_public_key_next();
        assert_eq!(
            status_of_sign_in(&app).await,
            StatusCode::UNAUTHORIZED,
            "{advertised:?}"
        );
        assert_eq!(app.count("profiles").await, 0);
    }
}

#[actix_web::test]
async fn rp_id_token_kid_absent_single_jwks() {
    let app = app_with_tenant().await;
    app.provider.omit_kid_in_jwks(true);
    app.provider.omit_kid_next();
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn rp_id_token_kid_absent_multiple_jwks() {
    let app = app_with_tenant().await;
    app.provider.publish(&[KeyId::Rsa1, KeyId::Rsa2]);
    app.provider.sign_with(KeyId::Rsa2, Algorithm::RS256);
    app.provider.omit_kid_next();
    // Each key of the right type is tried, as Core 10.1 permits.
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    app.provider.omit_kid_next();
    app.provider.tamper_next(Tamper::BadSignature);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn rp_id_token_iat() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("iat".into(), json!(now() - 3600));
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::UNAUTHORIZED,
        "issued an hour ago"
    );
    app.provider.edit_next_claims(|c| {
        c.insert("iat".into(), json!(now() + 600));
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::UNAUTHORIZED,
        "issued far in the future"
    );
    app.provider.edit_next_claims(|c| {
        c.insert("iat".into(), json!("yesterday"));
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::UNAUTHORIZED,
        "iat must be a number"
    );
}

#[actix_web::test]
async fn a_provider_clock_a_little_ahead_is_accepted_within_the_leeway() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("iat".into(), json!(now() + 30));
        c.insert("nbf".into(), json!(now() + 30));
    });
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
    app.provider.edit_next_claims(|c| {
        c.insert("exp".into(), json!(now() - 30));
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::SEE_OTHER,
        "expired 30 s ago is within 60 s"
    );
    app.provider.edit_next_claims(|c| {
        c.insert("nbf".into(), json!(now() + 600));
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::UNAUTHORIZED,
        "not valid for ten minutes"
    );
    app.provider.tamper_next(Tamper::Expired);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn rp_nonce_invalid() {
    let app = app_with_tenant().await;
    app.provider.tamper_next(Tamper::WrongNonce);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
    app.provider.edit_next_claims(|c| {
        c.remove("nonce");
    });
    assert_eq!(
        status_of_sign_in(&app).await,
        StatusCode::UNAUTHORIZED,
        "missing nonce"
    );
}

#[actix_web::test]
async fn rp_id_token_sub() {
    let app = app_with_tenant().await;
    app.provider.tamper_next(Tamper::MissingSub);
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn a_wrong_at_hash_is_refused() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("at_hash".into(), json!("AAAAAAAAAAAAAAAAAAAAAA"));
    });
    assert_eq!(status_of_sign_in(&app).await, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn email_verified_as_a_string_is_read_as_the_boolean_it_means() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("email_verified".into(), json!("false"));
    });
    assert_eq!(status_of_sign_in(&app).await, StatusCode::FORBIDDEN);
    app.provider.edit_next_claims(|c| {
        c.insert("email_verified".into(), json!("true"));
    });
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_wrongly_typed_claim_we_do_not_use_does_not_sink_the_token() {
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("updated_at".into(), json!("2026-01-01T00:00:00Z"));
        c.insert("locale".into(), json!(42));
        c.insert("address".into(), json!("not an object"));
    });
    assert_eq!(status_of_sign_in(&app).await, StatusCode::SEE_OTHER);
}
