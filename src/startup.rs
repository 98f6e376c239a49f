//! The composition root: pool, provider cache, keys, HTTP server. Production and tests
//! build the application the same way.

use crate::crypto::{derive_key, SecretBox};
use crate::db::Db;
use crate::oidc::ProviderCache;
use crate::routes::dev_idp::{self, DevIdp};
use crate::routes::{configure, head_as_get, no_route, request_id_middleware, AppState};
use crate::service::session::Sessions;
use crate::service::tenants;
use crate::settings::Settings;
use actix_web::cookie::Key;
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders, Logger};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Used only outside production when no key is configured; logged as a warning.
const INSECURE_DEV_KEY: &str = "jit-sso insecure development key: never use in production";

pub struct Application {
    port: u16,
    public_url: String,
    server: Server,
    metrics_server: Option<Server>,
    shutting_down: Arc<AtomicBool>,
    drain: Duration,
    grace: Duration,
}

/// `GET /metrics`: Prometheus text; pool gauges are read at scrape time.
async fn metrics_endpoint(state: web::Data<AppState>) -> actix_web::HttpResponse {
    let m = crate::metrics::get();
    let (connections, idle) = state.db.pool_state();
    m.pool_connections
        .with_label_values(&["in_use"])
        .set(i64::from(connections.saturating_sub(idle)));
    m.pool_connections
        .with_label_values(&["idle"])
        .set(i64::from(idle));
    m.pool_max.set(i64::from(state.db.max_size()));
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}

/// The keys the service needs, from settings.
pub struct Keys {
    pub sessions: Sessions,
    /// The configured session key, for deriving further keys.
    session_key_material: Vec<u8>,
    pub flow_key: Key,
    pub secrets: SecretBox,
}

impl Keys {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Keys> {
        let pick = |configured, var: &str| key_or_dev_key(settings, configured, var);
        let session = pick(
            settings.secrets.session_key()?,
            "JIT_SSO__SECRETS__SESSION_KEY",
        )?;
        let data = pick(settings.secrets.data_key()?, "JIT_SSO__SECRETS__DATA_KEY")?;
        let session_jwt: [u8; 32] = derive_key(&session, "session-jwt-hs256");
        let flow: [u8; 64] = derive_key(&session, "flow-cookie");
        Ok(Keys {
            session_key_material: session.clone(),
            sessions: Sessions::new(&session_jwt, Duration::from_secs(settings.session.ttl_secs)),
            flow_key: Key::from(&flow),
            secrets: SecretBox::new(&data),
        })
    }
}

/// The key that seals tenants' client secrets, for commands that need no other key.
pub fn secret_box(settings: &Settings) -> anyhow::Result<SecretBox> {
    let data = key_or_dev_key(
        settings,
        settings.secrets.data_key()?,
        "JIT_SSO__SECRETS__DATA_KEY",
    )?;
    Ok(SecretBox::new(&data))
}

/// A configured key; in development and test, a fixed insecure one with a warning.
fn key_or_dev_key(
    settings: &Settings,
    configured: Option<crate::settings::Secret>,
    var: &str,
) -> anyhow::Result<Vec<u8>> {
    let relaxed = matches!(settings.environment.as_str(), "development" | "test");
    match configured {
        Some(s) if s.expose().contains(crate::settings::PLACEHOLDER) => anyhow::bail!(
            "{var} still holds the placeholder of deploy/kubernetes/secret.example.yaml; generate one with `openssl rand -base64 48`"
        ),
        Some(s) => Ok(s.expose().as_bytes().to_vec()),
        None if relaxed => {
            log::warn!(
                "{var} is not set: using an insecure development key (environment {})",
                settings.environment
            );
            Ok(INSECURE_DEV_KEY.as_bytes().to_vec())
        }
        None => anyhow::bail!(
            "{var} (or {var}_FILE) must be set in the {} environment; generate one with `openssl rand -base64 48`",
            settings.environment
        ),
    }
}

/// Opens the database pool and applies migrations when configured.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Db> {
    let db = Db::connect(
        &settings.database.url,
        settings.database.pool_size,
        Duration::from_secs(settings.database.connect_timeout_secs),
    )?;
    if settings.database.migrate_on_start {
        let ran = db.migrate().await.context("applying database migrations")?;
        if ran > 0 {
            log::info!("applied {ran} database migration(s)");
        }
    }
    Ok(db)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        crate::oidc::install_crypto();
        let keys = Keys::from_settings(&settings)?;
        let db = open_database(&settings).await?;
        let (host, port) = (settings.http.host.as_str(), settings.http.port);
        let listener = TcpListener::bind((host, port)).map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    " (another copy running? JIT_SSO__HTTP__PORT chooses another port)"
                }
                _ => "",
            };
            anyhow::anyhow!("binding {host}:{port}: {e}{hint}")
        })?;
        let port = listener.local_addr()?.port();
        let public_url = settings.public_url_for(port);

        let demo = if settings.demo.enabled {
            log::warn!("DEMO MODE (demo.enabled=true): the development identity provider at {public_url}/dev-idp signs in anyone as anyone; never enable this in production");
            let secret: [u8; 24] = derive_key(&keys.session_key_material, "demo-client-secret");
            let secret = secret.iter().map(|b| format!("{b:02x}")).collect();
            let idp = Arc::new(DevIdp::new(&public_url, secret));
            tenants::ensure_demo_tenant(
                &db,
                &keys.secrets,
                idp.issuer(),
                dev_idp::CLIENT_ID,
                idp.client_secret(),
            )
            .await
            .context("creating the demo tenant")?;
            Some(idp)
        } else {
            None
        };

        let shutting_down = Arc::new(AtomicBool::new(false));
        let state = web::Data::new(AppState {
            db,
            providers: ProviderCache::new(
                Duration::from_secs(settings.oidc.http_timeout_secs),
                Duration::from_secs(settings.oidc.discovery_ttl_secs),
                Duration::from_secs(settings.oidc.clock_skew_secs),
            ),
            sessions: keys.sessions,
            secrets: keys.secrets,
            flow_key: keys.flow_key,
            secure_cookies: public_url.starts_with("https://"),
            public_origin: url::Url::parse(&public_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            public_host: url::Url::parse(&public_url)
                .ok()
                .and_then(|u| {
                    let host = u.host_str()?.to_owned();
                    Some(match u.port() {
                        Some(port) => format!("{host}:{port}"),
                        None => host,
                    })
                })
                .unwrap_or_default(),
            public_url: public_url.clone(),
            session_cookie: settings.session.cookie_name.clone(),
            flow_ttl: Duration::from_secs(settings.oidc.flow_ttl_secs),
            demo,
            tenants: crate::routes::tenant_cache::TenantCache::new(Duration::from_millis(
                settings.database.tenant_cache_ms,
            )),
            shutting_down: shutting_down.clone(),
        });
        let demo_enabled = state.demo.is_some();
        let metrics_here = settings.metrics.enabled && settings.metrics.port == 0;
        let metrics_server = if settings.metrics.enabled && settings.metrics.port != 0 {
            let listener =
                TcpListener::bind((settings.metrics.host.as_str(), settings.metrics.port))
                    .with_context(|| {
                        format!(
                            "binding metrics {}:{}",
                            settings.metrics.host, settings.metrics.port
                        )
                    })?;
            let state = state.clone();
            Some(
                HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .route("/metrics", web::get().to(metrics_endpoint))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)?
                .run(),
            )
        } else {
            None
        };
        let log_probes = settings.log.probes;
        // The access log renders a line per request; skip even that when it is filtered out.
        let log_requests =
            log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info);
        let mut server = HttpServer::new(move || {
            let mut logger = Logger::new("%{method}xi %U %s %Dms request_id=%{x-request-id}o")
                .custom_request_replace("method", |req| req.method().to_string());
            if !log_probes {
                logger = logger
                    .exclude("/healthz")
                    .exclude("/readyz")
                    .exclude("/metrics");
            }
            App::new()
                .app_data(state.clone())
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Frame-Options", "DENY"))
                        .add(("X-Content-Type-Options", "nosniff"))
                        // The callback URL holds a code: never leak it in a Referer.
                        .add(("Referrer-Policy", "no-referrer")),
                )
                .wrap(from_fn(head_as_get))
                // The logger is outermost so that it sees the request id header.
                .wrap(from_fn(request_id_middleware))
                .wrap(Condition::new(log_requests, logger))
                .configure(|cfg| configure(cfg, demo_enabled))
                .configure(|cfg| {
                    if metrics_here {
                        cfg.route("/metrics", web::get().to(metrics_endpoint));
                    }
                })
                .default_service(web::to(no_route))
        })
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_grace_secs);
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Application {
            port,
            public_url,
            server,
            metrics_server,
            shutting_down,
            drain: Duration::from_secs(settings.http.drain_secs),
            grace: Duration::from_secs(settings.http.shutdown_grace_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT, then: readiness turns 503 at once, requests are
    /// still served for `http.drain_secs`, then new connections stop and in-flight requests
    /// get `http.shutdown_grace_secs` to finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let metrics_handle = self.metrics_server.as_ref().map(Server::handle);
        let flag = self.shutting_down.clone();
        let (drain, grace) = (self.drain, self.grace);
        tokio::spawn(async move {
            wait_for_signal().await;
            log::info!(
                "shutdown requested: not ready now, draining {}s, then up to {}s for requests in flight",
                drain.as_secs(),
                grace.as_secs()
            );
            flag.store(true, Ordering::SeqCst);
            tokio::time::sleep(drain).await;
            handle.stop(true).await;
            if let Some(m) = metrics_handle {
                m.stop(true).await;
            }
        });
        if let Some(metrics) = self.metrics_server {
            tokio::spawn(metrics);
        }
        self.server.await
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
