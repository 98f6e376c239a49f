//! Operator commands: they talk to the database directly, print for people by default and
//! JSON with `--json`, and exit non-zero with a clear message on error.

use crate::db::tenants::TenantChanges;
use crate::db::Db;
use crate::service::tenants::{self, TenantInput};
use crate::settings::{Secret, Settings};
use crate::startup::{open_database, Keys};
use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use std::time::Duration;

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Register a customer's identity provider. JIT starts off.
    Add {
        slug: String,
        /// Display name of the company.
        #[arg(long)]
        name: String,
        /// The provider's issuer URL, exactly as its discovery document states it.
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        /// Name of the environment variable that holds the client secret (never on argv).
        #[arg(long, value_name = "VAR")]
        client_secret_env: String,
        /// Where people land after signing in (default: /).
        #[arg(long)]
        app_url: Option<String>,
        /// Space-separated scopes (default: "openid email profile").
        #[arg(long)]
        scopes: Option<String>,
    },
    /// Switch just-in-time provisioning on or off, with a reason for the audit trail.
    Jit {
        slug: String,
        state: OnOff,
        #[arg(long)]
        reason: String,
    },
    /// Change a tenant's claim mapping, email trust, allowed domains, defaults or app URL.
    Set {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        /// Correct the provider's issuer (exactly as its discovery document states it).
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        /// Name of the environment variable holding a new client secret.
        #[arg(long, value_name = "VAR")]
        client_secret_env: Option<String>,
        #[arg(long)]
        app_url: Option<String>,
        /// Claim holding the email (e.g. email, upn, preferred_username).
        #[arg(long)]
        email_claim: Option<String>,
        #[arg(long)]
        given_name_claim: Option<String>,
        #[arg(long)]
        family_name_claim: Option<String>,
        /// Trust an email whose email_verified claim is absent.
        #[arg(long)]
        trust_unstated_email: Option<bool>,
        /// Trust an address taken from preferred_username or upn.
        #[arg(long)]
        trust_username_email: Option<bool>,
        /// Space- or comma-separated domains; "" allows any.
        #[arg(long)]
        allowed_domains: Option<String>,
        /// Update names from the provider at each sign-in.
        #[arg(long)]
        sync_names: Option<bool>,
        #[arg(long)]
        default_role: Option<String>,
        #[arg(long)]
        default_locale: Option<String>,
        #[arg(long)]
        default_time_zone: Option<String>,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

async fn database(settings: &Settings) -> anyhow::Result<Db> {
    open_database(settings).await
}

/// For commands that only read: an absent SQLite file is an error naming the path, not a
/// new empty database in whatever folder the command ran.
async fn existing_database(settings: &Settings) -> anyhow::Result<Db> {
    let url = &settings.database.url;
    if !url.starts_with("postgres") {
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
    let database = if settings.database.url.starts_with("postgres") {
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
        settings.http.host, settings.http.port, settings.http.public_url
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

pub async fn tenant(settings: &Settings, cmd: TenantCommand) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Add {
            slug,
            name,
            issuer,
            client_id,
            client_secret_env,
            app_url,
            scopes,
        } => {
            let secret = std::env::var(&client_secret_env).with_context(|| {
                format!("the environment variable {client_secret_env} (named by --client-secret-env) is not set")
            })?;
            let keys = Keys::from_settings(settings)?;
            let db = database(settings).await?;
            let input = TenantInput {
                slug,
                display_name: name,
                issuer,
                client_id,
                client_secret: Secret::new(secret),
                app_url,
                scopes,
            };
            let row = tenants::add_tenant(&db, &keys.secrets, input, &actor()).await?;
            let public = settings.http.public_url.trim_end_matches('/');
            println!("tenant {} added (JIT is off).", row.slug);
            println!(
                "  redirect URI to register at the provider: {public}/t/{}/callback",
                row.slug
            );
            println!(
                "  sign-in URL for employees:               {public}/t/{}/login",
                row.slug
            );
            println!(
                "  turn JIT on with: jit-sso tenant jit {} on --reason \"...\"",
                row.slug
            );
        }
        TenantCommand::Jit {
            slug,
            state,
            reason,
        } => {
            let db = database(settings).await?;
            let enabled = matches!(state, OnOff::On);
            let old = tenants::set_jit(&db, &slug, enabled, &reason, &actor()).await?;
            let word = |b: bool| if b { "on" } else { "off" };
            println!("JIT for {slug}: {} -> {}", word(old), word(enabled));
        }
        TenantCommand::Set {
            slug,
            name,
            issuer,
            client_id,
            client_secret_env,
            app_url,
            email_claim,
            given_name_claim,
            family_name_claim,
            trust_unstated_email,
            trust_username_email,
            allowed_domains,
            sync_names,
            default_role,
            default_locale,
            default_time_zone,
        } => {
            let db = database(settings).await?;
            if issuer.is_some() || client_id.is_some() || client_secret_env.is_some() {
                let client_secret = match &client_secret_env {
                    Some(var) => Some(std::env::var(var).with_context(|| {
                        format!("the environment variable {var} (named by --client-secret-env) is not set")
                    })?),
                    None => None,
                };
                let keys = Keys::from_settings(settings)?;
                let change = crate::service::admin::ProviderChange {
                    issuer,
                    client_id,
                    client_secret,
                };
                crate::service::admin::change_provider(
                    &db,
                    &keys.secrets,
                    None,
                    &slug,
                    change,
                    &actor(),
                )
                .await?;
            }
            let changes = TenantChanges {
                display_name: name,
                app_url: app_url.map(|u| (!u.is_empty()).then_some(u)),
                email_claim,
                given_name_claim,
                family_name_claim,
                trust_unstated_email,
                trust_username_email,
                allowed_email_domains: allowed_domains,
                sync_names,
                default_role,
                default_locale,
                default_time_zone,
                ..TenantChanges::default()
            };
            let t = tenants::update_settings(&db, &slug, changes, &actor()).await?;
            println!("tenant {} updated:", t.slug);
            println!(
                "  email claim {} (trust unstated email_verified: {}, trust username claims: {})",
                t.email_claim, t.trust_unstated_email, t.trust_username_email
            );
            println!(
                "  name claims {} / {} (sync on sign-in: {})",
                t.given_name_claim, t.family_name_claim, t.sync_names
            );
            let domains = if t.allowed_email_domains.is_empty() {
                "any"
            } else {
                &t.allowed_email_domains
            };
            println!("  allowed email domains: {domains}");
            println!(
                "  defaults: role {}, locale {}, time zone {}",
                t.default_role, t.default_locale, t.default_time_zone
            );
        }
        TenantCommand::List { json } => {
            let db = existing_database(settings).await?;
            let rows = tenants::list(&db).await?;
            if json {
                let out: Vec<_> = rows
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "slug": t.slug, "name": t.display_name, "jit_enabled": t.jit_enabled,
                            "issuer": t.issuer, "client_id": t.client_id, "app_url": t.app_url,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if rows.is_empty() {
                println!("no tenants yet; add one with `jit-sso tenant add`");
            } else {
                for t in rows {
                    let jit = if t.jit_enabled { "JIT on " } else { "JIT off" };
                    println!("{:<20} {jit}  {:<30} {}", t.slug, t.display_name, t.issuer);
                }
            }
        }
    }
    Ok(())
}

fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

pub async fn users(settings: &Settings, slug: &str, json: bool) -> anyhow::Result<()> {
    let db = existing_database(settings).await?;
    let (tenant, rows) = tenants::roster(&db, slug).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "{} has no profiles yet (JIT is {}).",
            tenant.slug,
            if tenant.jit_enabled { "on" } else { "off" }
        );
    }
    for p in rows {
        println!(
            "{}  {:<32} {:<30} {:<8} {:<11} via {:<8} last sign-in {}",
            p.id,
            p.email,
            format!("{} {}", p.first_name, p.last_name).trim(),
            p.role,
            p.status,
            p.created_via,
            when(p.last_sign_in_at)
        );
    }
    Ok(())
}

pub async fn audit(settings: &Settings, slug: &str, limit: i64, json: bool) -> anyhow::Result<()> {
    if !(1..=10_000).contains(&limit) {
        bail!("--limit must be between 1 and 10000");
    }
    let db = existing_database(settings).await?;
    let rows = tenants::audit_trail(&db, slug, limit).await?;
    if json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                v["details"] = serde_json::from_str(&e.details).unwrap_or_default();
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for e in rows {
        println!(
            "{}  {:<18} actor={:<14} profile={} {}",
            when(Some(e.occurred_at)),
            e.kind,
            e.actor,
            e.profile_id.as_deref().unwrap_or("-"),
            e.details
        );
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a staff token for the admin API; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        read_only: bool,
    },
    /// Revoke every active token with this id or name.
    Revoke { who: String },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn token(settings: &Settings, cmd: TokenCommand) -> anyhow::Result<()> {
    let db = database(settings).await?;
    match cmd {
        TokenCommand::Create { name, read_only } => {
            let token = crate::service::staff::create(&db, &name, read_only).await?;
            eprintln!(
                "token for {name}{} (shown once; store it safely):",
                if read_only { " (read-only)" } else { "" }
            );
            println!("{token}");
        }
        TokenCommand::Revoke { who } => {
            let n = crate::service::staff::revoke(&db, &who).await?;
            if n == 0 {
                bail!("no active token has the id or name {who:?}");
            }
            println!("revoked {n} token(s)");
        }
        TokenCommand::List { json } => {
            let rows = crate::service::staff::list(&db).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for t in rows {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    };
                    println!(
                        "{}  {:<24} {:<10} created {} last used {}",
                        t.id,
                        t.name,
                        state,
                        when(Some(t.created_at)),
                        when(t.last_used_at)
                    );
                }
            }
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Show one profile with its identity links.
    Show { id: String },
    /// Deactivate a profile (JIT will not revive it).
    Deactivate {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Reactivate a profile.
    Reactivate {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

pub async fn profiles(settings: &Settings, slug: &str, cmd: ProfileCommand) -> anyhow::Result<()> {
    use crate::service::admin;
    let db = database(settings).await?;
    let (profile, active, reason) = match cmd {
        ProfileCommand::Show { id } => {
            let (p, links) = admin::profile_with_links(&db, slug, &id).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "profile": p, "identities": links })
                )?
            );
            return Ok(());
        }
        ProfileCommand::Deactivate { id, reason } => (id, false, reason),
        ProfileCommand::Reactivate { id, reason } => (id, true, reason),
    };
    let p = admin::set_profile_active(&db, slug, &profile, active, &reason, &actor()).await?;
    println!("profile {} ({}) is now {}", p.id, p.email, p.status);
    Ok(())
}

/// The integration check from the command line.
pub async fn check(settings: &Settings, slug: &str, json: bool) -> anyhow::Result<()> {
    use crate::service::admin;
    let db = existing_database(settings).await?;
    let (t, last) = admin::last_sign_in(&db, slug).await?;
    let cache = crate::oidc::ProviderCache::new(
        Duration::from_secs(settings.oidc.http_timeout_secs),
        Duration::from_secs(settings.oidc.discovery_ttl_secs),
        Duration::from_secs(settings.oidc.clock_skew_secs),
    );
    let scopes: Vec<String> = t.scopes.split_whitespace().map(str::to_owned).collect();
    let items = cache
        .inspect(
            &t.issuer,
            &t.slug,
            &scopes,
            &crate::service::claims::wanted_claims(&t),
        )
        .await;
    let public = settings.http.public_url.trim_end_matches('/');
    if json {
        let out = serde_json::json!({ "tenant": t.slug, "items": items, "jit_enabled": t.jit_enabled, "last_successful_sign_in": last,
            "redirect_uri": format!("{public}/t/{}/callback", t.slug), "initiate_login_uri": format!("{public}/t/{}/initiate", t.slug) });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for i in &items {
            println!(
                "{} {:<22} {}",
                if i.ok { "ok  " } else { "FAIL" },
                i.item,
                i.detail
            );
        }
        println!("     redirect URI           {public}/t/{}/callback", t.slug);
        println!("     initiate login URI     {public}/t/{}/initiate", t.slug);
        println!(
            "     JIT                    {}",
            if t.jit_enabled { "on" } else { "off" }
        );
        println!("     last sign-in           {}", when(last));
    }
    if items.iter().any(|i| !i.ok) {
        bail!("the integration of {slug} has problems (see FAIL lines)");
    }
    Ok(())
}
