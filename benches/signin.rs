//! Sign-in benchmark (see benches/README.md):
//!
//! ```sh
//! cargo bench --bench signin -- --scenario returning --db postgres --concurrency 32 --signins 5000
//! cargo bench --bench signin -- --smoke
//! ```
//!
//! Starts the release build of `jit-sso` as a child process on a fresh database, a fast
//! identity provider on loopback, and N virtual browsers doing complete sign-ins; prints a
//! table and writes `target/bench/signin-<scenario>-<db>-c<N>.json`.

#[path = "signin/browser.rs"]
mod browser;
#[path = "signin/options.rs"]
mod options;
#[path = "signin/pgwire.rs"]
mod pgwire;
#[path = "signin/provider.rs"]
mod provider;
#[path = "signin/provider_tokens.rs"]
mod provider_tokens;
#[path = "signin/report.rs"]
mod report;
#[path = "signin/rsa.rs"]
mod rsa;
#[path = "signin/run.rs"]
mod run;
#[path = "signin/service_config.rs"]
mod service_config;
#[path = "signin/statements.rs"]
mod statements;
#[path = "signin/system.rs"]
mod system;

use clap::Parser;
use options::{Args, Db, Scenario, Spec};
use report::print_summary;
use run::{run_one, Context};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The service binary cargo built for this benchmark (release settings under `cargo bench`).
const SERVICE_BIN: &str = env!("CARGO_BIN_EXE_jit-sso");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn main() -> ExitCode {
    let args = Args::parse();
    if args.time_signer {
        rsa::time_signer();
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("loadgen")
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run_all(args))
}

async fn run_all(args: Args) -> ExitCode {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: stopping the service and dropping databases");
            system::emergency_cleanup();
            std::process::exit(130);
        }
    });
    let smoke = args.smoke;
    fn or<T: Clone>(v: &[T], d: T) -> Vec<T> {
        if v.is_empty() {
            vec![d]
        } else {
            v.to_vec()
        }
    }
    let scenarios = or(
        &args.scenario,
        if smoke {
            Scenario::Mixed
        } else {
            Scenario::Returning
        },
    );
    let dbs = or(&args.db, Db::Sqlite);
    let levels = or(&args.concurrency, if smoke { 8 } else { 32 });
    let signins = args
        .signins
        .unwrap_or(if smoke { 300 } else { 2000 })
        .max(1);
    let users = args
        .users
        .unwrap_or(if smoke { 100 } else { 1000 })
        .clamp(1, signins.max(1));
    let target = Path::new(SERVICE_BIN)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target"));
    let out_dir = args.out_dir.clone().unwrap_or_else(|| target.join("bench"));
    if let Err(e) = std::fs::create_dir_all(out_dir.join("logs")) {
        eprintln!("cannot create {}: {e}", out_dir.display());
        return ExitCode::FAILURE;
    }
    if cfg!(debug_assertions) {
        println!("NOTE: this is a debug build (cargo test --bench): fine for a smoke test, but the figures mean nothing; use `cargo bench`.");
    }
    let bin = args
        .service_bin
        .clone()
        .unwrap_or_else(|| PathBuf::from(SERVICE_BIN));
    println!("service binary: {}", bin.display());
    let mut ctx = Context {
        bin,
        git: git_state(),
        ticks: system::clock_ticks(),
        reference: rsa::RsaSigner::new(provider::RSA_PEM).expect("the reference workload"),
        args,
        out_dir,
        run_no: 0,
    };
    let mut rows = Vec::new();
    let mut failed = false;
    let runs = dbs.len() * scenarios.len() * levels.len();
    for &db in &dbs {
        for &scenario in &scenarios {
            for &concurrency in &levels {
                let spec = Spec {
                    scenario,
                    db,
                    concurrency: concurrency.max(1),
                    signins,
                    users,
                    alg: ctx.args.alg,
                };
                ctx.run_no += 1;
                match run_one(&mut ctx, spec).await {
                    Ok(row) => {
                        failed |= row.errors > 0;
                        rows.push(row);
                    }
                    Err(e) => {
                        eprintln!("\nrun {scenario:?}/{db:?}/c{concurrency} failed: {e}");
                        failed = true;
                    }
                }
            }
        }
    }
    if rows.len() > 1 {
        print_summary(&rows);
    }
    // A run passes when it completed and every sign-in succeeded.
    let passed = rows.iter().filter(|r| r.errors == 0).count();
    println!("\nsignin: {passed} passed, {} failed", runs - passed);
    if failed {
        eprintln!("FAILED: a run did not complete or had errors (sign-ins must all succeed)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The commit of the working tree (the service binary is built from it unless
/// `--service-bin` names another), and whether files were changed since.
fn git_state() -> Value {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(MANIFEST_DIR)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    json!({
        "commit": git(&["rev-parse", "--short=12", "HEAD"]),
        "dirty": git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
    })
}
