//! Probes.

use crate::helpers::*;
use crate::on_both_databases;
use reqwest::StatusCode;

on_both_databases! {
    async fn probes_answer_when_the_database_is_up(app) {
        let b = app.browser();
        assert_eq!(b.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
        let ready = b.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        assert!(ready.headers().contains_key("x-request-id"));
    }
}

on_both_databases! {
    async fn a_flood_of_readiness_probes_is_answered_ready(app) {
        // A load generator or a misconfigured probe: 400 at once, each answered within the
        // probe's 1 s budget from a shared check, none 503 for a healthy database.
        let b = app.browser();
        let probes: Vec<_> = (0..400).map(|_| {
            let (b, url) = (b.clone(), app.url("/readyz"));
            tokio::spawn(async move { b.get(url).send().await.map(|r| r.status()) })
        }).collect();
        for p in probes {
            assert_eq!(p.await.unwrap().unwrap(), StatusCode::OK);
        }
    }
}

#[actix_web::test]
async fn readyz_is_503_when_the_database_is_gone_and_healthz_stays_200() {
    let Some(app) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let b = app.browser();
    assert_eq!(
        b.get(app.url("/readyz")).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.postgres().unwrap().drop_now();
    // A readiness answer stands for a quarter of a second; the next check must see it gone.
    let started = std::time::Instant::now();
    let mut ready = b.get(app.url("/readyz")).send().await.unwrap();
    while ready.status() == StatusCode::OK && started.elapsed() < std::time::Duration::from_secs(1)
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        ready = b.get(app.url("/readyz")).send().await.unwrap();
    }
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        b.get(app.url("/healthz")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_caller_request_id_is_echoed_and_a_bad_one_replaced() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let b = app.browser();
    let r = b
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = b
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id <script>")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "bad id <script>");
}
