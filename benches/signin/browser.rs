//! Virtual browsers: each is a tokio task with its own cookie jar and connections, doing
//! complete sign-ins one after another and following redirects as a browser would.

use reqwest::header::LOCATION;
use reqwest::{Client, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

pub const TENANT: &str = "bench";
pub const SESSION_COOKIE: &str = "jit_sso_session";
/// How many failed sign-ins are kept with their details.
const ERROR_SAMPLES: usize = 5;

pub fn new_browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client")
}

/// One failed sign-in: the step, what came back.
#[derive(Clone, Debug)]
pub struct Failure {
    pub step: &'static str,
    pub status: Option<u16>,
    pub detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{}: HTTP {s}: {}", self.step, self.detail),
            None => write!(f, "{}: {}", self.step, self.detail),
        }
    }
}

pub struct Timing {
    pub callback: Duration,
    pub total: Duration,
}

fn fail(step: &'static str, status: Option<u16>, detail: impl Into<String>) -> Failure {
    Failure {
        step,
        status,
        detail: detail.into(),
    }
}

/// Reads the redirect target of a response that must have `expected` status, resolved
/// against the request URL; the body is read so that the connection is reused.
async fn redirect(step: &'static str, resp: Response, expected: u16) -> Result<Url, Failure> {
    let status = resp.status().as_u16();
    let base = resp.url().clone();
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.bytes().await.unwrap_or_default();
    if status != expected {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(fail(
            step,
            Some(status),
            text.split_whitespace().collect::<Vec<_>>().join(" "),
        ));
    }
    let location = location.ok_or_else(|| fail(step, Some(status), "no Location header"))?;
    base.join(&location).map_err(|e| {
        fail(
            step,
            Some(status),
            format!("bad Location {location:?}: {e}"),
        )
    })
}

/// One complete sign-in of `login_hint`: login -> provider authorize -> callback, which
/// must answer 303 with a session cookie.
pub async fn sign_in(client: &Client, service: &str, login_hint: &str) -> Result<Timing, Failure> {
    let send = |step: &'static str| move |e: reqwest::Error| fail(step, None, e.to_string());
    let start = Instant::now();
    let hint: String = url::form_urlencoded::byte_serialize(login_hint.as_bytes()).collect();
    let login = format!("{service}/t/{TENANT}/login?login_hint={hint}");
    let resp = client.get(&login).send().await.map_err(send("login"))?;
    let authorize = redirect("login", resp, 302).await?;
    let resp = client
        .get(authorize)
        .send()
        .await
        .map_err(send("authorize"))?;
    let callback = redirect("authorize", resp, 302).await?;
    let callback_start = Instant::now();
    let resp = client
        .get(callback)
        .send()
        .await
        .map_err(send("callback"))?;
    let has_session = resp
        .cookies()
        .any(|c| c.name() == SESSION_COOKIE && !c.value().is_empty());
    redirect("callback", resp, 303).await?;
    let end = Instant::now();
    if !has_session {
        return Err(fail("callback", Some(303), "no session cookie was set"));
    }
    Ok(Timing {
        callback: end - callback_start,
        total: end - start,
    })
}

/// Whether the browser's session is the person it last signed in as (`GET /session`).
pub async fn check_session(
    client: &Client,
    service: &str,
    login_hint: &str,
) -> Result<(), Failure> {
    let resp = client
        .get(format!("{service}/session"))
        .send()
        .await
        .map_err(|e| fail("session", None, e.to_string()))?;
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let email = body.get("email").and_then(|e| e.as_str()).unwrap_or("");
    if status != 200 || !email.eq_ignore_ascii_case(login_hint) {
        return Err(fail(
            "session",
            Some(status),
            format!("expected {login_hint}, got {body}"),
        ));
    }
    Ok(())
}

/// What a phase of sign-ins produced.
#[derive(Default)]
pub struct PhaseResult {
    pub ok: usize,
    pub errors: usize,
    pub samples: Vec<Failure>,
    /// Microseconds.
    pub callback_us: Vec<u64>,
    pub total_us: Vec<u64>,
    pub wall: Duration,
    /// The last person each browser signed in as (for the session check).
    pub last: Vec<(usize, String)>,
}

/// Runs `count` sign-ins with the browsers, each taking the next number `k` and signing in
/// `hint(k)`; the result merges all browsers.
pub async fn run_phase(
    browsers: &[Client],
    service: &str,
    count: usize,
    hint: Arc<dyn Fn(usize) -> String + Send + Sync>,
) -> PhaseResult {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, client) in browsers.iter().enumerate() {
        let (client, next, hint, service) = (
            client.clone(),
            next.clone(),
            hint.clone(),
            service.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut r = PhaseResult::default();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= count {
                    break;
                }
                let who = hint(k);
                match sign_in(&client, &service, &who).await {
                    Ok(t) => {
                        r.ok += 1;
                        r.callback_us.push(t.callback.as_micros() as u64);
                        r.total_us.push(t.total.as_micros() as u64);
                        r.last = vec![(i, who)];
                    }
                    Err(f) => {
                        r.errors += 1;
                        if r.samples.len() < ERROR_SAMPLES {
                            r.samples.push(f);
                        }
                    }
                }
            }
            r
        }));
    }
    let mut all = PhaseResult::default();
    for t in tasks {
        let r = t.await.expect("a browser task panicked");
        all.ok += r.ok;
        all.errors += r.errors;
        for s in r.samples {
            if all.samples.len() < ERROR_SAMPLES {
                all.samples.push(s);
            }
        }
        all.callback_us.extend(r.callback_us);
        all.total_us.extend(r.total_us);
        all.last.extend(r.last);
    }
    all.wall = start.elapsed();
    all
}
