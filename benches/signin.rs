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
#[path = "signin/pgwire.rs"]
mod pgwire;
#[path = "signin/provider.rs"]
mod provider;
#[path = "signin/rsa.rs"]
mod rsa;
#[path = "signin/system.rs"]
mod system;

use browser::{new_browser, run_phase, PhaseResult};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use system::{PgDatabase, Service, ServiceEnv};

/// The service binary cargo built for this benchmark (release settings under `cargo bench`).
const SERVICE_BIN: &str = env!("CARGO_BIN_EXE_jit-sso");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Every profile exists (created in an unmeasured warm-up).
    Returning,
    /// Every sign-in creates a profile.
    New,
    /// 90% returning, 10% new.
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Db {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Alg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
}

#[derive(Parser, Debug)]
#[command(
    name = "signin",
    about = "jit-sso sign-in benchmark: throughput, latency, CPU, memory, start time, SQL per sign-in",
    after_help = "Lists (--scenario, --db, --concurrency) take commas or repeated flags; every \
                  combination runs on its own fresh database and service process."
)]
struct Args {
    /// returning | new | mixed [default: returning]
    #[arg(long, value_enum, value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// sqlite | postgres [default: sqlite]
    #[arg(long, value_enum, value_delimiter = ',')]
    db: Vec<Db>,
    /// Virtual browsers, e.g. 1,8,32,128 [default: 32]
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Measured sign-ins per run [default: 2000]
    #[arg(long)]
    signins: Option<usize>,
    /// Distinct returning users (profiles created in the warm-up) [default: min(1000, signins)]
    #[arg(long)]
    users: Option<usize>,
    /// ID token signature algorithm of the provider.
    #[arg(long, value_enum, ignore_case = true, default_value = "RS256")]
    alg: Alg,
    /// CI smoke: 300 sign-ins, concurrency 8, SQLite, mixed (unless given); fails on any error.
    #[arg(long)]
    smoke: bool,
    /// PostgreSQL server to create the throw-away databases on.
    #[arg(
        long,
        env = "JIT_SSO_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    postgres: String,
    /// Server threads of the benchmark identity provider.
    #[arg(long, default_value_t = 2)]
    idp_workers: usize,
    /// Extra service setting, e.g. JIT_SSO__DATABASE__POOL_SIZE=16 (repeatable).
    #[arg(long = "service-env", value_name = "KEY=VALUE")]
    service_env: Vec<String>,
    /// Skip the PostgreSQL statement-counting pass.
    #[arg(long)]
    no_statement_count: bool,
    /// Record the service with `perf record` during the measured phase.
    #[arg(long)]
    perf: bool,
    /// The service binary to measure [default: the one cargo built with this benchmark];
    /// e.g. a saved copy of another version, to compare.
    #[arg(long, env = "JIT_SSO_BENCH_BIN")]
    service_bin: Option<PathBuf>,
    /// The config folder of the service's source (production.toml, default.toml)
    /// [default: config/]; with --service-bin from another commit, that commit's.
    #[arg(long)]
    config_dir: Option<PathBuf>,
    /// Where JSON files go [default: target/bench].
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Times the provider's ID token signature and exits.
    #[arg(long, hide = true)]
    time_signer: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, Debug)]
struct Spec {
    scenario: Scenario,
    db: Db,
    concurrency: usize,
    signins: usize,
    users: usize,
    alg: Alg,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Returning => "returning",
            Scenario::New => "new",
            Scenario::Mixed => "mixed",
        }
    }
    /// Share of sign-ins by people who already have a profile.
    fn returning_share(self) -> f64 {
        match self {
            Scenario::Returning => 1.0,
            Scenario::New => 0.0,
            Scenario::Mixed => 0.9,
        }
    }
}

impl Db {
    fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    }
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
    fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

fn pool_user(i: usize) -> String {
    format!("user{i}@bench.example")
}

/// Everything measured in one run, for the summary table.
struct Row {
    spec: Spec,
    rate: f64,
    callback_p50: f64,
    callback_p99: f64,
    total_p50: f64,
    total_p95: f64,
    total_p99: f64,
    cpu_per_1000: Option<f64>,
    peak_mib: Option<f64>,
    idle_mib: Option<f64>,
    ready_ms: f64,
    statements: Option<f64>,
    errors: usize,
    reference_ms: f64,
}

struct Context {
    args: Args,
    bin: PathBuf,
    git: Value,
    out_dir: PathBuf,
    ticks: f64,
    reference: rsa::RsaSigner,
    run_no: usize,
}

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

/// The environment the service runs in: `config/production.toml` under another name.
const BENCH_ENV: &str = "bench";

/// A config folder for the service holding only `bench.toml`, a copy of the source's
/// `production.toml`: the service runs with the production settings file, but not as
/// `production`, which insists on an https public URL (the benchmark speaks plain HTTP on
/// loopback, like a service behind a TLS-terminating proxy). `default.toml` is left out, so
/// the binary uses the copy built into it (which matches it, also with `--service-bin`).
fn bench_config(dir: &Path, source: &Path) -> Result<PathBuf, String> {
    let dst = dir.join("config");
    std::fs::create_dir_all(&dst).map_err(|e| e.to_string())?;
    let from = source.join("production.toml");
    std::fs::copy(&from, dst.join(format!("{BENCH_ENV}.toml")))
        .map_err(|e| format!("{}: {e}", from.display()))?;
    Ok(dst)
}

/// Settings that keep the service on loopback and quick to stop, for the keys this version
/// of the service has (an unknown key would stop its start).
fn loopback_overrides(source: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(source.join("default.toml")).unwrap_or_default();
    let defaults: toml::Table = text.parse().unwrap_or_default();
    let has = |section: &str, key: &str| {
        defaults
            .get(section)
            .and_then(|s| s.as_table())
            .is_some_and(|t| t.contains_key(key))
    };
    let mut vars = Vec::new();
    if has("metrics", "port") {
        // Metrics on the main port (0), never on a fixed port another process may hold.
        vars.push(("JIT_SSO__METRICS__PORT".to_owned(), "0".to_owned()));
    }
    if has("metrics", "host") {
        vars.push(("JIT_SSO__METRICS__HOST".to_owned(), "127.0.0.1".to_owned()));
    }
    if has("http", "drain_secs") {
        // Nothing routes traffic here: no need to keep serving after SIGTERM.
        vars.push(("JIT_SSO__HTTP__DRAIN_SECS".to_owned(), "0".to_owned()));
    }
    vars
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

/// Percentile (nearest rank) of sorted microseconds, in milliseconds.
fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn latency(mut v: Vec<u64>) -> Value {
    v.sort_unstable();
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0
    };
    json!({
        "p50": round(pct(&v, 0.50), 3), "p95": round(pct(&v, 0.95), 3),
        "p99": round(pct(&v, 0.99), 3), "max": round(pct(&v, 1.0), 3),
        "mean": round(mean, 3), "samples": v.len(),
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| round(k as f64 / 1024.0, 1))
}

fn failures(phase: &PhaseResult) -> Vec<String> {
    phase.samples.iter().map(ToString::to_string).collect()
}

async fn run_one(ctx: &mut Context, spec: Spec) -> Result<Row, String> {
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
    let source = ctx
        .args
        .config_dir
        .clone()
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("config"));
    let config_dir = bench_config(tmp.path(), &source)?;
    let mut vars: Vec<(String, String)> = [
        ("JIT_SSO_ENV", BENCH_ENV.to_owned()),
        ("JIT_SSO_CONFIG_DIR", config_dir.display().to_string()),
        ("JIT_SSO__HTTP__HOST", "127.0.0.1".to_owned()),
        ("JIT_SSO__HTTP__PORT", port.to_string()),
        ("JIT_SSO__HTTP__PUBLIC_URL", service.clone()),
        ("JIT_SSO__DATABASE__URL", db_url.clone()),
        ("JIT_SSO__SECRETS__SESSION_KEY", system::random_secret(48)),
        ("JIT_SSO__SECRETS__DATA_KEY", system::random_secret(48)),
        ("JIT_SSO__LOG__FORMAT", "text".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(loopback_overrides(&source));
    for kv in &ctx.args.service_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--service-env {kv}: expected KEY=VALUE"))?;
        vars.retain(|(key, _)| key != k);
        vars.push((k.to_owned(), v.to_owned()));
    }
    let env = ServiceEnv {
        bin: ctx.bin.clone(),
        vars,
    };
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

    // Figures.
    let n = phase.ok.max(1) as f64;
    let secs = |t: Option<u64>| t.map(|t| t as f64 / ctx.ticks);
    let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
    let svc_cpu = secs(delta(svc0, svc1));
    let me_cpu = secs(delta(me0, me1));
    let idp_cpu = (idp1.saturating_sub(idp0)) as f64 / ctx.ticks;
    let pg_cpu = secs(pg_cpu_ticks);
    let wall = phase.wall.as_secs_f64();
    let per_1000 = |cpu: Option<f64>| cpu.map(|c| round(c / n * 1000.0, 3));
    let machine_busy = (m1.0 - m0.0) as f64 / ctx.ticks;
    let machine_total = (m1.1 - m0.1) as f64 / ctx.ticks;
    let others =
        machine_busy - svc_cpu.unwrap_or(0.0) - me_cpu.unwrap_or(0.0) - pg_cpu.unwrap_or(0.0);
    let rate = phase.ok as f64 / wall;
    let (stmt_value, stmt_json) = match &statements {
        Some(Ok((v, j))) => (Some(*v), j.clone()),
        Some(Err(e)) => (None, json!({ "value": null, "error": e })),
        None => (
            None,
            json!({ "value": null, "why": match spec.db {
                Db::Sqlite => "n/a: SQLite is in-process; there is no wire to count on",
                Db::Postgres => "skipped (--no-statement-count)",
            }}),
        ),
    };
    let count_errors = match &statements {
        Some(Err(_)) => 1,
        _ => 0,
    };
    let mut errors = phase.errors + warm.errors + session_errors.len() + count_errors;
    if !alive {
        errors += 1;
    }
    let callback = latency(phase.callback_us.clone());
    let total = latency(phase.total_us.clone());
    let report = json!({
        "benchmark": "jit-sso sign-in",
        "scenario": spec.scenario.name(),
        "db": spec.db.name(),
        "concurrency": spec.concurrency,
        "signins": spec.signins,
        "returning_users": if spec.scenario == Scenario::New { 0 } else { spec.users },
        "warmup_signins": warm_count,
        "alg": spec.alg.name(),
        "build": if cfg!(debug_assertions) { "debug (figures not representative)" } else { "release" },
        "service_binary": ctx.bin.display().to_string(),
        "source": ctx.git.clone(),
        "service_settings": env.vars.iter()
            .filter(|(k, _)| !k.contains("SECRETS"))
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect::<serde_json::Map<_, _>>(),
        "unix_time": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "signins_per_sec": round(rate, 1),
        "wall_secs": round(wall, 3),
        "latency_ms": { "callback": callback, "signin": total },
        "service_cpu_secs_per_1000_signins": per_1000(svc_cpu),
        "service_cpu_cores_busy": svc_cpu.map(|c| round(c / wall, 2)),
        "rss_mib": {
            "idle_after_start": mib(idle_start_kib),
            "peak_under_load": mib(peak_kib),
            "at_end_of_load": mib(end_kib),
            "idle_after_load": mib(idle_after_kib),
            "peak_reset_before_measuring": peak_reset,
        },
        "ready_ms_after_start": round(ready.as_secs_f64() * 1000.0, 1),
        "shutdown_ms_after_sigterm": stopped.as_ref().map(|(d, _)| round(d.as_secs_f64() * 1000.0, 1)),
        "shutdown_exit_status": stopped.as_ref().map(|(_, s)| s.to_string()),
        "db_statements_per_signin": stmt_json,
        "errors": errors,
        "error_detail": {
            "measured": phase.errors, "warmup": warm.errors, "session_check": session_errors.len(),
            "statement_count_pass": count_errors, "service_died": !alive,
            "provider_refused_requests": provider_refused, "unredeemed_codes": open_codes,
            "samples": failures(&phase).into_iter().chain(failures(&warm)).chain(session_errors.iter().cloned()).collect::<Vec<_>>(),
        },
        "context": {
            "note": "CPU of everything else on this machine during the measured phase, to judge the figures: the benchmark process (load generator and provider) shares the cores with the service.",
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "loadavg_before": loadavg_before,
            "reference_ms_before_and_after": [round(speed_before, 3), round(speed_after, 3)],
            "reference_note": "milliseconds of one fixed single-threaded workload (an RS256 signature) just before and after the measured phase: the machine's speed at the time; on a shared or virtual machine it varies, and the figures with it",
            "machine_busy_pct": round(100.0 * machine_busy / machine_total.max(1e-9), 1),
            "benchmark_process_cpu_secs_per_1000": per_1000(me_cpu),
            "provider_threads_cpu_secs_per_1000": per_1000(Some(idp_cpu)),
            "postgres_backends_cpu_secs_per_1000": per_1000(pg_cpu),
            "other_processes_cpu_secs": round(others.max(0.0), 2),
            "provider_requests": provider_requests,
        },
        "method": {
            "signins_per_sec": "successful measured sign-ins / wall time of the measured phase (after the warm-up)",
            "latency": "callback: GET /t/bench/callback until its 303 response is read; signin: GET /login through the callback's response (3 requests, 2 redirects followed); nearest-rank percentiles",
            "cpu": "utime+stime of the service process alone (/proc/<pid>/stat, all threads, clock ticks) over the measured phase, per 1000 successful sign-ins",
            "rss": "VmHWM (peak; reset through /proc/<pid>/clear_refs just before the measured phase) and VmRSS of /proc/<pid>/status",
            "ready": "from spawning `jit-sso serve` to the first 200 of GET /readyz (polled every 2 ms) on a database migrated beforehand by `jit-sso tenant add`",
            "statements": "PostgreSQL only: a second, unmeasured start of the service connects through a loopback proxy that parses the wire protocol and counts each Execute and each statement of a simple Query (BEGIN, COMMIT, SAVEPOINT and the pool's SELECT 1 included); 20 returning and 20 new sign-ins after 3 warm-up ones; the scenario figure weighs them by its mix",
        },
    });
    let path = ctx.out_dir.join(format!("signin-{label}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap() + "\n")
        .map_err(|e| format!("{}: {e}", path.display()))?;

    // Human table.
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let opt = |x: Option<f64>, unit: &str| x.map_or("n/a".to_owned(), |x| format!("{x}{unit}"));
    println!("  {:<34}{:.1}", "sign-ins per second", rate);
    println!(
        "  {:<34}p50 {:.2}  p95 {:.2}  p99 {:.2}  (max {:.2})",
        "callback latency ms",
        f(&callback, "p50"),
        f(&callback, "p95"),
        f(&callback, "p99"),
        f(&callback, "max")
    );
    println!(
        "  {:<34}p50 {:.2}  p95 {:.2}  p99 {:.2}  (max {:.2})",
        "whole sign-in latency ms",
        f(&total, "p50"),
        f(&total, "p95"),
        f(&total, "p99"),
        f(&total, "max")
    );
    println!(
        "  {:<34}{}  ({} cores busy)",
        "service CPU per 1000 sign-ins",
        opt(per_1000(svc_cpu), " s"),
        opt(svc_cpu.map(|c| round(c / wall, 2)), "")
    );
    println!(
        "  {:<34}idle {} after start, peak {} under load, {} idle after",
        "service RSS",
        opt(mib(idle_start_kib), " MiB"),
        opt(mib(peak_kib), " MiB"),
        opt(mib(idle_after_kib), " MiB")
    );
    println!(
        "  {:<34}{:.1} ms",
        "start to /readyz 200",
        ready.as_secs_f64() * 1000.0
    );
    match &statements {
        Some(Ok((v, j))) => println!(
            "  {:<34}{v:.2}  (returning {}, new {}; round trips {:.2})",
            "DB statements per sign-in",
            j["by_kind"]["returning"]["statements_per_signin"],
            j["by_kind"]["new"]["statements_per_signin"],
            j["round_trips_per_signin"].as_f64().unwrap_or(0.0)
        ),
        Some(Err(e)) => println!("  {:<34}failed: {e}", "DB statements per sign-in"),
        None => println!(
            "  {:<34}n/a ({})",
            "DB statements per sign-in",
            stmt_json["why"].as_str().unwrap_or("")
        ),
    }
    println!("  {:<34}{errors}", "errors");
    for s in report["error_detail"]["samples"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!("    {}", s.as_str().unwrap_or(""));
    }
    if errors > 0 {
        println!("    service log: {}", log.display());
    }
    println!(
        "  {:<34}benchmark process {} (provider {}), PostgreSQL backends {}; machine {}% busy, other processes {:.2} s",
        "context: CPU s per 1000 sign-ins",
        opt(per_1000(me_cpu), ""),
        opt(per_1000(Some(idp_cpu)), ""),
        opt(per_1000(pg_cpu), ""),
        report["context"]["machine_busy_pct"],
        others.max(0.0)
    );
    println!(
        "  {:<34}{speed_before:.2} ms before, {speed_after:.2} ms after (lower is faster)",
        "machine speed: reference workload"
    );
    println!("  JSON: {}", path.display());
    drop(pg);
    Ok(Row {
        spec,
        rate,
        callback_p50: f(&callback, "p50"),
        callback_p99: f(&callback, "p99"),
        total_p50: f(&total, "p50"),
        total_p95: f(&total, "p95"),
        total_p99: f(&total, "p99"),
        cpu_per_1000: per_1000(svc_cpu),
        peak_mib: mib(peak_kib),
        idle_mib: mib(idle_start_kib),
        ready_ms: ready.as_secs_f64() * 1000.0,
        statements: stmt_value,
        errors,
        reference_ms: speed_before.max(speed_after),
    })
}

/// Statements per sign-in on PostgreSQL: the service is started again (same settings, same
/// port) with its database URL pointing at a counting proxy; sign-ins run one at a time.
async fn count_statements(
    env: &ServiceEnv,
    db: &PgDatabase,
    service: &str,
    log: &Path,
    spec: Spec,
    existing: &(dyn Fn(usize) -> String + Send + Sync),
    existing_count: usize,
) -> Result<(f64, Value), String> {
    const N: usize = 20;
    let mut url = url::Url::parse(&db.url()).map_err(|e| e.to_string())?;
    let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = url.port().unwrap_or(5432);
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|e| format!("{host}:{port}: {e}"))?
        .next()
        .ok_or("no address for the PostgreSQL server")?;
    let proxy = pgwire::Proxy::start(upstream).map_err(|e| e.to_string())?;
    url.set_host(Some("127.0.0.1")).map_err(|e| e.to_string())?;
    url.set_port(Some(proxy.port()))
        .map_err(|_| "cannot set port")?;
    url.set_query(Some("sslmode=disable"));
    let env = env.with("JIT_SSO__DATABASE__URL", url.as_str());
    let mut svc = Service::spawn(&env, log)?;
    svc.wait_ready(service, Duration::from_secs(60)).await?;
    let b = new_browser();
    let mut fails = Vec::new();
    let mut go = |r: Result<browser::Timing, browser::Failure>| {
        if let Err(f) = r {
            fails.push(f.to_string());
        }
    };
    for i in 0..3 {
        go(browser::sign_in(&b, service, &existing(i % existing_count)).await);
    }
    let s0 = proxy.snapshot();
    for i in 3..3 + N {
        go(browser::sign_in(&b, service, &existing(i % existing_count)).await);
    }
    let s1 = proxy.snapshot();
    for k in 0..N {
        go(browser::sign_in(&b, service, &format!("count{k}@bench.example")).await);
    }
    let s2 = proxy.snapshot();
    svc.stop();
    if !fails.is_empty() {
        return Err(format!(
            "{} sign-ins failed in the counting pass: {}",
            fails.len(),
            fails[0]
        ));
    }
    let kind = |c: pgwire::Counts| {
        let mut list: Vec<(String, u64)> = c.statements.clone().into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        json!({
            "statements_per_signin": round(c.total() as f64 / N as f64, 2),
            "round_trips_per_signin": round(c.round_trips as f64 / N as f64, 2),
            "new_connections": c.connections,
            "statements": list.into_iter()
                .map(|(sql, n)| json!({ "per_signin": round(n as f64 / N as f64, 2), "sql": sql }))
                .collect::<Vec<_>>(),
        })
    };
    let returning = kind(s1.since(&s0));
    let new = kind(s2.since(&s1));
    let w = spec.scenario.returning_share();
    let mix = |k: &str| {
        round(
            w * returning[k].as_f64().unwrap_or(0.0) + (1.0 - w) * new[k].as_f64().unwrap_or(0.0),
            2,
        )
    };
    let value = mix("statements_per_signin");
    Ok((
        value,
        json!({
            "value": value,
            "round_trips_per_signin": mix("round_trips_per_signin"),
            "mix": format!("{}% returning, {}% new", (w * 100.0).round(), ((1.0 - w) * 100.0).round()),
            "by_kind": { "returning": returning, "new": new },
            "how": format!("wire-protocol count in a separate pass: {N} returning and {N} new sign-ins, one at a time"),
        }),
    ))
}

fn start_perf(pid: u32, dir: &Path, label: &str) -> Option<std::process::Child> {
    let out = dir.join(format!("perf-{label}.data"));
    let child = std::process::Command::new("perf")
        .args(["record", "-F", "999", "-g", "-p", &pid.to_string(), "-o"])
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

fn print_summary(rows: &[Row]) {
    println!("\n== summary ==");
    println!(
        "{:<10} {:<9} {:>4} {:>9} {:>17} {:>23} {:>9} {:>9} {:>9} {:>8} {:>7} {:>6} {:>6}",
        "scenario",
        "db",
        "c",
        "signin/s",
        "callback p50/p99",
        "sign-in p50/p95/p99 ms",
        "CPU s/1k",
        "peak MiB",
        "idle MiB",
        "ready ms",
        "stmts",
        "errors",
        "ref ms"
    );
    let o = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{x}"));
    for r in rows {
        println!(
            "{:<10} {:<9} {:>4} {:>9.1} {:>17} {:>23} {:>9} {:>9} {:>9} {:>8.1} {:>7} {:>6} {:>6.2}",
            r.spec.scenario.name(),
            r.spec.db.name(),
            r.spec.concurrency,
            r.rate,
            format!("{:.1}/{:.1}", r.callback_p50, r.callback_p99),
            format!("{:.1}/{:.1}/{:.1}", r.total_p50, r.total_p95, r.total_p99),
            o(r.cpu_per_1000),
            o(r.peak_mib),
            o(r.idle_mib),
            r.ready_ms,
            o(r.statements),
            r.errors,
            r.reference_ms
        );
    }
}
