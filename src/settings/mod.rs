//! Typed settings: `config/default.toml` -> `config/{environment}.toml` -> environment.
//!
//! Every key can be overridden as `JIT_SSO__SECTION__KEY`. Secrets come only from the
//! environment (`JIT_SSO__SECRETS__SESSION_KEY`) or a file named by the environment
//! (`JIT_SSO__SECRETS__SESSION_KEY_FILE`); a secret found in a config file stops the start.
//! Unknown keys, in files or in the environment, stop the start naming the key.

use layers::{apply_env, merge, parse_table, read_optional};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod layers;
#[cfg(test)]
mod tests;

const ENV_PREFIX: &str = "JIT_SSO__";
/// Selects `config/{environment}.toml`; `development` when unset.
pub const ENVIRONMENT_VAR: &str = "JIT_SSO_ENV";
/// Where the config folder is; `./config` when unset.
pub const CONFIG_DIR_VAR: &str = "JIT_SSO_CONFIG_DIR";

const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.toml");

/// What the shipped secret template (deploy/kubernetes/secret.example.yaml) says where a
/// real value belongs; a setting holding it was copied without being filled in.
pub const PLACEHOLDER: &str = "REPLACE_ME";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("invalid settings: {0}")]
    Invalid(String),
}

/// A secret string: printed as `[redacted]` by `Debug`, never serialized.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub environment: String,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    pub oidc: OidcSettings,
    pub metrics: MetricsSettings,
    pub demo: DemoSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub secrets: SecretSettings,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub host: String,
    /// 0: on the main port.
    pub port: u16,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    pub public_url: String,
    pub workers: usize,
    pub drain_secs: u64,
    pub shutdown_grace_secs: u64,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    pub migrate_on_start: bool,
    /// How long a replica reuses a tenant row on the sign-in path (0: never).
    pub tenant_cache_ms: u64,
}

/// The URL's password never reaches a log or an error through `{:?}`.
impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url_password(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout_secs", &self.connect_timeout_secs)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("tenant_cache_ms", &self.tenant_cache_ms)
            .finish()
    }
}

/// `postgres://user:secret@host/db?password=secret` with both passwords replaced.
pub fn redact_url_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) if userinfo.contains(':') => {
                    let user = userinfo.split(':').next().unwrap_or_default();
                    format!("{scheme}://{user}:[redacted]@{host}{path}")
                }
                _ => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=[redacted]".to_owned(),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{out}?{}", pairs.join("&"));
    }
    out
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub ttl_secs: u64,
    pub cookie_name: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    pub http_timeout_secs: u64,
    pub clock_skew_secs: u64,
    pub discovery_ttl_secs: u64,
    pub flow_ttl_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    pub enabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: String,
    pub probes: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    /// Signs session tokens and encrypts sign-in state cookies (at least 32 bytes).
    pub session_key: Option<Secret>,
    pub session_key_file: Option<PathBuf>,
    /// Encrypts client secrets at rest (at least 32 bytes).
    pub data_key: Option<Secret>,
    pub data_key_file: Option<PathBuf>,
}

impl SecretSettings {
    pub fn session_key(&self) -> Result<Option<Secret>, SettingsError> {
        resolve_secret(&self.session_key, &self.session_key_file, "SESSION_KEY")
    }
    pub fn data_key(&self) -> Result<Option<Secret>, SettingsError> {
        resolve_secret(&self.data_key, &self.data_key_file, "DATA_KEY")
    }
}

fn resolve_secret(
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    name: &str,
) -> Result<Option<Secret>, SettingsError> {
    let secret = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(SettingsError::Invalid(format!(
            "set either {ENV_PREFIX}SECRETS__{name} or {ENV_PREFIX}SECRETS__{name}_FILE, not both"
        )))
        }
        (Some(v), None) => v.clone(),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                path: path.display().to_string(),
                source,
            })?;
            Secret::new(text.trim_end_matches(['\r', '\n']))
        }
        (None, None) => return Ok(None),
    };
    if secret.expose().len() < 32 {
        return Err(SettingsError::Invalid(format!(
            "{ENV_PREFIX}SECRETS__{name} must be at least 32 bytes long"
        )));
    }
    Ok(Some(secret))
}

impl Settings {
    /// Loads the settings of the environment named by `JIT_SSO_ENV`, from the config folder
    /// and the process environment.
    pub fn load() -> Result<Settings, SettingsError> {
        let environment =
            std::env::var(ENVIRONMENT_VAR).unwrap_or_else(|_| "development".to_owned());
        let dir = match std::env::var(CONFIG_DIR_VAR) {
            // Set by hand, a wrong folder would silently fall back to the built-in defaults.
            Ok(dir) if !Path::new(&dir).is_dir() => {
                return Err(SettingsError::Invalid(format!(
                    "{CONFIG_DIR_VAR}={dir:?} is not a folder"
                )))
            }
            Ok(dir) => dir,
            Err(_) => "config".to_owned(),
        };
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(Path::new(&dir), &environment, &vars)
    }

    /// Loads settings from `dir` for `environment`, overridden by `vars` (name, value).
    /// The embedded copy of `default.toml` is used when the folder has none.
    pub fn load_from(
        dir: &Path,
        environment: &str,
        vars: &[(String, String)],
    ) -> Result<Settings, SettingsError> {
        if environment.is_empty() || !environment.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(SettingsError::Invalid(format!(
                "{ENVIRONMENT_VAR} must be a plain name such as development or production, got {environment:?}"
            )));
        }
        let default_path = dir.join("default.toml");
        let mut table = match read_optional(&default_path)? {
            Some(text) => parse_table(&text, &default_path)?,
            None => parse_table(EMBEDDED_DEFAULT, Path::new("embedded default.toml"))?,
        };
        let env_path = dir.join(format!("{environment}.toml"));
        match read_optional(&env_path)? {
            Some(text) => merge(&mut table, parse_table(&text, &env_path)?),
            None if environment != "development" => {
                return Err(SettingsError::Invalid(format!(
                    "{} is missing: {ENVIRONMENT_VAR}={environment:?} names no environment (shipped: development, test, production)",
                    env_path.display()
                )))
            }
            None => {}
        }
        if table.contains_key("secrets") {
            return Err(SettingsError::Invalid(
                "config files must not hold [secrets]; set JIT_SSO__SECRETS__* in the environment"
                    .to_owned(),
            ));
        }
        apply_env(&mut table, vars)?;
        table.insert(
            "environment".into(),
            toml::Value::String(environment.into()),
        );
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| invalid_value(&e, dir, environment, vars))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The URL browsers use for this service: `http.public_url`, or, when that is empty,
    /// `http://{host}:{port}` (loopback for a wildcard host), with `port` the one bound.
    pub fn public_url_for(&self, port: u16) -> String {
        if self.http.public_url.is_empty() {
            let host = match self.http.host.as_str() {
                "0.0.0.0" | "::" => "127.0.0.1",
                h => h,
            };
            format!("http://{host}:{port}")
        } else {
            self.http.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// [`Self::public_url_for`] the configured port: what the command line prints.
    pub fn public_url(&self) -> String {
        self.public_url_for(self.http.port)
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if !self.http.public_url.is_empty() {
            let url = url::Url::parse(&self.http.public_url).map_err(|e| {
                SettingsError::Invalid(format!("http.public_url is not a URL ({e})"))
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(SettingsError::Invalid(
                    "http.public_url must be an http(s) URL with a host".into(),
                ));
            }
        }
        if self.is_production() && !self.http.public_url.starts_with("https://") {
            return Err(SettingsError::Invalid(
                "http.public_url must be the https URL browsers use, in production (JIT_SSO__HTTP__PUBLIC_URL)".into(),
            ));
        }
        if self.database.url.contains(PLACEHOLDER) {
            return Err(SettingsError::Invalid(
                "database.url still holds the placeholder of deploy/kubernetes/secret.example.yaml (JIT_SSO__DATABASE__URL)".into(),
            ));
        }
        if self.is_production() && !crate::db::is_postgres_url(&self.database.url) {
            return Err(SettingsError::Invalid(
                "database.url must be a postgres:// URL in production: the replicas share one PostgreSQL database (JIT_SSO__DATABASE__URL)".into(),
            ));
        }
        if self.is_production() && self.demo.enabled {
            return Err(SettingsError::Invalid(
                "demo.enabled cannot be on in production: the demo provider signs in anyone as anyone".into(),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(SettingsError::Invalid(
                "log.format must be \"text\" or \"json\"".into(),
            ));
        }
        if self.database.pool_size == 0 {
            return Err(SettingsError::Invalid(
                "database.pool_size must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A value of the wrong type, named by its setting and by where it came from: the variable
/// that set it, or the config files.
fn invalid_value(
    e: &serde_path_to_error::Error<toml::de::Error>,
    dir: &Path,
    environment: &str,
    vars: &[(String, String)],
) -> SettingsError {
    let setting = e.path().to_string();
    let var = format!(
        "{ENV_PREFIX}{}",
        setting.replace('.', "__").to_ascii_uppercase()
    );
    let from_env = vars.iter().any(|(k, _)| k.eq_ignore_ascii_case(&var))
        || (setting == "database.url" && vars.iter().any(|(k, _)| k == "DATABASE_URL"));
    let source = if from_env {
        format!("set by {var}")
    } else {
        format!(
            "in {dir}/default.toml or {dir}/{environment}.toml",
            dir = dir.display()
        )
    };
    SettingsError::Invalid(format!("{setting} ({source}): {}", e.inner().message()))
}
