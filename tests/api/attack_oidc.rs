//! Misbehaving or unusual providers, and failure modes reported against similar products.
//! Each test asserts what a person would see: the status, a clear page, nothing written,
//! nothing secret shown.

use crate::helpers::*;
use crate::oidc_checks::{app_with_tenant, erin};
use crate::provider::{KeyId, CLIENT_SECRET};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// One full sign-in of erin into acme; returns status and page.
async fn attempt(app: &TestApp) -> (StatusCode, String) {
    let resp = app.sign_in("acme", erin()).await;
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

/// Nothing secret and no framework text on a page.
fn assert_clean(page: &str) {
    for bad in [
        CLIENT_SECRET,
        "access_token",
        "id_token",
        "eyJ",
        "panicked",
        "Traceback",
    ] {
        assert!(!page.contains(bad), "page shows {bad:?}: {page}");
    }
    assert!(!page.contains("<script"), "unescaped markup: {page}");
    assert!(
        page.contains("<h1>") || page.contains("<title>"),
        "not a page: {page}"
    );
}

fn gateway(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// A raw HTTP server on loopback: answers every request by calling `answer` with the
/// stream (after the request headers and body have been read).
fn raw_server(answer: impl Fn(&mut std::net::TcpStream) + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                answer(&mut stream);
            });
        }
    });
    addr
}

/// Points the provider's token endpoint at `url`.
fn token_endpoint_at(app: &TestApp, url: String) {
    app.provider.edit_discovery(move |d| {
        d["token_endpoint"] = json!(url.clone());
    });
}

fn now() -> i64 {
    jit_sso::db::now_millis() / 1000
}

/// GET `path` in a fresh browser: the status and the page.
async fn get_page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let resp = app.browser().get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

mod callback;
mod claims;
mod keys;
mod token;
mod userinfo;
