//! Hostile or broken input: each gets a clear 4xx page and writes nothing.

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::{Tamper, TestUser};
use reqwest::StatusCode;

fn carol() -> TestUser {
    TestUser::new("sub-carol", "carol@example.com", "Carol", "Cruz")
}

/// Signs in with the next token tampered; asserts a 401 page and nothing written.
async fn refused_with(app: &TestApp, tamper: Tamper) {
    app.provider.tamper_next(tamper);
    let resp = app.sign_in("acme", carol()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{tamper:?}");
    assert!(
        resp.headers().get("location").is_none(),
        "{tamper:?} must not redirect"
    );
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("We could not verify your identity"),
        "{tamper:?}: {page}"
    );
    assert!(page.contains("/t/acme/login"), "offers to start again");
    assert_eq!(app.count("profiles").await, 0, "{tamper:?} wrote a profile");
    assert_eq!(app.count("identities").await, 0);
}

on_both_databases! {
    async fn id_tokens_failing_any_check_are_refused_and_nothing_is_written(app) {
        app.add_tenant("acme", true).await;
        for tamper in [
            Tamper::WrongNonce,
            Tamper::BadSignature,
            Tamper::WrongAudience,
            Tamper::WrongIssuer,
            Tamper::Expired,
            Tamper::AlgNone,
            Tamper::MissingSub,
        ] {
            refused_with(&app, tamper).await;
        }
        // The same person with an honest token is then signed in.
        assert_eq!(app.sign_in("acme", carol()).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.count("profiles").await, 1);
    }
}

on_both_databases! {
    async fn a_tampered_or_missing_state_is_refused(app) {
        app.add_tenant("acme", true).await;
        app.provider.login_as(carol());
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        let callback = app.authorize(&browser, &authorize).await;
        let url = with_param(&callback, "state", |v| format!("{v}x"));
        let resp = browser.get(url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let page = resp.text().await.unwrap();
        assert!(page.contains("no longer valid"), "{page}");
        assert!(page.contains("Start signing in again"), "{page}");

        let resp = browser.get(app.url("/t/acme/callback?code=abc")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.count("profiles").await, 0);
        assert_eq!(app.provider.token_requests(), 0, "no code exchange for a bad state");
    }
}

on_both_databases! {
    async fn a_state_cookie_from_another_browser_does_not_help_a_forger(app) {
        app.add_tenant("acme", true).await;
        app.provider.login_as(carol());
        let victim = app.browser();
        let authorize = app.start_login(&victim, "/t/acme/login").await;
        let callback = app.authorize(&victim, &authorize).await;
        // The attacker's browser never started this flow: no state cookie.
        let attacker = app.browser();
        let resp = attacker.get(&callback).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.count("profiles").await, 0);
    }
}

on_both_databases! {
    async fn a_replayed_callback_is_refused(app) {
        app.add_tenant("acme", true).await;
        app.provider.login_as(carol());
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        let callback = app.authorize(&browser, &authorize).await;
        assert_eq!(browser.get(&callback).send().await.unwrap().status(), StatusCode::SEE_OTHER);
        // Replayed from another browser (no flow, no session): refused.
        let again = app.browser().get(&callback).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        // The same, signed-in browser going back: still a 4xx, but the page says it is
        // signed in and links to the application; nothing is exchanged again.
        let back = browser.get(&callback).send().await.unwrap();
        assert_eq!(back.status(), StatusCode::BAD_REQUEST);
        let page = back.text().await.unwrap();
        assert!(page.contains("already signed in") && page.contains("Continue to the application"), "{page}");
        assert_eq!(app.count("profiles").await, 1);
        assert_eq!(app.provider.token_requests(), 1);
    }
}

on_both_databases! {
    async fn a_provider_error_ends_on_a_page_with_a_button_not_a_redirect(app) {
        app.add_tenant("acme", true).await;
        app.provider.login_as(carol());
        app.provider.deny_next("access_denied");
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        let callback = app.authorize(&browser, &authorize).await;
        let resp = browser.get(callback).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.headers().get("location").is_none());
        let page = resp.text().await.unwrap();
        assert!(page.contains("access_denied"), "{page}");
        assert!(page.contains("Start signing in again"), "{page}");
        assert_eq!(app.count("profiles").await, 0);
    }
}

on_both_databases! {
    async fn an_unverified_email_is_never_used_to_create_a_profile(app) {
        app.add_tenant("acme", true).await;
        let mut user = carol();
        user.email_verified = Some(false);
        let resp = app.sign_in("acme", user).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(resp.text().await.unwrap().contains("not verified"));
        assert_eq!(app.count("profiles").await, 0);
    }
}

on_both_databases! {
    async fn an_unknown_tenant_is_a_404_page(app) {
        let resp = app.browser().get(app.url("/t/nobody/login")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(resp.text().await.unwrap().contains("Unknown company"));
        let resp = app.browser().get(app.url("/t/Bad%20Slug/callback?state=x")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}

on_both_databases! {
    async fn an_unreachable_provider_gives_a_503_page(app) {
        // Nothing listens on port 9 of loopback.
        app.add_tenant_with("down", "http://127.0.0.1:9", true, None).await;
        let resp = app.browser().get(app.url("/t/down/login")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.text().await.unwrap().contains("identity provider is not answering"));
    }
}
