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
    let started = std::time::Instant::now();
    let ready = b.get(app.url("/readyz")).send().await.unwrap();
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
