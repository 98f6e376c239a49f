//! Talking to the service as a browser or as support staff would.

use reqwest::header::LOCATION;
use reqwest::{redirect, Client, Response, StatusCode};
use std::time::Duration;

use super::TestApp;

pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// `url` with the value of query parameter `key` replaced by `change(old value)`.
pub fn with_param(url: &str, key: &str, change: impl Fn(&str) -> String) -> String {
    let mut url = url::Url::parse(url).expect("a URL");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    url.query_pairs_mut().clear();
    for (k, v) in &pairs {
        let v = if k == key { change(v) } else { v.clone() };
        url.query_pairs_mut().append_pair(k, &v);
    }
    url.to_string()
}

pub fn location(resp: &Response) -> String {
    let raw = resp
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location header on {} {}", resp.status(), resp.url()))
        .to_str()
        .expect("ascii location");
    resp.url()
        .join(raw)
        .expect("resolvable location")
        .to_string()
}

/// A free local port (closed again at once, so that a process can bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One admin API request with a staff token: the status and the JSON body (null if none).
pub async fn admin_call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .request(method, app.url(&format!("/admin/v1{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("admin request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}
