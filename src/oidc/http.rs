//! The back channel to identity providers: timeouts, no redirects, bounded bodies.

use super::OidcError;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Largest response body read from a provider.
const MAX_BODY: usize = 1024 * 1024;

pub struct Http {
    client: reqwest::Client,
}

/// A response from a provider: status, content type, body.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Http {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            // Following redirects on the back channel opens the door to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("jit-sso/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is valid");
        Http { client }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request; `what` names the endpoint in errors and metrics (never a URL with
    /// secrets); `tenant` labels the metrics.
    pub async fn send(
        &self,
        request: RequestBuilder,
        what: &str,
        tenant: &str,
    ) -> Result<Reply, OidcError> {
        let started = std::time::Instant::now();
        let result = self.send_inner(request, what).await;
        let m = crate::metrics::get();
        m.provider_seconds
            .with_label_values(&[tenant, what])
            .observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(r) if r.status.is_success() => "ok",
            Ok(_) => "refused",
            Err(OidcError::Unreachable(_)) => "unreachable",
            Err(_) => "invalid",
        };
        m.provider_requests
            .with_label_values(&[tenant, what, outcome])
            .inc();
        result
    }

    async fn send_inner(&self, request: RequestBuilder, what: &str) -> Result<Reply, OidcError> {
        // A pooled keep-alive connection the provider closed at the same moment we reused it
        // fails with "connection closed before message completed". The request never reached
        // the provider, so it is sent once more on a fresh connection. Timeouts and refused
        // connections are not retried: they fail fast.
        let again = request.try_clone();
        let first = request.send().await;
        let sent = match (first, again) {
            (Err(e), Some(again)) if !e.is_timeout() && !e.is_connect() && e.is_request() => {
                log::debug!("{what} endpoint: retrying after a dropped keep-alive connection");
                again.send().await
            }
            (result, _) => result,
        };
        let mut response = sent.map_err(|e| {
            // The cause chain says why (DNS, refused, TLS...); it holds no secrets.
            let mut why = if e.is_timeout() {
                "timed out".to_owned()
            } else {
                "could not connect".to_owned()
            };
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                why = format!("{why}: {cause}");
                source = cause.source();
            }
            OidcError::Unreachable(format!("{what} endpoint {why}"))
        })?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(OidcError::Misconfigured(format!(
                            "{what} response is larger than 1 MiB"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => {
                    return Err(OidcError::Unreachable(format!(
                        "{what} response was cut off"
                    )))
                }
            }
        }
        if status.is_server_error() {
            return Err(OidcError::Unreachable(format!(
                "{what} endpoint answered HTTP {status}"
            )));
        }
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// GETs a JSON object (discovery, keys).
    pub async fn get_json(&self, url: &str, what: &str, tenant: &str) -> Result<Value, OidcError> {
        let reply = self
            .send(
                self.client.get(url).header(ACCEPT, "application/json"),
                what,
                tenant,
            )
            .await?;
        if !reply.status.is_success() {
            return Err(OidcError::Misconfigured(format!(
                "{what} at {url} answered HTTP {}",
                reply.status
            )));
        }
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(OidcError::Misconfigured(format!(
                "{what} at {url} is not a JSON object"
            ))),
        }
    }
}
