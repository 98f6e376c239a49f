//! `TestApp`: the application built exactly as production builds it, on port 0, over a
//! fresh database (a SQLite file in a temp dir, or a fresh PostgreSQL database dropped
//! afterwards), next to a test identity provider.

use crate::provider::{TestProvider, TestUser, CLIENT_ID, CLIENT_SECRET};
use diesel::RunQueryDsl;
use jit_sso::db::profiles::ProfileRow;
use jit_sso::db::Db;
use jit_sso::service::tenants::{self, TenantInput};
use jit_sso::settings::{Secret, Settings};
use jit_sso::startup::{Application, Keys};
use reqwest::{Client, Response, StatusCode};
use std::path::Path;
use std::time::Duration;

#[path = "helpers/postgres.rs"]
mod postgres;
pub use postgres::*;
#[path = "helpers/http.rs"]
mod http;
pub use http::*;

pub const SESSION_KEY: &str = "test-session-key-0123456789abcdef0123456789";
pub const DATA_KEY: &str = "test-data-key-0123456789abcdef0123456789abcd";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum DbGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(PgDatabase),
}

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub provider: TestProvider,
    pub db: Db,
    pub keys: Keys,
    guard: DbGuard,
    server: actix_web::dev::ServerHandle,
}

pub fn settings_for(database_url: &str) -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut s = Settings::load_from(&dir, "test", &[]).expect("test settings load");
    s.database.url = database_url.to_owned();
    s.database.pool_size = 10;
    s.http.workers = 2;
    s.http.shutdown_grace_secs = 1;
    s.oidc.http_timeout_secs = 2;
    s.secrets.session_key = Some(Secret::new(SESSION_KEY));
    s.secrets.data_key = Some(Secret::new(DATA_KEY));
    s.demo.enabled = false;
    s
}

impl TestApp {
    /// Runs one SQL statement on the app's database (to set up what no API can).
    pub async fn execute(&self, statement: impl Into<String>) {
        let statement = statement.into();
        self.db
            .run(move |c| {
                diesel::sql_query(statement)
                    .execute(c)
                    .map_err(jit_sso::db::DbError::from)
            })
            .await
            .expect("SQL statement");
    }

    /// Spawns the app over a fresh database; `None` when PostgreSQL is asked for but absent
    /// (and `JIT_SSO_TEST_REQUIRE_ALL` is not set).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        let (url, guard) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                (url, DbGuard::Sqlite(dir))
            }
            Backend::Postgres => {
                let db = PgDatabase::create()?;
                (db.url.clone(), DbGuard::Postgres(db))
            }
        };
        let mut settings = settings_for(&url);
        tweak(&mut settings);
        let provider = TestProvider::start().await;
        let keys = Keys::from_settings(&settings).expect("keys");
        let app = Application::build(settings.clone())
            .await
            .expect("app builds");
        let address = app.public_url().to_owned();
        let server = app.handle();
        tokio::spawn(app.run_until_stopped());
        let db = Db::connect(&settings.database.url, 4, Duration::from_secs(5)).expect("test pool");
        Some(TestApp {
            address,
            database_url: settings.database.url.clone(),
            provider,
            db,
            keys,
            guard,
            server,
        })
    }

    pub fn postgres(&self) -> Option<&PgDatabase> {
        match &self.guard {
            DbGuard::Postgres(db) => Some(db),
            DbGuard::Sqlite(_) => None,
        }
    }

    /// Registers a tenant pointing at the test provider.
    pub async fn add_tenant(&self, slug: &str, jit: bool) {
        self.add_tenant_with(slug, &self.provider.issuer(), jit, None)
            .await;
    }

    pub async fn add_tenant_with(
        &self,
        slug: &str,
        issuer: &str,
        jit: bool,
        app_url: Option<&str>,
    ) {
        let input = TenantInput {
            slug: slug.into(),
            display_name: format!("{slug} Inc."),
            issuer: issuer.into(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            app_url: app_url.map(Into::into),
            scopes: None,
        };
        tenants::add_tenant(&self.db, &self.keys.secrets, input, "test")
            .await
            .expect("tenant added");
        if jit {
            self.set_jit(slug, true).await;
        }
    }

    /// A staff token for the admin API.
    pub async fn staff_token(&self, read_only: bool) -> String {
        jit_sso::service::staff::create(
            &self.db,
            if read_only { "reader" } else { "support" },
            read_only,
        )
        .await
        .expect("token created")
    }

    pub async fn set_jit(&self, slug: &str, on: bool) {
        tenants::set_jit(&self.db, slug, on, "test", "test")
            .await
            .expect("jit set");
    }

    pub async fn profiles(&self, slug: &str) -> Vec<ProfileRow> {
        tenants::roster(&self.db, slug).await.expect("roster").1
    }

    /// Rows in a table, counted with plain SQL.
    pub async fn count(&self, table: &'static str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.db
            .run(move |conn| {
                diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                    .get_result::<N>(conn)
                    .map(|r| r.n)
                    .map_err(jit_sso::db::DbError::from)
            })
            .await
            .expect("count")
    }

    /// A new browser: its own cookie jar, redirects not followed.
    pub fn browser(&self) -> Client {
        browser()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Starts a sign-in: returns the provider's authorize URL.
    pub async fn start_login(&self, browser: &Client, path: &str) -> String {
        let resp = browser
            .get(self.url(path))
            .send()
            .await
            .expect("login request");
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "login should redirect to the provider"
        );
        location(&resp)
    }

    /// The test provider approves the current user: returns the callback URL.
    pub async fn authorize(&self, browser: &Client, authorize_url: &str) -> String {
        let resp = browser
            .get(authorize_url)
            .send()
            .await
            .expect("authorize request");
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "provider should redirect back"
        );
        location(&resp)
    }

    /// A complete sign-in of `user` into `slug` in `browser`; returns the callback response.
    pub async fn sign_in_with(&self, browser: &Client, slug: &str, user: TestUser) -> Response {
        self.provider.login_as(user);
        let authorize = self.start_login(browser, &format!("/t/{slug}/login")).await;
        let callback = self.authorize(browser, &authorize).await;
        browser
            .get(callback)
            .send()
            .await
            .expect("callback request")
    }

    pub async fn sign_in(&self, slug: &str, user: TestUser) -> Response {
        self.sign_in_with(&self.browser(), slug, user).await
    }
}

/// Runs a test body against SQLite, and against PostgreSQL when it is reachable.
#[macro_export]
macro_rules! on_both_databases {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($app: $crate::helpers::TestApp) $body

            #[actix_web::test]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                body(app).await;
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                    body(app).await;
                }
            }
        }
    };
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; its completion need not be awaited.
        drop(self.server.stop(false));
    }
}

/// A profile as support staff load it (no identity link yet), with the names Sam Preloaded.
pub fn operator_profile(tenant_id: &str, email: &str) -> jit_sso::db::profiles::NewProfileRow {
    jit_sso::db::profiles::NewProfileRow {
        id: jit_sso::db::new_id(),
        tenant_id: tenant_id.to_owned(),
        email: email.into(),
        email_normalized: email.to_lowercase(),
        first_name: "Sam".into(),
        last_name: "Preloaded".into(),
        role: "learner".into(),
        locale: "en-US".into(),
        time_zone: "UTC".into(),
        status: "active".into(),
        created_via: "operator".into(),
        created_at: jit_sso::db::now_millis(),
        last_sign_in_at: None,
        sessions_revoked_at: None,
    }
}
