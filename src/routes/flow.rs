//! The sign-in state of one flow (state, nonce, PKCE verifier, tenant, return path, expiry),
//! carried in its own encrypted, authenticated, short-lived cookie. No server memory: any
//! replica finishes any flow, and two tabs signing in at once do not overwrite each other.

use super::AppState;
use crate::crypto::constant_time_eq;
use actix_web::cookie::{time, Cookie, CookieJar, SameSite};
use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

const PREFIX: &str = "jit_sso_flow_";

#[derive(Debug, Serialize, Deserialize)]
pub struct FlowState {
    pub tenant: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub return_to: Option<String>,
    /// Unix seconds.
    pub exp: u64,
    /// Unix nanoseconds when the flow started (orders flows for pruning; sign-ins on
    /// loopback can start within the same millisecond).
    pub started_ns: i64,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The cookie name for a state value: derived, so the callback finds the right flow among
/// several open tabs without echoing attacker-chosen text into a cookie name.
pub fn cookie_name(state: &str) -> String {
    let digest = Sha256::digest(state.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// Flow cookies are sent to the tenant's login, initiate and callback paths (so that a
/// new flow can see, and prune, the open ones).
fn cookie_path(tenant: &str) -> String {
    format!("/t/{tenant}/")
}

/// At most this many sign-ins may be open at once in one browser; the oldest give way.
const MAX_OPEN_FLOWS: usize = 4;

/// Removal cookies for the oldest open flows, so that at most `MAX_OPEN_FLOWS` remain
/// once a new one is added (the Cookie header must stay small).
pub fn prune(app: &AppState, req: &HttpRequest, tenant: &str) -> Vec<Cookie<'static>> {
    let Ok(cookies) = req.cookies() else {
        return Vec::new();
    };
    let mut open: Vec<(i64, String)> = cookies
        .iter()
        .filter(|c| c.name().starts_with(PREFIX))
        .map(|c| {
            let mut jar = CookieJar::new();
            jar.add_original(c.clone().into_owned());
            let started = jar
                .private(&app.flow_key)
                .get(c.name())
                .and_then(|o| serde_json::from_str::<FlowState>(o.value()).ok())
                .map_or(0, |f| f.started_ns);
            (started, c.name().to_owned())
        })
        .collect();
    if open.len() < MAX_OPEN_FLOWS {
        return Vec::new();
    }
    open.sort();
    let excess = open.len() + 1 - MAX_OPEN_FLOWS;
    open.into_iter()
        .take(excess)
        .map(|(_, name)| removal_named(app, tenant, name))
        .collect()
}

impl FlowState {
    pub fn new(
        app: &AppState,
        tenant: &str,
        state: String,
        nonce: String,
        verifier: String,
        return_to: Option<String>,
    ) -> Self {
        FlowState {
            tenant: tenant.to_owned(),
            state,
            nonce,
            verifier,
            return_to,
            exp: now() + app.flow_ttl.as_secs(),
            started_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
        }
    }

    pub fn to_cookie(&self, app: &AppState) -> Cookie<'static> {
        let name = cookie_name(&self.state);
        let value = serde_json::to_string(self).expect("flow state serializes");
        let mut jar = CookieJar::new();
        jar.private_mut(&app.flow_key)
            .add(Cookie::new(name.clone(), value));
        let mut cookie = jar.get(&name).expect("cookie was just added").clone();
        cookie.set_path(cookie_path(&self.tenant));
        cookie.set_http_only(true);
        cookie.set_secure(app.secure_cookies);
        cookie.set_same_site(SameSite::Lax);
        cookie.set_max_age(time::Duration::seconds(app.flow_ttl.as_secs() as i64));
        cookie
    }

    /// The flow named by `state`, if its cookie is present, authentic, unexpired, for this
    /// tenant, and holds exactly this state. Errors are plain words for the error page.
    pub fn from_request(
        app: &AppState,
        req: &HttpRequest,
        tenant: &str,
        state: &str,
    ) -> Result<FlowState, &'static str> {
        const LOST: &str = "We could not find the sign-in you started in this browser: it may have been completed already, started in another browser, or blocked by cookie settings.";
        let name = cookie_name(state);
        let raw = req.cookie(&name).ok_or(LOST)?;
        let mut jar = CookieJar::new();
        jar.add_original(raw);
        let opened = jar.private(&app.flow_key).get(&name).ok_or(LOST)?;
        let flow: FlowState = serde_json::from_str(opened.value()).map_err(|_| LOST)?;
        if !constant_time_eq(flow.state.as_bytes(), state.as_bytes()) {
            return Err(LOST);
        }
        if flow.exp < now() {
            return Err("The sign-in took too long and expired.");
        }
        if flow.tenant != tenant {
            return Err("The sign-in response arrived for a different company than the one you started with.");
        }
        Ok(flow)
    }
}

/// A cookie that deletes the flow cookie for `state`.
pub fn removal(app: &AppState, tenant: &str, state: &str) -> Cookie<'static> {
    removal_named(app, tenant, cookie_name(state))
}

fn removal_named(app: &AppState, tenant: &str, name: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, "");
    cookie.set_path(cookie_path(tenant));
    cookie.set_http_only(true);
    cookie.set_secure(app.secure_cookies);
    cookie.set_same_site(SameSite::Lax);
    cookie.make_removal();
    cookie
}
