//! Connecting: which database a URL names, opening connections (PostgreSQL always through
//! [`establish_postgres`]), and what the pool needs to hand them out and test them.

use super::{AnyConnection, DbError};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Where to connect, chosen from the URL's scheme (never by trial and error).
#[derive(Debug, Clone)]
pub(super) enum Target {
    Postgres(String),
    Sqlite(String),
}

/// Whether a database URL names PostgreSQL (anything else is an SQLite file).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens a PostgreSQL connection: every one this process opens goes through here.
///
/// libpq is a C library with two habits that crash a multi-threaded process as it exits:
/// its TLS library (OpenSSL) frees its global state in an exit handler, and its Kerberos
/// probe (GSSAPI encryption, which libpq tries first by default) has exit-time destructors
/// of its own. A thread still using a connection while the process ends then dies in freed
/// memory ("double free or corruption", a segfault) after all the work is done. So OpenSSL
/// is set up here, before libpq's first use, without that exit handler, and GSSAPI
/// encryption is tried only when the URL (or `PGGSSENCMODE`) asks for it.
pub fn establish_postgres(url: &str) -> ConnectionResult<diesel::PgConnection> {
    openssl_sys::init();
    diesel::PgConnection::establish(&gssencmode_by_choice(url))
}

/// The URL with `gssencmode=disable` added, unless the URL or the environment chose a mode.
fn gssencmode_by_choice(url: &str) -> std::borrow::Cow<'_, str> {
    let query = url.split_once('?').map(|(_, q)| q);
    let chosen = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("gssencmode"))
    });
    if chosen || std::env::var_os("PGGSSENCMODE").is_some() {
        return url.into();
    }
    let joiner = if query.is_some() { '&' } else { '?' };
    format!("{url}{joiner}gssencmode=disable").into()
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Target, DbError> {
        if is_postgres_url(url) {
            return Ok(Target::Postgres(url.to_owned()));
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(DbError::BadUrl(
                "use sqlite://path, a file path, or postgres://...".into(),
            ));
        }
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DbError::Unavailable(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
        }
        Ok(Target::Sqlite(path.to_owned()))
    }
}

pub(super) struct Manager(pub(super) Target);

/// A pooled connection and what the pool needs to decide whether to test it.
pub struct Pooled {
    pub(super) conn: AnyConnection,
    /// When a caller last gave it back without an error.
    pub(super) healthy_at: Instant,
    /// The last caller got an error: the connection may be dead; test before reuse.
    pub(super) suspect: bool,
}

/// A connection used successfully this recently is handed out without a `SELECT 1`:
/// under load every checkout would otherwise cost a round trip. Idle connections, and
/// any connection whose last use failed, are still tested (as HikariCP's bypass window).
const TRUSTED_FOR: Duration = Duration::from_millis(500);

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = match &self.0 {
            Target::Postgres(url) => establish_postgres(url)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError)?,
            Target::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                AnyConnection::Sqlite(conn)
            }
        };
        Ok(Pooled {
            conn,
            healthy_at: Instant::now(),
            suspect: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if !pooled.suspect && pooled.healthy_at.elapsed() < TRUSTED_FOR {
            return Ok(());
        }
        pooled.conn.ping().map_err(r2d2::Error::QueryError)?;
        pooled.suspect = false;
        pooled.healthy_at = Instant::now();
        Ok(())
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        std::thread::panicking() || pooled.conn.is_broken()
    }
}

/// r2d2 logs every failed connection attempt at error level by default; we report the
/// failure where it matters (503 and readiness) instead.
#[derive(Debug)]
pub(super) struct QuietErrors;
impl<E: std::fmt::Display> r2d2::HandleError<E> for QuietErrors {
    fn handle_error(&self, error: E) {
        log::debug!("database connection attempt failed: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::gssencmode_by_choice;

    #[test]
    fn gssapi_encryption_is_off_unless_the_url_chooses_a_mode() {
        assert_eq!(
            gssencmode_by_choice("postgres://u@db:5432/app"),
            "postgres://u@db:5432/app?gssencmode=disable"
        );
        assert_eq!(
            gssencmode_by_choice("postgres://u@db/app?sslmode=verify-full"),
            "postgres://u@db/app?sslmode=verify-full&gssencmode=disable"
        );
        for chosen in [
            "postgres://u@db/app?gssencmode=require",
            "postgres://u@db/app?sslmode=disable&gssencmode=prefer",
        ] {
            assert_eq!(gssencmode_by_choice(chosen), chosen);
        }
    }
}
