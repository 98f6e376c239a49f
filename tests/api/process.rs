//! The real binary as a process: graceful shutdown, and logs that never carry a secret.

use crate::helpers::*;
use crate::provider::{TestProvider, TestUser, CLIENT_SECRET};
use reqwest::StatusCode;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Service {
    child: Child,
    address: String,
    log: std::path::PathBuf,
    db_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `jit-sso serve` in the test environment with its own SQLite file.
async fn start_service(extra_env: &[(&str, &str)]) -> Service {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("svc.db").display());
    let log = dir.path().join("service.log");
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jit-sso"));
    cmd.arg("serve")
        .env("JIT_SSO_ENV", "test")
        .env(
            "JIT_SSO_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("JIT_SSO__HTTP__PORT", port.to_string())
        .env("JIT_SSO__HTTP__PUBLIC_URL", &address)
        .env("JIT_SSO__DATABASE__URL", &db_url)
        .env("JIT_SSO__SECRETS__SESSION_KEY", SESSION_KEY)
        .env("JIT_SSO__SECRETS__DATA_KEY", DATA_KEY)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("jit-sso starts");
    let service = Service {
        child,
        address,
        log,
        db_url,
        _dir: dir,
    };
    let client = browser();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client
            .get(format!("{}/readyz", service.address))
            .send()
            .await
        {
            if r.status() == StatusCode::OK {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "service not ready: {}",
            std::fs::read_to_string(&service.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service
}

async fn add_tenant(service: &Service, provider: &TestProvider) {
    let db = jit_sso::db::Db::connect(&service.db_url, 1, Duration::from_secs(5)).unwrap();
    let settings = settings_for(&service.db_url);
    let keys = jit_sso::startup::Keys::from_settings(&settings).unwrap();
    let input = jit_sso::service::tenants::TenantInput {
        slug: "acme".into(),
        display_name: "Acme".into(),
        issuer: provider.issuer(),
        client_id: crate::provider::CLIENT_ID.into(),
        client_secret: jit_sso::settings::Secret::new(CLIENT_SECRET),
        app_url: None,
        scopes: None,
    };
    jit_sso::service::tenants::add_tenant(&db, &keys.secrets, input, "test")
        .await
        .unwrap();
    jit_sso::service::tenants::set_jit(&db, "acme", true, "test", "test")
        .await
        .unwrap();
}

fn terminate(service: &Service) {
    let status = Command::new("kill")
        .args(["-TERM", &service.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(service: &mut Service, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = service.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[actix_web::test]
async fn sigterm_turns_readiness_off_first_and_lets_a_sign_in_in_flight_finish() {
    let provider = TestProvider::start().await;
    let mut service = start_service(&[
        ("JIT_SSO__HTTP__DRAIN_SECS", "1"),
        ("JIT_SSO__HTTP__SHUTDOWN_GRACE_SECS", "10"),
    ])
    .await;
    add_tenant(&service, &provider).await;
    provider.login_as(TestUser::new("t", "tom@example.com", "Tom", "T"));
    let browser = browser();
    let resp = browser
        .get(format!("{}/t/acme/login", service.address))
        .send()
        .await
        .unwrap();
    let authorize = location(&resp);
    let callback = location(&browser.get(&authorize).send().await.unwrap());

    // The provider now answers slowly: the callback is in flight when SIGTERM arrives.
    provider.set_delay(Duration::from_millis(2500));
    let in_flight = tokio::spawn({
        let browser = browser.clone();
        async move { browser.get(callback).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    terminate(&service);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = browser
        .get(format!("{}/readyz", service.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readiness turns 503 first"
    );
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        StatusCode::SEE_OTHER,
        "the sign-in completes"
    );
    let status = wait_exit(&mut service, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

#[actix_web::test]
async fn the_log_never_contains_a_code_token_secret_or_cookie_value() {
    let provider = TestProvider::start().await;
    let mut service = start_service(&[]).await;
    add_tenant(&service, &provider).await;
    provider.login_as(TestUser::new("l", "lea@example.com", "Lea", "L"));
    let browser = browser();
    let login = browser
        .get(format!("{}/t/acme/login", service.address))
        .send()
        .await
        .unwrap();
    let flow_cookie = login
        .cookies()
        .find(|c| c.name().starts_with("jit_sso_flow_"))
        .unwrap()
        .value()
        .to_owned();
    let authorize = location(&login);
    let callback = location(&browser.get(&authorize).send().await.unwrap());
    let params: Vec<(String, String)> = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let code = params.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let state = params.iter().find(|(k, _)| k == "state").unwrap().1.clone();
    let done = browser.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let session = done
        .cookies()
        .find(|c| c.name() == "jit_sso_session")
        .unwrap()
        .value()
        .to_owned();
    browser
        .get(format!("{}/session", service.address))
        .send()
        .await
        .unwrap();
    browser
        .post(format!("{}/logout", service.address))
        .send()
        .await
        .unwrap();
    let db = jit_sso::db::Db::connect(&service.db_url, 1, Duration::from_secs(5)).unwrap();
    let staff_token = jit_sso::service::staff::create(&db, "log-check", false)
        .await
        .unwrap();
    let listed = reqwest::Client::new()
        .get(format!("{}/admin/v1/tenants", service.address))
        .bearer_auth(&staff_token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    terminate(&service);
    wait_exit(&mut service, Duration::from_secs(10));

    let log = std::fs::read_to_string(&service.log).unwrap();
    assert!(
        log.contains("sign-in tenant=acme outcome=created"),
        "decision is logged:\n{log}"
    );
    for (what, secret) in [
        ("authorization code", code.as_str()),
        ("state", state.as_str()),
        ("flow cookie", flow_cookie.as_str()),
        ("session cookie", session.as_str()),
        ("client secret", CLIENT_SECRET),
        ("session key", SESSION_KEY),
        ("data key", DATA_KEY),
        ("a JWT", "eyJ"),
        ("staff token", staff_token.as_str()),
    ] {
        assert!(!log.contains(secret), "the log contains the {what}");
    }
}

/// Support staff copy these URLs into the customer's identity provider: they must be whole
/// URLs even when no public URL is configured (the laptop default), and all three of them.
#[test]
fn tenant_add_prints_the_three_urls_to_register_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jit-sso"))
        .args(["tenant", "add", "acme", "--name", "Acme", "--issuer"])
        .arg("https://idp.example.com")
        .args(["--client-id", "cid", "--client-secret-env", "ACME_SECRET"])
        .env("ACME_SECRET", "s3cret")
        .env("JIT_SSO_ENV", "test")
        .env(
            "JIT_SSO_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("JIT_SSO__HTTP__PORT", "8123")
        .env(
            "JIT_SSO__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("cli.db").display()),
        )
        .env("JIT_SSO__SECRETS__SESSION_KEY", SESSION_KEY)
        .env("JIT_SSO__SECRETS__DATA_KEY", DATA_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for path in ["callback", "initiate", "login"] {
        let url = format!("http://127.0.0.1:8123/t/acme/{path}");
        assert!(stdout.contains(&url), "{url} missing from:\n{stdout}");
    }
    assert!(!stdout.contains("s3cret"), "{stdout}");
}

#[test]
fn a_config_folder_that_does_not_exist_is_an_error_not_the_built_in_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_jit-sso"))
        .arg("check-config")
        .env("JIT_SSO_CONFIG_DIR", "/nonexistent/jit-sso-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("JIT_SSO_CONFIG_DIR"), "{stderr}");
    assert!(stderr.contains("is not a folder"), "{stderr}");
}

/// `check-config` before a rollout catches the secret template copied as it is.
#[test]
fn check_config_names_a_secret_still_holding_the_templates_placeholder() {
    let out = Command::new(env!("CARGO_BIN_EXE_jit-sso"))
        .arg("check-config")
        .env("JIT_SSO_ENV", "production")
        .env(
            "JIT_SSO_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("JIT_SSO__HTTP__PUBLIC_URL", "https://sso.example.com")
        .env("JIT_SSO__DATABASE__URL", "postgres://db.internal/jit_sso")
        .env(
            "JIT_SSO__SECRETS__SESSION_KEY",
            "REPLACE_ME_openssl_rand_b64_48_REPLACE_ME",
        )
        .env("JIT_SSO__SECRETS__DATA_KEY", DATA_KEY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("JIT_SSO__SECRETS__SESSION_KEY"), "{stderr}");
    assert!(stderr.contains("placeholder"), "{stderr}");
    assert!(
        !stderr.contains("openssl_rand_b64_48_REPLACE"),
        "secret echoed: {stderr}"
    );
}

/// A command pointed at a database that is not there says why first, not "timed out".
#[test]
fn a_database_that_does_not_exist_is_named_as_the_cause() {
    let url = format!("{}/jit_sso_no_such_database", postgres_server());
    let out = Command::new(env!("CARGO_BIN_EXE_jit-sso"))
        .args(["users", "demo"])
        .env("JIT_SSO__DATABASE__URL", &url)
        .env("JIT_SSO__DATABASE__CONNECT_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect: "), "{stderr}");
    assert!(!stderr.contains("timed out waiting"), "{stderr}");
    if PgDatabase::create().is_some() {
        assert!(
            stderr.contains("\"jit_sso_no_such_database\" does not exist"),
            "{stderr}"
        );
    }
}

/// A second copy on a taken port says how to choose another.
#[test]
fn a_port_in_use_is_refused_with_the_setting_that_changes_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jit-sso"))
        .env("JIT_SSO__HTTP__PORT", &port)
        .env(
            "JIT_SSO__DATABASE__URL",
            format!("sqlite://{}/jit.db", dir.path().display()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("binding 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("JIT_SSO__HTTP__PORT chooses another port"),
        "{stderr}"
    );
}
