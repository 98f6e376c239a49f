//! `jit-sso tenant ...`: register tenants, switch JIT, change settings, list.

use super::{actor, database, existing_database};
use crate::db::tenants::TenantChanges;
use crate::service::tenants::{self, TenantInput};
use crate::settings::{Secret, Settings};
use crate::startup::secret_box;
use anyhow::Context;
use clap::{Subcommand, ValueEnum};

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
            let secrets = secret_box(settings)?;
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
            let row = tenants::add_tenant(&db, &secrets, input, &actor()).await?;
            let public = settings.public_url();
            println!("tenant {} added (JIT is off).", row.slug);
            println!(
                "  redirect URI to register at the provider: {public}/t/{}/callback",
                row.slug
            );
            println!(
                "  initiate login URI (the portal tile):    {public}/t/{}/initiate",
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
            if old == enabled {
                println!("JIT for {slug} is already {} (nothing changed)", word(old));
            } else {
                println!("JIT for {slug}: {} -> {}", word(old), word(enabled));
            }
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
            let client_secret = match &client_secret_env {
                Some(var) => Some(std::env::var(var).with_context(|| {
                    format!(
                        "the environment variable {var} (named by --client-secret-env) is not set"
                    )
                })?),
                None => None,
            };
            let provider = crate::service::admin::ProviderChange {
                issuer,
                client_id,
                client_secret,
            };
            let db = database(settings).await?;
            let t = crate::service::admin::update_tenant(
                &db,
                &secret_box(settings)?,
                None,
                &slug,
                provider,
                changes,
                &actor(),
            )
            .await?;
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
