//! Discovery and keys: broken documents, unusual or unusable JWKs.

use super::*;

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
    let (status, page) = get_page(&app, "/t/acme/login").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
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

/// A key set may publish EC and OKP keys whose coordinates have the wrong length or are
/// not on the curve. A token "signed" by one is refused with the usual page; the worker
/// does not panic (the connection would drop and the person would see a browser error).
#[actix_web::test]
async fn malformed_ec_and_ed25519_keys_are_a_refusal_not_a_dropped_connection() {
    type Mangle = fn(&mut Value);
    let cases: [(KeyId, jsonwebtoken::Algorithm, Mangle); 4] = [
        (KeyId::Ed25519, jsonwebtoken::Algorithm::EdDSA, |k| {
            k["x"] = json!("AAAA")
        }),
        (KeyId::Ed25519, jsonwebtoken::Algorithm::EdDSA, |k| {
            k["x"] = json!("")
        }),
        (KeyId::Ec256, jsonwebtoken::Algorithm::ES256, |k| {
            k["y"] = json!("AAAA")
        }),
        (KeyId::Ec256, jsonwebtoken::Algorithm::ES256, |k| {
            // A point off the curve: y changed in its last byte.
            let y = k["y"].as_str().unwrap().to_owned();
            let flipped = if y.ends_with('A') { 'B' } else { 'A' };
            k["y"] = json!(format!("{}{flipped}", &y[..y.len() - 1]));
        }),
    ];
    for (key, alg, mangle) in cases {
        // A fresh service each time: the first key set it fetched would otherwise stay cached.
        let app = app_with_tenant().await;
        app.provider
            .set_advertised_algs(&["RS256", "ES256", "EdDSA"]);
        app.provider.publish(&[key]);
        app.provider.sign_with(key, alg);
        app.provider.edit_jwks(move |d| {
            for k in d["keys"].as_array_mut().unwrap() {
                mangle(k);
            }
        });
        let (status, page) = attempt(&app).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{alg:?}: {page}");
        assert_clean(&page);
        assert_eq!(app.count("profiles").await, 0);
    }
}

/// Without a kid every key of the right type is tried (Core 10.1), and each try hashes the
/// whole token: a key set of 2,000 kid-less keys and a 650 kB ID token stalled the worker
/// for more than 20 s. Only the first 32 usable keys are kept, and tokens over 64 KiB are
/// refused before any key is tried.
#[actix_web::test]
async fn thousands_of_kidless_keys_and_a_huge_id_token_are_refused_not_worked_through() {
    // The signing key comes after 2,000 decoys, beyond the first 32: the token is refused.
    let app = app_with_tenant().await;
    app.provider.omit_kid_in_jwks(true);
    let mut decoy = app.provider.jwk_of(KeyId::Rsa2);
    decoy.as_object_mut().unwrap().remove("kid");
    app.provider.edit_jwks(move |d| {
        let real = d["keys"].as_array().unwrap().clone();
        let mut keys = vec![decoy.clone(); 2_000];
        keys.extend(real);
        d["keys"] = json!(keys);
    });
    app.provider.omit_kid_next();
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert_clean(&page);
    // A 650 kB ID token is refused whatever the keys.
    let app = app_with_tenant().await;
    app.provider.edit_next_claims(|c| {
        c.insert("pad".into(), json!("x".repeat(650_000)));
    });
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert_clean(&page);
    assert_eq!(app.count("profiles").await, 0);
    // The same provider with an ordinary token still signs people in.
    let (status, page) = attempt(&app).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
}
