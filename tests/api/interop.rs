//! Interoperability with a real, certified OpenID provider: panva's `oidc-provider`
//! (tests/interop), started here on loopback, driven through its own login and consent
//! forms as a browser would.

use crate::helpers::*;
use reqwest::{Client, StatusCode};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CLIENT_ID: &str = "jit-sso-interop";
const CLIENT_SECRET: &str = "interop-secret-for-tests-only";

struct NodeProvider {
    child: Child,
    issuer: String,
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node_provider(redirect_uri: &str) -> Option<NodeProvider> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    if !dir.join("node_modules/oidc-provider").exists() {
        // Install the pinned provider from package-lock.json (a few seconds).
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !installed {
            let msg = "oidc-provider could not be installed (is Node.js with npm on PATH?): run `npm ci` in tests/interop";
            assert!(!require_all(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
    }
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("PORT", "0")
        .env("REDIRECT_URIS", redirect_uri)
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(issuer.trim().to_owned());
            }
        }
    });
    let issuer = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("oidc-provider printed LISTENING within 30s");
    Some(NodeProvider { child, issuer })
}

/// Follows the provider's redirects and submits its login and consent forms until it
/// redirects to our callback; returns the callback URL.
async fn through_provider(
    browser: &Client,
    authorize: &str,
    callback_prefix: &str,
    login: &str,
) -> String {
    let mut url = authorize.to_owned();
    for _ in 0..20 {
        let resp = browser.get(&url).send().await.expect("provider request");
        match resp.status() {
            s if s.is_redirection() => {
                let next = location(&resp);
                if next.starts_with(callback_prefix) {
                    return next;
                }
                url = next;
            }
            StatusCode::OK => {
                let page = resp.text().await.unwrap();
                let form: Vec<(&str, &str)> = if page.contains("name=\"prompt\" value=\"login\"") {
                    vec![("prompt", "login"), ("login", login), ("password", "any")]
                } else if page.contains("name=\"prompt\" value=\"consent\"") {
                    vec![("prompt", "consent")]
                } else {
                    panic!("unexpected provider page: {page}");
                };
                let posted = browser.post(&url).form(&form).send().await.unwrap();
                assert!(
                    posted.status().is_redirection(),
                    "form post answered {}",
                    posted.status()
                );
                url = location(&posted);
            }
            other => panic!(
                "provider answered {other} at {url}: {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }
    panic!("the provider never redirected back");
}

#[actix_web::test]
async fn a_full_sign_in_through_oidc_provider_creates_the_profile_and_a_second_finds_it() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let callback = app.url("/t/interop/callback");
    let Some(node) = start_node_provider(&callback) else {
        return;
    };

    let input = jit_sso::service::tenants::TenantInput {
        slug: "interop".into(),
        display_name: "Interop Ltd".into(),
        issuer: node.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: jit_sso::settings::Secret::new(CLIENT_SECRET),
        app_url: None,
        scopes: None,
    };
    jit_sso::service::tenants::add_tenant(&app.db, &app.keys.secrets, input, "test")
        .await
        .unwrap();
    app.set_jit("interop", true).await;

    for round in 0..2 {
        let browser = app.browser();
        let authorize = app.start_login(&browser, "/t/interop/login").await;
        assert!(
            authorize.starts_with(&node.issuer),
            "redirects to the provider"
        );
        let back =
            through_provider(&browser, &authorize, &callback, "jane.doe@interop.example").await;
        let resp = browser.get(back).send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::SEE_OTHER,
            "round {round}: {}",
            resp.text().await.unwrap_or_default()
        );
        let me: serde_json::Value = browser
            .get(app.url("/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["email"], "jane.doe@interop.example");
        assert_eq!(me["first_name"], "Jane");
        assert_eq!(me["last_name"], "Doe");
        assert_eq!(app.count("profiles").await, 1, "round {round}");
    }
}
