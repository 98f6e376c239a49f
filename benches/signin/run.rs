//! One run: a fresh database, service and provider, the warm-up and the measured phase.

use crate::browser::{self, new_browser, run_phase};
use crate::options::{Args, Db, Scenario, Spec};
use crate::report::{self, Row};
use crate::service_config;
use crate::statements::count_statements;
use crate::system::{self, PgDatabase, Service};
use crate::{provider, rsa};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct Context {
    pub args: Args,
    pub bin: PathBuf,
    pub git: Value,
    pub out_dir: PathBuf,
    pub ticks: f64,
    pub reference: rsa::RsaSigner,
    pub run_no: usize,
}

fn pool_user(i: usize) -> String {
    format!("user{i}@bench.example")
}

/// Milliseconds per run of a fixed CPU-bound workload (the provider's RS256 signature),
/// best of a few: how fast this machine is right now.
fn calibrate(reference: &rsa::RsaSigner) -> f64 {
    let rounds = if cfg!(debug_assertions) { 1 } else { 10 };
    let mut best = f64::MAX;
    for i in 0..5u8 {
        let t = std::time::Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(reference.sign(&[i; 64]));
        }
        best = best.min(t.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
    }
    best
}

pub async fn run_one(ctx: &mut Context, spec: Spec) -> Result<Row, String> {
    let label = format!(
        "{}-{}-c{}",
        spec.scenario.name(),
        spec.db.name(),
        spec.concurrency
    );
    println!(
        "\n== {label}: {} sign-ins, {} browsers, {} users, {} ==",
        spec.signins,
        spec.concurrency,
        spec.users,
        spec.alg.name()
    );
    // Database.
    let tmp = tempfile::TempDir::new().map_err(|e| e.to_string())?;
    let pg = match spec.db {
        Db::Postgres => Some(PgDatabase::create(
            &ctx.args.postgres,
            &format!("jit_sso_bench_{}_{}", std::process::id(), ctx.run_no),
        )?),
        Db::Sqlite => None,
    };
    let db_url = match &pg {
        Some(pg) => pg.url(),
        None => format!("sqlite://{}", tmp.path().join("bench.db").display()),
    };
    // Provider and service settings.
    let port = system::free_port();
    let service = format!("http://127.0.0.1:{port}");
    let client_secret = system::random_secret(40);
    let idp = provider::Provider::start(
        spec.alg.jwt(),
        &format!("{service}/t/{}/callback", browser::TENANT),
        &client_secret,
        ctx.args.idp_workers,
    );
    let env =
        service_config::service_env(&ctx.args, &ctx.bin, tmp.path(), port, &service, &db_url)?;
    // Tenant (this also migrates the database), JIT on.
    env.run(
        &[
            "tenant",
            "add",
            browser::TENANT,
            "--name",
            "Bench",
            "--issuer",
            idp.issuer(),
            "--client-id",
            provider::CLIENT_ID,
            "--client-secret-env",
            "BENCH_SECRET",
        ],
        &[("BENCH_SECRET", &client_secret)],
    )?;
    env.run(
        &[
            "tenant",
            "jit",
            browser::TENANT,
            "on",
            "--reason",
            "benchmark",
        ],
        &[],
    )?;

    // Start on the migrated database.
    let log = ctx
        .out_dir
        .join("logs")
        .join(format!("service-{label}.log"));
    let mut svc = Service::spawn(&env, &log)?;
    let ready = svc.wait_ready(&service, Duration::from_secs(60)).await?;
    let pid = svc.pid;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_start_kib = system::status_kib(pid, "VmRSS");
    println!(
        "  service pid {pid} ready after {:.1} ms",
        ready.as_secs_f64() * 1000.0
    );

    // Warm-up: creates the returning users' profiles (one sign-in each); for `new`, a few
    // throw-away sign-ins so that discovery, keys and pooled connections are in place.
    let browsers: Vec<reqwest::Client> = (0..spec.concurrency).map(|_| new_browser()).collect();
    let warm_new = (2 * spec.concurrency).clamp(50, 200);
    let (warm_count, warm_hint): (usize, Arc<dyn Fn(usize) -> String + Send + Sync>) =
        match spec.scenario {
            Scenario::Returning | Scenario::Mixed => (spec.users, Arc::new(pool_user)),
            Scenario::New => (warm_new, Arc::new(|k| format!("warm{k}@bench.example"))),
        };
    let existing = warm_hint.clone();
    let existing_count = warm_count;
    let warm = run_phase(&browsers, &service, warm_count, warm_hint).await;
    println!(
        "  warm-up: {} sign-ins in {:.1} s, {} errors",
        warm.ok + warm.errors,
        warm.wall.as_secs_f64(),
        warm.errors
    );
    for f in &warm.samples {
        println!("    warm-up error: {f}");
    }

    // Measured phase.
    let users = spec.users;
    let hint: Arc<dyn Fn(usize) -> String + Send + Sync> = match spec.scenario {
        Scenario::Returning => Arc::new(move |k| pool_user(k % users)),
        Scenario::New => Arc::new(|k| format!("new{k}@bench.example")),
        Scenario::Mixed => Arc::new(move |k| {
            if k % 10 == 9 {
                format!("new{k}@bench.example")
            } else {
                pool_user(k.wrapping_mul(7919) % users)
            }
        }),
    };
    let speed_before = calibrate(&ctx.reference);
    let peak_reset = system::reset_peak_rss(pid);
    let pg_before: HashMap<i32, u64> = pg
        .as_ref()
        .map(|db| db.backend_pids())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| Some((p, system::cpu_ticks(&p.to_string())?)))
        .collect();
    let loadavg_before = system::loadavg();
    let svc0 = system::cpu_ticks(&pid.to_string());
    let me0 = system::cpu_ticks("self");
    let idp0 = system::own_thread_ticks("actix-server");
    let m0 = system::machine_ticks();
    let perf = ctx
        .args
        .perf
        .then(|| start_perf(pid, &ctx.out_dir, &label))
        .flatten();
    let measured_hint = hint.clone();
    let phase = run_phase(&browsers, &service, spec.signins, hint).await;
    if let Some(p) = perf {
        stop_perf(p);
    }
    let svc1 = system::cpu_ticks(&pid.to_string());
    let me1 = system::cpu_ticks("self");
    let idp1 = system::own_thread_ticks("actix-server");
    let m1 = system::machine_ticks();
    let pg_cpu_ticks = pg.as_ref().map(|db| {
        db.backend_pids()
            .into_iter()
            .filter_map(|p| {
                let now = system::cpu_ticks(&p.to_string())?;
                Some(now.saturating_sub(pg_before.get(&p).copied().unwrap_or(0)))
            })
            .sum::<u64>()
    });
    let peak_kib = system::status_kib(pid, "VmHWM");
    let end_kib = system::status_kib(pid, "VmRSS");

    // Each browser's last session must be the person it signed in as.
    let mut session_errors = Vec::new();
    for (i, who) in &phase.last {
        if let Err(f) = browser::check_session(&browsers[*i], &service, who).await {
            session_errors.push(f.to_string());
        }
    }
    drop(browsers);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_after_kib = system::status_kib(pid, "VmRSS");
    let speed_after = calibrate(&ctx.reference);
    let alive = svc.running();
    let stopped = svc.stop();
    // The roster: one profile per person signed in, none twice (before the counting pass,
    // which signs in more people).
    let roster = check_roster(
        &env,
        (0..warm_count)
            .map(|k| existing(k))
            .chain((0..spec.signins).map(|k| measured_hint(k))),
    );

    // PostgreSQL: statements per sign-in, on the wire, in a separate unmeasured pass.
    let statements = match (&pg, ctx.args.no_statement_count) {
        (Some(db), false) => {
            let log = ctx
                .out_dir
                .join("logs")
                .join(format!("service-{label}-count.log"));
            Some(
                count_statements(
                    &env,
                    db,
                    &service,
                    &log,
                    spec,
                    existing.as_ref(),
                    existing_count,
                )
                .await,
            )
        }
        _ => None,
    };
    let provider_requests = {
        use std::sync::atomic::Ordering::Relaxed;
        let c = idp.counters();
        json!({
            "authorize": c.authorize.load(Relaxed), "token": c.token.load(Relaxed),
            "discovery": c.discovery.load(Relaxed), "jwks": c.jwks.load(Relaxed),
            "refused": c.refused.load(Relaxed),
        })
    };
    let provider_refused = provider_requests["refused"].as_u64().unwrap_or(0);
    let open_codes = idp.open_codes();
    idp.stop().await;
    let row = report::finish(
        ctx,
        spec,
        report::Measured {
            label,
            log,
            env,
            warm,
            warm_count,
            phase,
            session_errors,
            alive,
            stopped,
            statements,
            provider_requests,
            provider_refused,
            open_codes,
            svc0,
            svc1,
            me0,
            me1,
            idp0,
            idp1,
            m0,
            m1,
            pg_cpu_ticks,
            roster,
            idle_start_kib,
            peak_kib,
            end_kib,
            idle_after_kib,
            peak_reset,
            ready,
            loadavg_before,
            speed_before,
            speed_after,
        },
    );
    drop(pg);
    row
}

fn start_perf(pid: u32, dir: &Path, label: &str) -> Option<std::process::Child> {
    let out = dir.join(format!("perf-{label}.data"));
    let child = std::process::Command::new("perf")
        .args([
            "record",
            "-F",
            "499",
            "--call-graph",
            "dwarf,16384",
            "-p",
            &pid.to_string(),
            "-o",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(c) => {
            println!("  perf recording to {}", out.display());
            Some(c)
        }
        Err(e) => {
            println!("  perf not available: {e}");
            None
        }
    }
}

fn stop_perf(mut child: std::process::Child) {
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// What the roster holds after a run, against the people who signed in: `duplicates`
/// (an email on more than one profile), `missing` (signed in, no profile) and `unexpected`
/// (a profile for nobody who signed in) must all be 0.
pub struct Roster {
    pub json: Value,
    pub errors: usize,
}

fn check_roster(env: &system::ServiceEnv, signed_in: impl Iterator<Item = String>) -> Roster {
    let expected: std::collections::HashSet<String> =
        signed_in.map(|e| e.to_ascii_lowercase()).collect();
    let listed = env
        .output(&["users", browser::TENANT, "--json"], &[])
        .and_then(|out| serde_json::from_str::<Vec<Value>>(&out).map_err(|e| e.to_string()));
    let rows = match listed {
        Ok(rows) => rows,
        Err(e) => {
            return Roster {
                json: json!({ "error": e }),
                errors: 1,
            }
        }
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        let email = row["email"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        *seen.entry(email).or_default() += 1;
    }
    let duplicates = seen.values().filter(|n| **n > 1).count();
    let missing = expected.iter().filter(|e| !seen.contains_key(*e)).count();
    let unexpected = seen.keys().filter(|e| !expected.contains(*e)).count();
    Roster {
        json: json!({
            "profiles": rows.len(), "people_signed_in": expected.len(),
            "duplicates": duplicates, "missing": missing, "unexpected": unexpected,
        }),
        errors: duplicates + missing + unexpected,
    }
}
