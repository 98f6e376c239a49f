//! Per-issuer cache of discovery documents and key sets.

use super::{validate_issuer, OidcError, KEY_REFRESH_MIN_INTERVAL};
use openidconnect::core::CoreProviderMetadata;
use openidconnect::{DiscoveryError, IssuerUrl};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Retry interval after a failed refresh while a stale copy is still served.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

struct Entry {
    metadata: Arc<CoreProviderMetadata>,
    fetched_at: Instant,
    refresh_at: Instant,
}

/// A provider's metadata (with its keys) as used for one sign-in.
pub struct Provider {
    pub metadata: Arc<CoreProviderMetadata>,
    /// True when the keys were just refetched for this sign-in (do not refetch again).
    pub refreshed: bool,
}

pub struct ProviderCache {
    http: reqwest::Client,
    ttl: Duration,
    clock_skew: Duration,
    entries: RwLock<HashMap<String, Entry>>,
    /// One fetch at a time per issuer: a burst of sign-ins after expiry makes one request.
    fetch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ProviderCache {
    pub fn new(timeout: Duration, ttl: Duration, clock_skew: Duration) -> Self {
        let http = reqwest::Client::builder()
            // Following redirects on the back channel opens the door to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("jit-sso/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client configuration is valid");
        ProviderCache {
            http,
            ttl,
            clock_skew,
            entries: RwLock::new(HashMap::new()),
            fetch_locks: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(super) fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    /// The cached metadata, fetched when absent or older than the TTL. When a refresh fails
    /// but a copy exists, the copy keeps serving (keys rarely change; sign-ins go on).
    pub async fn metadata(&self, issuer: &str) -> Result<Provider, OidcError> {
        if let Some(m) = self.fresh(issuer, |e| Instant::now() < e.refresh_at) {
            return Ok(Provider {
                metadata: m,
                refreshed: false,
            });
        }
        self.fetch(issuer, false).await
    }

    /// Refetches the provider's keys after an unknown `kid`, at most once per
    /// [`KEY_REFRESH_MIN_INTERVAL`].
    pub(super) async fn refresh_keys(&self, issuer: &str) -> Result<Provider, OidcError> {
        self.fetch(issuer, true).await
    }

    /// Drops a cached provider (after its tenant's settings changed).
    pub fn forget(&self, issuer: &str) {
        self.entries.write().expect("cache lock").remove(issuer);
    }

    fn fresh(
        &self,
        issuer: &str,
        ok: impl Fn(&Entry) -> bool,
    ) -> Option<Arc<CoreProviderMetadata>> {
        let entries = self.entries.read().expect("cache lock");
        entries
            .get(issuer)
            .filter(|e| ok(e))
            .map(|e| e.metadata.clone())
    }

    async fn fetch(&self, issuer: &str, forced: bool) -> Result<Provider, OidcError> {
        let lock = {
            let mut locks = self.fetch_locks.lock().expect("cache lock");
            locks.entry(issuer.to_owned()).or_default().clone()
        };
        let _guard = lock.lock().await;
        // Someone else may have fetched while we waited.
        let recent = |e: &Entry| {
            if forced {
                e.fetched_at.elapsed() < KEY_REFRESH_MIN_INTERVAL
            } else {
                Instant::now() < e.refresh_at
            }
        };
        if let Some(m) = self.fresh(issuer, recent) {
            return Ok(Provider {
                metadata: m,
                refreshed: true,
            });
        }
        match self.discover(issuer).await {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                let now = Instant::now();
                self.entries.write().expect("cache lock").insert(
                    issuer.to_owned(),
                    Entry {
                        metadata: metadata.clone(),
                        fetched_at: now,
                        refresh_at: now + self.ttl,
                    },
                );
                Ok(Provider {
                    metadata,
                    refreshed: true,
                })
            }
            Err(e) => {
                let mut entries = self.entries.write().expect("cache lock");
                match entries.get_mut(issuer) {
                    Some(stale) if matches!(e, OidcError::Unreachable(_)) => {
                        log::warn!("provider {issuer} unreachable, using cached metadata: {e}");
                        stale.refresh_at = Instant::now() + RETRY_AFTER_FAILURE;
                        Ok(Provider {
                            metadata: stale.metadata.clone(),
                            refreshed: true,
                        })
                    }
                    _ => Err(e),
                }
            }
        }
    }

    async fn discover(&self, issuer: &str) -> Result<CoreProviderMetadata, OidcError> {
        validate_issuer(issuer).map_err(OidcError::Misconfigured)?;
        let issuer_url = IssuerUrl::new(issuer.to_owned())
            .map_err(|e| OidcError::Misconfigured(format!("issuer: {e}")))?;
        CoreProviderMetadata::discover_async(issuer_url, &self.http)
            .await
            .map_err(|e| match e {
                DiscoveryError::Request(_) => {
                    OidcError::Unreachable(format!("discovery at {issuer} failed"))
                }
                DiscoveryError::Response(status, _, _) if status.is_server_error() => {
                    OidcError::Unreachable(format!("discovery at {issuer}: HTTP {status}"))
                }
                DiscoveryError::Response(status, _, _) => OidcError::Misconfigured(format!(
                    "discovery at {issuer} answered HTTP {status}"
                )),
                DiscoveryError::Validation(m) => OidcError::Misconfigured(m),
                DiscoveryError::Parse(p) => OidcError::Misconfigured(format!(
                    "discovery document of {issuer} is invalid at {}",
                    p.path()
                )),
                other => OidcError::Misconfigured(other.to_string()),
            })
    }
}
