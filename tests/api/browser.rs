//! The support console in a real browser (Debian's Chromium driven by playwright-core):
//! staff switch JIT with a reason, an unknown person signs in, and shows in the roster and
//! the audit trail. Screenshots go to target/browser-test/.

use crate::helpers::*;
use std::path::PathBuf;
use std::process::Command;

#[actix_web::test]
async fn staff_switch_jit_in_the_console_and_see_a_new_person_in_roster_and_audit() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        let msg = "Chromium is not installed (apt-get install chromium)";
        assert!(!require_all(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok || !require_all(), "npm ci in tests/browser failed");
        if !ok {
            eprintln!("SKIPPED: playwright-core could not be installed");
            return;
        }
    }
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.demo.enabled = true)
        .await
        .unwrap();
    let token = app.staff_token(false).await;
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-test");
    let address = app.address.clone();
    let output = actix_web::rt::task::spawn_blocking(move || {
        Command::new("node")
            .arg("admin.mjs")
            .arg(&address)
            .arg(&token)
            .arg(&shots)
            .current_dir(&dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("BROWSER OK"),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    let roster = app.profiles("demo").await;
    assert!(roster
        .iter()
        .any(|p| p.email == "nora@browser.example" && p.created_via == "jit"));
}
