//! Typed settings: `config/default.toml` -> `config/{environment}.toml` -> environment.
//!
//! Every key can be overridden as `JIT_SSO__SECTION__KEY`. Secrets come only from the
//! environment (`JIT_SSO__SECRETS__SESSION_KEY`) or a file named by the environment
//! (`JIT_SSO__SECRETS__SESSION_KEY_FILE`); a secret found in a config file stops the start.
//! Unknown keys, in files or in the environment, stop the start naming the key.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

const ENV_PREFIX: &str = "JIT_SSO__";
/// Selects `config/{environment}.toml`; `development` when unset.
pub const ENVIRONMENT_VAR: &str = "JIT_SSO_ENV";
/// Where the config folder is; `./config` when unset.
pub const CONFIG_DIR_VAR: &str = "JIT_SSO_CONFIG_DIR";

const EMBEDDED_DEFAULT: &str = include_str!("../config/default.toml");

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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    pub migrate_on_start: bool,
    /// How long a replica reuses a tenant row on the sign-in path (0: never).
    pub tenant_cache_ms: u64,
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
        let dir = std::env::var(CONFIG_DIR_VAR).unwrap_or_else(|_| "config".to_owned());
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
        let settings: Settings = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Invalid(e.message().to_owned()))?;
        settings.validate()?;
        Ok(settings)
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

fn read_optional(path: &Path) -> Result<Option<String>, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn parse_table(text: &str, path: &Path) -> Result<toml::Table, SettingsError> {
    text.parse::<toml::Table>()
        .map_err(|e| SettingsError::Parse {
            path: path.display().to_string(),
            message: e.message().to_owned(),
        })
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Applies `JIT_SSO__SECTION__KEY` variables (and `DATABASE_URL`, below them).
fn apply_env(table: &mut toml::Table, vars: &[(String, String)]) -> Result<(), SettingsError> {
    let explicit_db_url = vars.iter().any(|(k, _)| k == "JIT_SSO__DATABASE__URL");
    if !explicit_db_url {
        if let Some((_, url)) = vars.iter().find(|(k, _)| k == "DATABASE_URL") {
            set_path(table, &["database", "url"], url, "DATABASE_URL")?;
        }
    }
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        if path.len() != 2 || path.iter().any(String::is_empty) {
            return Err(SettingsError::Invalid(format!(
                "{name} is not a setting: use {ENV_PREFIX}SECTION__KEY"
            )));
        }
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        set_path(table, &path, value, name)?;
    }
    Ok(())
}

fn set_path(
    table: &mut toml::Table,
    path: &[&str],
    raw: &str,
    var: &str,
) -> Result<(), SettingsError> {
    let section = table
        .entry(path[0].to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section) = section else {
        return Err(SettingsError::Invalid(format!(
            "{var}: {} is not a section",
            path[0]
        )));
    };
    let typed = match section.get(path[1]) {
        Some(toml::Value::Integer(_)) => raw.trim().parse::<i64>().map(toml::Value::Integer).ok(),
        Some(toml::Value::Boolean(_)) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Some(toml::Value::Boolean(false)),
            _ => None,
        },
        _ => Some(toml::Value::String(raw.to_owned())),
    };
    let Some(typed) = typed else {
        return Err(SettingsError::Invalid(format!(
            "{var} has a value of the wrong type for {}.{}",
            path[0], path[1]
        )));
    };
    section.insert(path[1].to_owned(), typed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_shipped_config_file_loads() {
        for entry in std::fs::read_dir(config_dir()).unwrap() {
            let path = entry.unwrap().path();
            let env = path.file_stem().unwrap().to_str().unwrap().to_owned();
            if env == "default" {
                continue;
            }
            let vars = vars(&[("JIT_SSO__HTTP__PUBLIC_URL", "https://sso.example.com")]);
            let settings = Settings::load_from(&config_dir(), &env, &vars)
                .unwrap_or_else(|e| panic!("{env}: {e}"));
            assert_eq!(settings.environment, env);
        }
    }

    #[test]
    fn environment_variables_override_files_with_their_types() {
        let s = Settings::load_from(
            &config_dir(),
            "production",
            &vars(&[
                ("JIT_SSO__HTTP__PORT", "9123"),
                ("JIT_SSO__DEMO__ENABLED", "false"),
                ("DATABASE_URL", "postgres://ignored"),
                ("JIT_SSO__DATABASE__URL", "postgres://db/jit"),
                ("JIT_SSO__HTTP__PUBLIC_URL", "https://sso.example.com"),
            ]),
        )
        .unwrap();
        assert_eq!(s.http.port, 9123);
        assert_eq!(s.http.host, "0.0.0.0");
        assert_eq!(s.database.url, "postgres://db/jit");
    }

    #[test]
    fn database_url_is_honoured_like_the_diesel_cli() {
        let s = Settings::load_from(
            &config_dir(),
            "development",
            &vars(&[("DATABASE_URL", "postgres://localhost/x")]),
        )
        .unwrap();
        assert_eq!(s.database.url, "postgres://localhost/x");
    }

    #[test]
    fn production_refuses_an_http_public_url_the_demo_and_unknown_environments() {
        let err = Settings::load_from(&config_dir(), "production", &[]).unwrap_err();
        assert!(err.to_string().contains("public_url"), "{err}");
        let err = Settings::load_from(
            &config_dir(),
            "production",
            &vars(&[
                ("JIT_SSO__HTTP__PUBLIC_URL", "https://x.example"),
                ("JIT_SSO__DEMO__ENABLED", "true"),
            ]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("demo"), "{err}");
        let err = Settings::load_from(&config_dir(), "prod", &[]).unwrap_err();
        assert!(err.to_string().contains("names no environment"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let err = Settings::load_from(
            &config_dir(),
            "development",
            &vars(&[("JIT_SSO__HTTP__PROT", "1")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("prot"), "{err}");
        let err = Settings::load_from(
            &config_dir(),
            "development",
            &vars(&[("JIT_SSO__HTTP__PORT", "eighty")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("JIT_SSO__HTTP__PORT"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_and_must_be_long() {
        let s = Settings::load_from(
            &config_dir(),
            "development",
            &vars(&[(
                "JIT_SSO__SECRETS__SESSION_KEY",
                "0123456789abcdef0123456789abcdef-very-secret",
            )]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("very-secret"));
        assert!(s.secrets.session_key().unwrap().is_some());
        let short = Settings::load_from(
            &config_dir(),
            "development",
            &vars(&[("JIT_SSO__SECRETS__DATA_KEY", "short")]),
        )
        .unwrap();
        assert!(short.secrets.data_key().is_err());
    }
}
