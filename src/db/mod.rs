//! Storage: the only module that names diesel or r2d2.
//!
//! One repository code path serves PostgreSQL and SQLite through a Diesel
//! `MultiConnection`. Every call, `pool.get()` included, runs on the blocking pool through
//! [`Db::run`]; transactions are closures inside it.

pub mod audit;
mod connect;
pub mod profiles;
pub mod schema;
pub mod sign_in;
pub mod staff;
pub mod tenants;
mod transactions;

pub use connect::{establish_postgres, is_postgres_url, Backend};
use connect::{Manager, QuietErrors, Target};

pub use transactions::{
    conflict_as_none, insert_tolerating_conflict, write_query_transaction, write_transaction,
};

use diesel::prelude::*;
use diesel::r2d2;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// Advisory lock key held while migrating, so replicas starting together take turns.
const MIGRATION_LOCK_KEY: i64 = 0x6a69_7473_736f;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(DieselError),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database migrations are pending (run `jit-sso migrate`)")]
    MigrationsPending,
    #[error("unsupported database URL: {0}")]
    BadUrl(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => DbError::Unavailable(e.to_string()),
            // SQLite's busy timeout ran out: the database is there but locked; retryable.
            DieselError::DatabaseError(_, info)
                if info.message().contains("database is locked")
                    || info.message().contains("database is busy") =>
            {
                DbError::Unavailable(e.to_string())
            }
            _ => DbError::Query(e),
        }
    }
}

/// True when the error is a uniqueness conflict: the row is already there.
/// PostgreSQL refuses a NUL character in text, even to compare it; a key holding one
/// (`/tenants/%00`) was never stored, so a lookup answers "not there" without asking.
pub fn storable(key: &str) -> bool {
    !key.contains('\0')
}

/// No connection came: r2d2 says "timed out waiting for connection: <why>", which reads as
/// a busy pool when the cause (a wrong password, a database that does not exist) is at
/// the end; the cause comes first here.
fn unreachable(e: r2d2::PoolError) -> DbError {
    let text = e.to_string();
    DbError::Unavailable(
        match text.strip_prefix("timed out waiting for connection: ") {
            Some(why) => format!("cannot connect: {}", why.trim()),
            None => text,
        },
    )
}

pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// The pool and the one way to use it.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    probe: r2d2::Pool<Manager>,
    backend: Backend,
    /// One permit per pooled connection: callers wait here, on the async side, so the
    /// blocking pool never holds more threads than there are connections to use.
    permits: Arc<Semaphore>,
    /// Callers waiting for a pooled connection right now.
    waiting: Arc<AtomicU32>,
    /// How long a caller waits for a connection before the sign-in is answered 503.
    timeout: Duration,
    /// The last readiness answer and when it was found: probes that arrive together share
    /// one check, and one younger than [`READY_REUSE`] is given again without asking.
    ready: Arc<tokio::sync::Mutex<Option<(Instant, Readiness)>>>,
}

/// How long one readiness check answers for every probe: a flood of `/readyz` requests
/// (a load generator, a misconfigured probe) makes at most a few checks a second, never a
/// queue of blocking threads waiting for the probe's one connection.
const READY_REUSE: Duration = Duration::from_millis(250);

#[derive(Clone)]
enum Readiness {
    Ready,
    MigrationsPending,
    Unavailable(String),
}

impl Db {
    /// Builds the pool without connecting: the service starts (and reports not ready) while
    /// the database is down.
    pub fn connect(url: &str, pool_size: u32, timeout: Duration) -> Result<Db, DbError> {
        let target = Target::parse(url)?;
        let backend = match target {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        };
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(0))
            .connection_timeout(timeout)
            .error_handler(Box::new(QuietErrors))
            .build_unchecked(Manager(target.clone()));
        // Readiness has its own connection: a pool busy with sign-ins must not make a busy
        // replica look dead.
        let probe = r2d2::Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(1))
            .error_handler(Box::new(QuietErrors))
            .build_unchecked(Manager(target));
        Ok(Db {
            pool,
            probe,
            backend,
            permits: Arc::new(Semaphore::new(pool_size as usize)),
            waiting: Default::default(),
            timeout,
            ready: Default::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let permit = {
            self.waiting.fetch_add(1, Relaxed);
            let permit = tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned());
            let permit = permit.await;
            self.waiting.fetch_sub(1, Relaxed);
            match permit {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => {
                    return Err(DbError::Unavailable("database pool closed".into()).into())
                }
                Err(_) => {
                    let waited = format!("no database connection free within {:?}", self.timeout);
                    return Err(DbError::Unavailable(waited).into());
                }
            }
        };
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let _permit = permit;
            let got = pool.get();
            let mut pooled = got.map_err(|e| E::from(unreachable(e)))?;
            let result = f(&mut pooled.conn);
            // Refusals are `Ok`; an `Err` is a database error or a rolled-back write, after
            // which the connection is tested before anyone else gets it.
            pooled.suspect = result.is_err();
            pooled.healthy_at = Instant::now();
            result
        })
        .await
        .map_err(|_| E::from(DbError::Unavailable("blocking pool closed".into())))?
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, DbError> {
        self.run(run_migrations).await
    }

    /// Ready means: a connection (of the probe's own) answers and no migration is pending.
    /// Concurrent callers wait for one check; its answer stands for [`READY_REUSE`].
    pub async fn check_ready(&self) -> Result<(), DbError> {
        let mut last = self.ready.lock().await;
        let answer = match &*last {
            Some((at, answer)) if at.elapsed() < READY_REUSE => answer.clone(),
            _ => {
                let answer = match self.check_ready_now().await {
                    Ok(()) => Readiness::Ready,
                    Err(DbError::MigrationsPending) => Readiness::MigrationsPending,
                    Err(DbError::Unavailable(why)) => Readiness::Unavailable(why),
                    Err(e) => Readiness::Unavailable(e.to_string()),
                };
                *last = Some((Instant::now(), answer.clone()));
                answer
            }
        };
        match answer {
            Readiness::Ready => Ok(()),
            Readiness::MigrationsPending => Err(DbError::MigrationsPending),
            Readiness::Unavailable(why) => Err(DbError::Unavailable(why)),
        }
    }

    async fn check_ready_now(&self) -> Result<(), DbError> {
        let probe = self.probe.clone();
        actix_web::web::block(move || {
            let mut pooled = probe.get().map_err(unreachable)?;
            let pending = match &mut pooled.conn {
                AnyConnection::Postgresql(c) => c.has_pending_migration(PG_MIGRATIONS),
                AnyConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
            }
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
            if pending {
                Err(DbError::MigrationsPending)
            } else {
                Ok(())
            }
        })
        .await
        .map_err(|_| DbError::Unavailable("blocking pool closed".into()))?
    }

    pub fn waiting(&self) -> u32 {
        self.waiting.load(Relaxed)
    }

    pub fn max_size(&self) -> u32 {
        self.pool.max_size()
    }

    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }
}

fn run_migrations(conn: &mut AnyConnection) -> Result<usize, DbError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        AnyConnection::Postgresql(c) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(c)?;
            let ran = c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len());
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(c)?;
            ran.map_err(failed)
        }
        AnyConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(failed),
    }
}

/// Milliseconds since the Unix epoch: the one time representation in the schema.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
