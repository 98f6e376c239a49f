//! `jit-sso`: parses the command line, loads settings, starts logging and dispatches.

use clap::{Parser, Subcommand};
use jit_sso::cli::{self, OnOff, ProfileCommand, TenantCommand, TokenCommand};
use jit_sso::settings::Settings;
use jit_sso::startup::Application;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "jit-sso",
    version,
    about = "OpenID Connect sign-in with just-in-time provisioning"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the settings and secrets as `serve` would, print a summary (no secrets), exit.
    CheckConfig,
    /// Serve with the built-in development identity provider and a demo tenant.
    Demo,
    /// Register and manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Switch just-in-time provisioning (same as `tenant jit`).
    Jit {
        slug: String,
        state: OnOff,
        #[arg(long)]
        reason: String,
    },
    /// Show, deactivate or reactivate a profile of a tenant.
    Profiles {
        slug: String,
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Check a tenant's provider integration, item by item.
    Check {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Staff tokens for the admin API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a tenant's roster, one line per profile.
    Users {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a tenant's audit trail, newest first.
    Audit {
        slug: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

fn init_logging(format: &str) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == "json" {
        use std::io::Write;
        builder.format(|buf, record| {
            let line = serde_json::json!({
                "ts": buf.timestamp_millis().to_string(),
                "level": record.level().as_str(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    builder.init();
}

#[actix_web::main]
async fn main() -> ExitCode {
    jit_sso::oidc::install_crypto();
    let cli = Cli::parse();
    let mut settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("jit-sso: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings.log.format);
    let command = cli.command.unwrap_or(Command::Serve);
    let result = match command {
        Command::Serve => serve(settings).await,
        Command::Demo if settings.is_production() => Err(anyhow::anyhow!(
            "demo mode cannot run in production: its provider signs in anyone as anyone"
        )),
        Command::Demo => {
            settings.demo.enabled = true;
            serve(settings).await
        }
        Command::Migrate => cli::migrate(&settings).await,
        Command::CheckConfig => cli::check_config(&settings),
        Command::Tenant(cmd) => cli::tenant(&settings, cmd).await,
        Command::Users { slug, json } => cli::users(&settings, &slug, json).await,
        Command::Jit {
            slug,
            state,
            reason,
        } => {
            cli::tenant(
                &settings,
                TenantCommand::Jit {
                    slug,
                    state,
                    reason,
                },
            )
            .await
        }
        Command::Profiles { slug, command } => cli::profiles(&settings, &slug, command).await,
        Command::Check { slug, json } => cli::check(&settings, &slug, json).await,
        Command::Token(cmd) => cli::token(&settings, cmd).await,
        Command::Audit { slug, limit, json } => cli::audit(&settings, &slug, limit, json).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jit-sso: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let demo = settings.demo.enabled;
    let app = Application::build(settings).await?;
    let url = app.public_url().to_owned();
    log::info!("listening on port {}; public URL {url}", app.port());
    if demo {
        println!("\n  jit-sso demo is running. Open {url}/ and sign in (or go straight to {url}/t/demo/login).\n");
    }
    app.run_until_stopped().await?;
    log::info!("stopped");
    Ok(())
}
