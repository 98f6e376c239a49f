//! The figures of one run: its JSON file, its table on stdout, and the summary of all runs.

use crate::browser::PhaseResult;
use crate::options::{Db, Scenario, Spec};
use crate::run::Context;
use crate::system::ServiceEnv;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Everything measured in one run, for the summary table.
pub struct Row {
    pub spec: Spec,
    pub rate: f64,
    pub callback_p50: f64,
    pub callback_p99: f64,
    pub total_p50: f64,
    pub total_p95: f64,
    pub total_p99: f64,
    pub cpu_per_1000: Option<f64>,
    pub peak_mib: Option<f64>,
    pub idle_mib: Option<f64>,
    pub ready_ms: f64,
    pub statements: Option<f64>,
    pub errors: usize,
    pub reference_ms: f64,
}

/// What one run collected, before it is turned into figures.
pub struct Measured {
    pub label: String,
    pub log: PathBuf,
    pub env: ServiceEnv,
    pub warm: PhaseResult,
    pub warm_count: usize,
    pub phase: PhaseResult,
    pub session_errors: Vec<String>,
    pub alive: bool,
    pub stopped: Option<(Duration, ExitStatus)>,
    pub statements: Option<Result<(f64, Value), String>>,
    pub provider_requests: Value,
    pub provider_refused: u64,
    pub open_codes: usize,
    pub svc0: Option<u64>,
    pub svc1: Option<u64>,
    pub me0: Option<u64>,
    pub me1: Option<u64>,
    pub idp0: u64,
    pub idp1: u64,
    pub m0: (u64, u64),
    pub m1: (u64, u64),
    pub pg_cpu_ticks: Option<u64>,
    pub roster: crate::run::Roster,
    pub idle_start_kib: Option<u64>,
    pub peak_kib: Option<u64>,
    pub end_kib: Option<u64>,
    pub idle_after_kib: Option<u64>,
    pub peak_reset: bool,
    pub ready: Duration,
    pub loadavg_before: String,
    pub speed_before: f64,
    pub speed_after: f64,
}

/// Computes the figures of a run, writes its JSON file and prints its table.
pub fn finish(ctx: &Context, spec: Spec, m: Measured) -> Result<Row, String> {
    let Measured {
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
    } = m;
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
    let mut errors =
        phase.errors + warm.errors + session_errors.len() + count_errors + roster.errors;
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
        "roster": roster.json,
        "errors": errors,
        "error_detail": {
            "measured": phase.errors, "warmup": warm.errors, "session_check": session_errors.len(),
            "statement_count_pass": count_errors, "service_died": !alive, "roster": roster.errors,
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
            "roster": "after the measured phase (service stopped): `jit-sso users bench --json` against every email that signed in, warm-up included; duplicates, missing and unexpected profiles count as errors",
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
    println!(
        "  {:<34}{} profiles for {} people; {} duplicates, {} missing, {} unexpected",
        "roster after the run",
        roster.json["profiles"],
        roster.json["people_signed_in"],
        roster.json["duplicates"],
        roster.json["missing"],
        roster.json["unexpected"]
    );
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

/// Percentile (nearest rank) of sorted microseconds, in milliseconds.
pub fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

pub fn latency(mut v: Vec<u64>) -> Value {
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

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

pub fn mib(kib: Option<u64>) -> Option<f64> {
    kib.map(|k| round(k as f64 / 1024.0, 1))
}

pub fn failures(phase: &PhaseResult) -> Vec<String> {
    phase.samples.iter().map(ToString::to_string).collect()
}

pub fn print_summary(rows: &[Row]) {
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
