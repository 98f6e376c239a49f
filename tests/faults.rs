//! Stopping PostgreSQL under a running service. It stops and restarts the local cluster
//! (`pg_ctlcluster`), so it runs only when JIT_SSO_TEST_PG_CTL=1 (as .ci/run sets), in its
//! own test binary (cargo runs test binaries one after another).

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/provider.rs"]
mod provider;

use helpers::{Backend, TestApp};
use provider::TestUser;
use reqwest::StatusCode;
use std::process::Command;
use std::time::{Duration, Instant};

fn cluster() -> Option<String> {
    std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
}

fn pg_ctl(action: &str) {
    let version = cluster().expect("a PostgreSQL cluster under /etc/postgresql");
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", &version, "main", action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    let status = cmd.status().expect("pg_ctlcluster runs");
    assert!(status.success(), "pg_ctlcluster {action} failed");
}

/// Starts PostgreSQL again whatever happens in the test.
struct RestartOnDrop;
impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("pg_ctlcluster")
            .args([
                "--skip-systemctl-redirect",
                &cluster().unwrap_or_default(),
                "main",
                "start",
            ])
            .status();
    }
}

async fn wait_for(app: &TestApp, path: &str, status: StatusCode, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = app
            .browser()
            .get(app.url(path))
            .send()
            .await
            .map(|r| r.status());
        if got.as_ref().ok() == Some(&status) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} did not answer {status} within {within:?} (last: {got:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_service_survives_postgresql_stopping_and_recovers_by_itself() {
    if std::env::var("JIT_SSO_TEST_PG_CTL").as_deref() != Ok("1") {
        eprintln!("SKIPPED: set JIT_SSO_TEST_PG_CTL=1 to let this test stop and start PostgreSQL");
        return;
    }
    let app = TestApp::spawn(Backend::Postgres)
        .await
        .expect("PostgreSQL is required here");
    app.add_tenant("acme", true).await;
    let gina = || TestUser::new("g", "gina@example.com", "Gina", "G");
    assert_eq!(
        app.sign_in("acme", gina()).await.status(),
        StatusCode::SEE_OTHER
    );

    let _restart = RestartOnDrop;
    pg_ctl("stop");
    let took = wait_for(
        &app,
        "/readyz",
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(5),
    )
    .await;
    eprintln!("readyz turned 503 {took:?} after PostgreSQL stopped");
    assert_eq!(
        app.browser()
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let resp = app
        .browser()
        .get(app.url("/t/acme/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("temporarily unavailable"));

    pg_ctl("start");
    let took = wait_for(&app, "/readyz", StatusCode::OK, Duration::from_secs(30)).await;
    eprintln!("readyz back to 200 {took:?} after PostgreSQL started");
    assert_eq!(
        app.sign_in("acme", gina()).await.status(),
        StatusCode::SEE_OTHER,
        "no restart needed"
    );
    assert_eq!(
        app.count("profiles").await,
        1,
        "nothing duplicated or half-written"
    );
    assert_eq!(app.count("identities").await, 1);
}
