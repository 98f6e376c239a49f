//! Per-issuer cache of discovery documents and key sets.
//!
//! One fetch at a time per issuer (a burst of sign-ins after expiry makes one request);
//! a stale copy keeps serving while the provider is unreachable; an unknown `kid` forces
//! a refetch at most once per [`KEY_REFRESH_MIN_INTERVAL`].

use super::http::Http;
use super::keys::KeySet;
use super::{validate_endpoint, validate_issuer, OidcError, KEY_REFRESH_MIN_INTERVAL};
use jsonwebtoken::Algorithm;
use serde_json::Value;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Retry interval after a failed refresh while a stale copy is still served.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// What we use of a provider's discovery document, and its keys.
pub struct Provider {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: Option<String>,
    pub token_auth_methods: Option<Vec<String>>,
    pub algs: Vec<Algorithm>,
    /// `authorization_response_iss_parameter_supported`: every authorization response
    /// names the provider in `iss`, and one without it is refused (RFC 9207 2.4).
    pub iss_in_responses: bool,
    pub keys: KeySet,
    pub fetched_at: Instant,
}

struct Entry {
    provider: Arc<Provider>,
    refresh_at: Instant,
    /// When an unknown key last forced a refetch (rate limit).
    forced_at: Option<Instant>,
}

pub struct ProviderCache {
    pub(super) http: Http,
    ttl: Duration,
    pub(super) clock_skew: Duration,
    entries: RwLock<HashMap<String, Entry>>,
    fetch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ProviderCache {
    pub fn new(timeout: Duration, ttl: Duration, clock_skew: Duration) -> Self {
        ProviderCache {
            http: Http::new(timeout),
            ttl,
            clock_skew,
            entries: RwLock::new(HashMap::new()),
            fetch_locks: Mutex::new(HashMap::new()),
        }
    }

    /// The provider, from the cache when fresh.
    pub async fn provider(&self, issuer: &str, tenant: &str) -> Result<Arc<Provider>, OidcError> {
        {
            let entries = self.entries.read().expect("cache lock");
            if let Some(e) = entries
                .get(issuer)
                .filter(|e| Instant::now() < e.refresh_at)
            {
                return Ok(e.provider.clone());
            }
        }
        self.fetch(issuer, None, tenant).await
    }

    /// Refetches after an unknown key, unless `seen` was fetched very recently (then the
    /// newest copy is returned as it is).
    pub async fn refresh_keys(
        &self,
        issuer: &str,
        seen: &Provider,
        tenant: &str,
    ) -> Result<Arc<Provider>, OidcError> {
        self.fetch(issuer, Some(seen.fetched_at), tenant).await
    }

    /// Drops a cached provider (after its tenant's settings changed).
    pub fn forget(&self, issuer: &str) {
        self.entries.write().expect("cache lock").remove(issuer);
    }

    async fn fetch(
        &self,
        issuer: &str,
        forced_after: Option<Instant>,
        tenant: &str,
    ) -> Result<Arc<Provider>, OidcError> {
        let lock = {
            let mut locks = self.fetch_locks.lock().expect("cache lock");
            locks.entry(issuer.to_owned()).or_default().clone()
        };
        let _guard = lock.lock().await;
        // Someone else may have fetched while we waited; a forced refresh is rate-limited.
        let mut forced_at = None;
        if let Some(current) = self.entries.read().expect("cache lock").get(issuer) {
            let p = &current.provider;
            let fresh_enough = match forced_after {
                Some(seen) => {
                    p.fetched_at > seen
                        || current
                            .forced_at
                            .is_some_and(|t| t.elapsed() < KEY_REFRESH_MIN_INTERVAL)
                }
                None => Instant::now() < current.refresh_at,
            };
            if fresh_enough {
                return Ok(p.clone());
            }
            forced_at = current.forced_at;
        }
        if forced_after.is_some() {
            forced_at = Some(Instant::now());
            crate::metrics::get()
                .key_refetches
                .with_label_values(&[tenant])
                .inc();
        }
        match self.discover(issuer, tenant).await {
            Ok(provider) => {
                let provider = Arc::new(provider);
                self.entries.write().expect("cache lock").insert(
                    issuer.to_owned(),
                    Entry {
                        provider: provider.clone(),
                        refresh_at: Instant::now() + self.ttl,
                        forced_at,
                    },
                );
                Ok(provider)
            }
            Err(e) => {
                let mut entries = self.entries.write().expect("cache lock");
                match entries.get_mut(issuer) {
                    Some(stale) if matches!(e, OidcError::Unreachable(_)) => {
                        log::warn!("provider {issuer} unreachable, keeping its cached keys: {e}");
                        stale.refresh_at = Instant::now() + RETRY_AFTER_FAILURE;
                        stale.forced_at = forced_at;
                        Ok(stale.provider.clone())
                    }
                    Some(stale) => {
                        stale.forced_at = forced_at;
                        Err(e)
                    }
                    None => Err(e),
                }
            }
        }
    }

    async fn discover(&self, issuer: &str, tenant: &str) -> Result<Provider, OidcError> {
        validate_issuer(issuer).map_err(OidcError::Misconfigured)?;
        // Discovery 1.0, section 4: the issuer without a trailing slash, then the path.
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = self.http.get_json(&url, "discovery", tenant).await?;
        let text = |key: &str| doc.get(key).and_then(Value::as_str).map(str::to_owned);
        let endpoint = |key: &str| -> Result<String, OidcError> {
            let value = text(key).ok_or_else(|| {
                OidcError::Misconfigured(format!("the discovery document of {issuer} has no {key}"))
            })?;
            validate_endpoint(&value)
                .map_err(|m| OidcError::Misconfigured(format!("{key} {m}")))?;
            Ok(value)
        };
        let discovered = text("issuer").unwrap_or_default();
        if discovered != issuer {
            return Err(OidcError::Misconfigured(format!(
                "issuer mismatch: the tenant is configured with {issuer:?} but the provider's discovery document says {discovered:?}; they must be identical (including any trailing slash)"
            )));
        }
        let jwks_uri = endpoint("jwks_uri")?;
        let jwks = self.http.get_json(&jwks_uri, "keys", tenant).await?;
        let keys = KeySet::from_jwks(&jwks).map_err(OidcError::Misconfigured)?;
        if keys.is_empty() {
            return Err(OidcError::Misconfigured(format!(
                "{issuer} publishes no usable signing key"
            )));
        }
        let strings = |key: &str| -> Option<Vec<String>> {
            doc.get(key).and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        };
        let algs = strings("id_token_signing_alg_values_supported")
            .unwrap_or_default()
            .iter()
            .filter_map(|a| Algorithm::from_str(a).ok())
            .collect();
        Ok(Provider {
            issuer: issuer.to_owned(),
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            userinfo_endpoint: text("userinfo_endpoint").filter(|u| validate_endpoint(u).is_ok()),
            token_auth_methods: strings("token_endpoint_auth_methods_supported"),
            algs,
            iss_in_responses: doc
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            keys,
            fetched_at: Instant::now(),
        })
    }
}
