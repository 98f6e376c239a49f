//! How the benchmark configures the service it measures: the settings file, loopback
//! overrides and the environment of one run.

use crate::options::Args;
use crate::system::{self, ServiceEnv};
use crate::MANIFEST_DIR;
use std::path::{Path, PathBuf};

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

/// The service's environment for one run: the production settings under `bench` (copied
/// into `dir`), on loopback `port` at `service`, on `db_url`, with fresh secrets and the
/// `--service-env` settings last.
pub fn service_env(
    args: &Args,
    bin: &Path,
    dir: &Path,
    port: u16,
    service: &str,
    db_url: &str,
) -> Result<ServiceEnv, String> {
    let source = args
        .config_dir
        .clone()
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("config"));
    let config_dir = bench_config(dir, &source)?;
    let mut vars: Vec<(String, String)> = [
        ("JIT_SSO_ENV", BENCH_ENV.to_owned()),
        ("JIT_SSO_CONFIG_DIR", config_dir.display().to_string()),
        ("JIT_SSO__HTTP__HOST", "127.0.0.1".to_owned()),
        ("JIT_SSO__HTTP__PORT", port.to_string()),
        ("JIT_SSO__HTTP__PUBLIC_URL", service.to_owned()),
        ("JIT_SSO__DATABASE__URL", db_url.to_owned()),
        ("JIT_SSO__SECRETS__SESSION_KEY", system::random_secret(48)),
        ("JIT_SSO__SECRETS__DATA_KEY", system::random_secret(48)),
        ("JIT_SSO__LOG__FORMAT", "text".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(loopback_overrides(&source));
    for kv in &args.service_env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--service-env {kv}: expected KEY=VALUE"))?;
        vars.retain(|(key, _)| key != k);
        vars.push((k.to_owned(), v.to_owned()));
    }
    Ok(ServiceEnv {
        bin: bin.to_owned(),
        vars,
    })
}
