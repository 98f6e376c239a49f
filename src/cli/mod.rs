//! Operator commands: they talk to the database directly, print for people by default and
//! JSON with `--json`, and exit non-zero with a clear message on error.

mod roster;
mod tenants;
mod tokens;

pub use roster::{audit, check, profiles, users, ProfileCommand};
pub use tenants::{tenant, OnOff, TenantCommand};
pub use tokens::{token, TokenCommand};

use crate::db::Db;
use crate::settings::Settings;
use crate::startup::{open_database, Keys};
use anyhow::bail;
use std::time::Duration;

pub(crate) fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub(crate) async fn database(settings: &Settings) -> anyhow::Result<Db> {
    open_database(settings).await
}

/// For commands that only read: an absent SQLite file is an error naming the path, not a
/// new empty database in whatever folder the command ran.
pub(crate) async fn existing_database(settings: &Settings) -> anyhow::Result<Db> {
    let url = &settings.database.url;
    if !crate::db::is_postgres_url(url) {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        if !std::path::Path::new(path).exists() {
            bail!("no database at {path} (set JIT_SSO__DATABASE__URL, or run from the folder where the service runs)");
        }
    }
    open_database(settings).await
}

/// What `serve` would refuse, without starting anything.
pub fn check_config(settings: &Settings) -> anyhow::Result<()> {
    Keys::from_settings(settings)?;
    Db::connect(
        &settings.database.url,
        settings.database.pool_size,
        Duration::from_secs(settings.database.connect_timeout_secs),
    )?;
    let database = if crate::db::is_postgres_url(&settings.database.url) {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "settings of environment {:?} are valid",
        settings.environment
    );
    println!(
        "  listen {}:{}, public URL {}",
        settings.http.host,
        settings.http.port,
        settings.public_url()
    );
    println!(
        "  database: {database}, pool {}, migrate on start: {}",
        settings.database.pool_size, settings.database.migrate_on_start
    );
    println!(
        "  demo identity provider: {}",
        if settings.demo.enabled { "ON" } else { "off" }
    );
    Ok(())
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::connect(
        &settings.database.url,
        settings.database.pool_size,
        Duration::from_secs(settings.database.connect_timeout_secs),
    )?;
    let ran = db.migrate().await?;
    println!("applied {ran} migration(s); the database is up to date");
    Ok(())
}
