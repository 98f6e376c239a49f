//! The roster, profiles, the audit trail and the integration check.

use super::{actor, database, existing_database};
use crate::domain::when;
use crate::service::tenants;
use crate::settings::Settings;
use anyhow::bail;
use clap::Subcommand;
use std::time::Duration;

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
    /// Remove a profile's identity links (the provider now sends new subjects, as after an
    /// Entra app is registered again); its next sign-in links by verified email.
    Unlink {
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
        ProfileCommand::Unlink { id, reason } => {
            let removed = admin::unlink_identities(&db, slug, &id, &reason, &actor()).await?;
            println!("removed {} identity link(s) of profile {id}", removed.len());
            for l in removed {
                println!("  {} {}", l.issuer, l.subject);
            }
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
    let public = settings.public_url();
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
