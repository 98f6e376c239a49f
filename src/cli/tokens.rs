//! `jit-sso token ...`: staff tokens for the admin API.

use super::database;
use crate::domain::when;
use crate::settings::Settings;
use anyhow::bail;
use clap::Subcommand;

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
