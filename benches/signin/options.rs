//! Command-line options of the sign-in benchmark, and what one run measures (`Spec`).

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Every profile exists (created in an unmeasured warm-up).
    Returning,
    /// Every sign-in creates a profile.
    New,
    /// 90% returning, 10% new.
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Db {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Alg {
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
pub struct Args {
    /// returning | new | mixed [default: returning]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenario: Vec<Scenario>,
    /// sqlite | postgres [default: sqlite]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub db: Vec<Db>,
    /// Virtual browsers, e.g. 1,8,32,128 [default: 32]
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Measured sign-ins per run [default: 2000]
    #[arg(long)]
    pub signins: Option<usize>,
    /// Distinct returning users (profiles created in the warm-up) [default: min(1000, signins)]
    #[arg(long)]
    pub users: Option<usize>,
    /// ID token signature algorithm of the provider.
    #[arg(long, value_enum, ignore_case = true, default_value = "RS256")]
    pub alg: Alg,
    /// CI smoke: 300 sign-ins, concurrency 8, SQLite, mixed (unless given); fails on any error.
    #[arg(long)]
    pub smoke: bool,
    /// PostgreSQL server to create the throw-away databases on; without TLS by default
    /// (loopback), add `?sslmode=prefer` (libpq's own default) to measure it with TLS.
    #[arg(
        long,
        env = "JIT_SSO_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432?sslmode=disable"
    )]
    pub postgres: String,
    /// Server threads of the benchmark identity provider.
    #[arg(long, default_value_t = 2)]
    pub idp_workers: usize,
    /// Extra service setting, e.g. JIT_SSO__DATABASE__POOL_SIZE=16 (repeatable).
    #[arg(long = "service-env", value_name = "KEY=VALUE")]
    pub service_env: Vec<String>,
    /// Skip the PostgreSQL statement-counting pass.
    #[arg(long)]
    pub no_statement_count: bool,
    /// Record the service with `perf record` during the measured phase.
    #[arg(long)]
    pub perf: bool,
    /// The service binary to measure [default: the one cargo built with this benchmark];
    /// e.g. a saved copy of another version, to compare.
    #[arg(long, env = "JIT_SSO_BENCH_BIN")]
    pub service_bin: Option<PathBuf>,
    /// The config folder of the service's source (production.toml, default.toml)
    /// [default: config/]; with --service-bin from another commit, that commit's.
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Where JSON files go [default: target/bench].
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Times the provider's ID token signature and exits.
    #[arg(long, hide = true)]
    pub time_signer: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub scenario: Scenario,
    pub db: Db,
    pub concurrency: usize,
    pub signins: usize,
    pub users: usize,
    pub alg: Alg,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Returning => "returning",
            Scenario::New => "new",
            Scenario::Mixed => "mixed",
        }
    }
    /// Share of sign-ins by people who already have a profile.
    pub fn returning_share(self) -> f64 {
        match self {
            Scenario::Returning => 1.0,
            Scenario::New => 0.0,
            Scenario::Mixed => 0.9,
        }
    }
}

impl Db {
    pub fn name(self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres => "postgres",
        }
    }
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}
