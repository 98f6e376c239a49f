//! The relying-party side of OpenID Connect: discovery, keys, the authorization request,
//! code exchange, ID token and userinfo validation.
//!
//! `openidconnect` builds the authorization request (state, nonce, PKCE S256); the code
//! exchange and the token checks are done here with `jsonwebtoken`, so that every rule of
//! OpenID Connect Core 3.1.3.7 is explicit and tested, and claims are read leniently.

mod backchannel;
mod cache;
mod http;
mod inspect;
mod keys;
mod signatures;
mod verify;

pub use signatures::install as install_crypto;

pub use cache::{Provider, ProviderCache};
pub use inspect::CheckItem;
pub use keys::KeySet;
pub use verify::{token_hash, Rejection, ACCEPTED_ALGS, MAX_ID_TOKEN_AGE};

use crate::domain::VerifiedIdentity;
use crate::settings::Secret;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthUrl, ClientId, CsrfToken, IssuerUrl, JsonWebKeySet, Nonce, PkceCodeChallenge, RedirectUrl,
    Scope,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use verify::Expected;

/// Minimum time between two forced key refetches for one issuer.
pub const KEY_REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider did not answer in time, or answered with a server error.
    #[error("identity provider unreachable: {0}")]
    Unreachable(String),
    /// The tenant's provider settings do not match what the provider says.
    #[error("identity provider misconfigured: {0}")]
    Misconfigured(String),
    /// The token endpoint refused the code (used twice, expired, wrong client...).
    #[error("token endpoint refused the code: {error}")]
    CodeRefused { error: String },
    /// The ID token (or userinfo) failed validation.
    #[error("token rejected: {0}")]
    TokenRejected(String),
}

/// One tenant's client registration at its provider.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The tenant's slug: labels metrics and logs.
    pub tenant: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
}

/// What to remember between the redirect to the provider and the callback.
#[derive(Debug)]
pub struct AuthRequest {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

fn check_url(raw: &str, allow_query: bool) -> Result<url::Url, String> {
    // URL parsing strips leading and trailing control characters and spaces; a value that
    // needed that is not the exact string the provider will put in `iss`.
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    if url.fragment().is_some() || (!allow_query && url.query().is_some()) {
        return Err("must not have a query or fragment".into());
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err("must be an https URL (http is allowed only on loopback)".into()),
    }
}

/// Whether the URL's host names this machine: localhost, 127.0.0.0/8 or ::1.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Issuers must be https (http only on loopback hosts), without query or fragment.
pub fn validate_issuer(issuer: &str) -> Result<url::Url, String> {
    // Every identity row is indexed by (tenant, issuer, subject): with a 255-byte subject
    // a longer issuer would pass PostgreSQL's 2,704-byte index row limit and fail every
    // first sign-in. Real issuers are well under 100 bytes.
    if issuer.len() > ISSUER_MAX_LEN {
        return Err(format!("must be at most {ISSUER_MAX_LEN} bytes"));
    }
    check_url(issuer, false)
}

pub const ISSUER_MAX_LEN: usize = 1024;

/// Provider endpoints: like issuers, but a query is allowed (some providers use one).
pub fn validate_endpoint(endpoint: &str) -> Result<url::Url, String> {
    check_url(endpoint, true)
}

impl ProviderCache {
    /// Builds the authorization URL for a new code flow with PKCE (S256), state and nonce.
    pub async fn start(
        &self,
        cfg: &ClientConfig,
        login_hint: Option<&str>,
    ) -> Result<AuthRequest, OidcError> {
        let provider = self.provider(&cfg.issuer, &cfg.tenant).await?;
        let bad = |e: &dyn std::fmt::Display| OidcError::Misconfigured(e.to_string());
        let client = CoreClient::new(
            ClientId::new(cfg.client_id.clone()),
            IssuerUrl::new(cfg.issuer.clone()).map_err(|e| bad(&e))?,
            JsonWebKeySet::default(),
        )
        .set_auth_uri(AuthUrl::new(provider.authorization_endpoint.clone()).map_err(|e| bad(&e))?)
        .set_redirect_uri(RedirectUrl::new(cfg.redirect_uri.clone()).map_err(|e| bad(&e))?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in cfg.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.url();
        Ok(AuthRequest {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the code and returns the verified identity. Claims named in `wanted` that
    /// the ID token lacks are read from userinfo (whose `sub` must match).
    pub async fn finish(
        &self,
        cfg: &ClientConfig,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        wanted: &[&str],
    ) -> Result<VerifiedIdentity, OidcError> {
        let mut provider = self.provider(&cfg.issuer, &cfg.tenant).await?;
        let tokens = self.exchange(&provider, cfg, code, pkce_verifier).await?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                OidcError::Misconfigured("the token response has no ID token string".into())
            })?;
        let access_token = tokens.get("access_token").and_then(Value::as_str);
        let claims = loop {
            let expected = Expected {
                issuer: &cfg.issuer,
                client_id: &cfg.client_id,
                nonce: Some(nonce),
                skew: self.clock_skew,
                algs: Some(&provider.algs),
                client_secret: Some(cfg.client_secret.expose()),
            };
            match verify::verify_id_token(id_token, &provider.keys, &expected, access_token) {
                Ok(claims) => break claims,
                Err(Rejection::UnknownKey) => {
                    // The provider may have rotated its keys: refetch (rate-limited), retry.
                    let fresh = self
                        .refresh_keys(&cfg.issuer, &provider, &cfg.tenant)
                        .await?;
                    if Arc::ptr_eq(&fresh, &provider) {
                        return Err(OidcError::TokenRejected(
                            "signed with a key the provider does not publish".into(),
                        ));
                    }
                    provider = fresh;
                }
                Err(Rejection::Invalid(why)) => {
                    return Err(OidcError::TokenRejected(format!("ID token: {why}")))
                }
            }
        };
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut merged = claims;
        // OIDC Core 5.3.2: a claim without a value is omitted; a null one is read as absent.
        merged.retain(|_, v| !v.is_null());
        let missing = wanted.iter().any(|c| !merged.contains_key(*c));
        if let (true, Some(endpoint), Some(token)) =
            (missing, &provider.userinfo_endpoint, access_token)
        {
            if let Some(info) = self
                .userinfo(&provider, cfg, endpoint, token, &subject)
                .await?
            {
                backchannel::fill_from_userinfo(&mut merged, info);
            }
        }
        Ok(VerifiedIdentity {
            issuer: cfg.issuer.clone(),
            subject,
            claims: merged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        assert!(validate_issuer("https://login.example.com/tenant/v2.0").is_ok());
        assert!(validate_issuer("http://127.0.0.1:8080").is_ok());
        assert!(validate_issuer("http://localhost/x").is_ok());
        assert!(validate_issuer("http://idp.example.com").is_err());
        assert!(validate_issuer("https://idp.example.com?x=1").is_err());
        assert!(validate_endpoint("https://idp.example.com/authorize?p=signin").is_ok());
        assert!(validate_issuer("ftp://idp.example.com").is_err());
    }

    #[test]
    fn an_issuer_too_long_to_index_is_refused() {
        let at_limit = format!(
            "https://idp.example.com/{}",
            "a".repeat(ISSUER_MAX_LEN - 24)
        );
        assert_eq!(at_limit.len(), ISSUER_MAX_LEN);
        assert!(validate_issuer(&at_limit).is_ok());
        let over = format!("{at_limit}a");
        assert_eq!(
            validate_issuer(&over).unwrap_err(),
            "must be at most 1024 bytes"
        );
    }

    #[test]
    fn issuers_that_url_parsing_would_trim_are_refused() {
        for raw in [
            "https://idp.example.com\0",
            " https://idp.example.com",
            "https://idp.example.com\n",
            "\u{1}https://idp.example.com",
        ] {
            assert!(validate_issuer(raw).is_err(), "{raw:?}");
            assert!(validate_endpoint(raw).is_err(), "{raw:?}");
        }
    }
}
