//! Running in production: metrics, several replicas, one slow provider.

use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::{TestProvider, TestUser};
use reqwest::StatusCode;

#[actix_web::test]
async fn metrics_count_sign_ins_by_tenant_and_outcome_without_personal_data() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.add_tenant("metrics-a", true).await;
    app.add_tenant("metrics-b", false).await;
    app.sign_in(
        "metrics-a",
        TestUser::new("m1", "mia@example.com", "Mia", "M"),
    )
    .await;
    app.sign_in(
        "metrics-a",
        TestUser::new("m1", "mia@example.com", "Mia", "M"),
    )
    .await;
    app.sign_in(
        "metrics-b",
        TestUser::new("m2", "max@example.com", "Max", "M"),
    )
    .await;
    let text = app
        .browser()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"jit_sso_signins_total{outcome="created",tenant="metrics-a"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"jit_sso_signins_total{outcome="signed_in",tenant="metrics-a"} 1"#));
    assert!(text
        .contains(r#"jit_sso_signins_total{outcome="refused_no_account",tenant="metrics-b"} 1"#));
    assert!(text.contains("jit_sso_callback_duration_seconds_bucket"));
    assert!(text.contains(
        r#"jit_sso_provider_requests_total{endpoint="token",result="ok",tenant="metrics-a"}"#
    ));
    assert!(text.contains("jit_sso_db_pool_connections"));
    assert!(text.contains("jit_sso_build_info"));
    assert!(!text.contains("mia@example.com") && !text.contains("\"m1\""));
}

#[actix_web::test]
async fn metrics_can_live_on_their_own_port_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.metrics.port = port;
    })
    .await
    .unwrap();
    let public = app.browser().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let private = app
        .browser()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), StatusCode::OK);
    assert!(private.text().await.unwrap().contains("jit_sso_build_info"));
}

on_both_databases! {
    async fn a_sign_in_started_on_one_replica_finishes_on_another(app) {
        app.add_tenant("acme", true).await;
        // Replica B: same database and keys, another port, the same public URL.
        let url = app.database_url.clone();
        let public = app.address.clone();
        let mut settings = settings_for(&url);
        settings.http.public_url = public;
        let b = jit_sso::startup::Application::build(settings).await.unwrap();
        let b_address = format!("http://127.0.0.1:{}", b.port());
        let b_handle = b.handle();
        tokio::spawn(b.run_until_stopped());

        app.provider.login_as(TestUser::new("r", "rita@example.com", "Rita", "R"));
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/acme/login").await;
        let callback = app.authorize(&browser, &authorize).await;
        let on_b = callback.replacen(&app.address, &b_address, 1);
        assert_ne!(on_b, callback);
        let resp = browser.get(on_b).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "replica B finishes A's flow");
        // The session minted by B is accepted by A (cookies are per host, not per port).
        let me = browser.get(app.url("/session")).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::OK);
        b_handle.stop(true).await;
    }
}

#[actix_web::test]
async fn a_slow_provider_does_not_hold_up_another_tenant() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let slow = TestProvider::start().await;
    slow.set_delay(std::time::Duration::from_secs(8));
    app.add_tenant_with("slowco", &slow.issuer(), true, None)
        .await;
    app.add_tenant("fastco", true).await;
    let slow_login = {
        let browser = app.browser();
        let url = app.url("/t/slowco/login");
        tokio::spawn(async move { browser.get(url).send().await.map(|r| r.status()) })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let resp = app
        .sign_in(
            "fastco",
            TestUser::new("f", "fred@example.com", "Fred", "F"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(
        !slow_login.is_finished(),
        "the other tenant had to wait for the slow provider"
    );
    assert_eq!(
        slow_login.await.unwrap().unwrap(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[actix_web::test]
async fn replicas_starting_together_migrate_once_without_tripping_over_each_other() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let settings = settings_for(&db.url);
            tokio::spawn(async move {
                jit_sso::startup::Application::build(settings)
                    .await
                    .map(|a| a.port())
            })
        })
        .collect();
    for s in starts {
        s.await.unwrap().expect("every replica starts");
    }
}

#[actix_web::test]
async fn with_the_tenant_cache_on_a_jit_switch_through_the_api_applies_at_once() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.database.tenant_cache_ms = 60_000)
        .await
        .unwrap();
    app.add_tenant("acme", false).await;
    let who = || TestUser::new("c", "cleo@example.com", "Cleo", "C");
    assert_eq!(
        app.sign_in("acme", who()).await.status(),
        StatusCode::FORBIDDEN
    );
    let token = app.staff_token(false).await;
    let switched = reqwest::Client::new()
        .put(app.url("/admin/v1/tenants/acme/jit"))
        .bearer_auth(token)
        .json(&serde_json::json!({"enabled": true, "reason": "cache test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), StatusCode::OK);
    assert_eq!(
        app.sign_in("acme", who()).await.status(),
        StatusCode::SEE_OTHER
    );
}
