//! Faults of the process and its database: PostgreSQL stopping under a running service
//! (this stops and restarts the local cluster with `pg_ctlcluster`, so it runs only when
//! JIT_SSO_TEST_PG_CTL=1, as .ci/run sets, in its own test binary: cargo runs test binaries
//! one after another), and the process ending while PostgreSQL connections are busy.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/provider.rs"]
mod provider;

use helpers::{Backend, TestApp};
use provider::TestUser;
use reqwest::StatusCode;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
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

/// The tests below run in parallel threads; the one that stops PostgreSQL must not do so
/// under the one that needs it up.
static CLUSTER: Mutex<()> = Mutex::new(());

fn cluster_to_myself() -> MutexGuard<'static, ()> {
    CLUSTER.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn the_service_survives_postgresql_stopping_and_recovers_by_itself() {
    let _alone = cluster_to_myself();
    actix_web::rt::System::new().block_on(postgresql_stops_under_the_service());
}

async fn postgresql_stops_under_the_service() {
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

/// The environment variable that turns [`child_process_of_the_exit_test`] on.
const EXIT_CHILD: &str = "JIT_SSO_TEST_EXIT_CHILD_URL";

/// A process ends (a test binary after its last test, `jit-sso migrate`, a replica that
/// stopped) while other threads still talk to PostgreSQL. libpq's TLS library (OpenSSL)
/// registered an exit handler that freed its state under those threads, and libpq's
/// Kerberos probe had its own: the process died with "double free or corruption" or a
/// segfault after its work was done (CI, after all 222 api tests had passed).
/// Each run below re-executes this binary as a child that ends while four threads connect
/// and query; before the fix about one child in five died.
#[test]
fn the_process_ends_cleanly_while_postgresql_connections_are_busy() {
    let _alone = cluster_to_myself();
    let Some(db) = helpers::PgDatabase::create() else {
        return;
    };
    let exe = std::env::current_exe().expect("the test binary's path");
    for run in 1..=40 {
        let out = Command::new(&exe)
            .args(["--exact", "child_process_of_the_exit_test", "--nocapture"])
            .env(EXIT_CHILD, &db.url)
            .env_remove("PGGSSENCMODE")
            .output()
            .expect("the child runs");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("queried"),
            "run {run}: the process did not end cleanly ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Not a test of its own: the child process of the test above (it does nothing unless
/// that test started it). Four threads open pools, query and drop them in a loop; once
/// each has queried, the process exits while they go on.
#[test]
fn child_process_of_the_exit_test() {
    let Ok(url) = std::env::var(EXIT_CHILD) else {
        return;
    };
    let (queried, first) = std::sync::mpsc::channel();
    for _ in 0..4 {
        let (url, queried) = (url.clone(), queried.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            loop {
                let db = jit_sso::db::Db::connect(&url, 1, Duration::from_secs(5)).expect("pool");
                rt.block_on(db.run(|conn| {
                    use diesel::connection::SimpleConnection;
                    conn.batch_execute("SELECT 1")
                        .map_err(jit_sso::db::DbError::from)
                }))
                .expect("SELECT 1");
                let _ = queried.send(());
            }
        });
    }
    drop(queried); // so that the wait below ends if every thread failed
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        eprintln!("the threads did not query within 60 s");
        std::process::exit(3);
    });
    for _ in 0..4 {
        first.recv().expect("a thread queried");
    }
    println!("queried");
    std::thread::sleep(Duration::from_millis(5));
    std::process::exit(0);
}
