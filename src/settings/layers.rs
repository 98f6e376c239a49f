//! Layering: TOML files merged in order, then `JIT_SSO__SECTION__KEY` variables typed after
//! the value they replace.

use super::{SettingsError, ENV_PREFIX};
use std::path::Path;

pub(super) fn read_optional(path: &Path) -> Result<Option<String>, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

pub(super) fn parse_table(text: &str, path: &Path) -> Result<toml::Table, SettingsError> {
    text.parse::<toml::Table>()
        .map_err(|e| SettingsError::Parse {
            path: path.display().to_string(),
            message: e.message().to_owned(),
        })
}

pub(super) fn merge(base: &mut toml::Table, over: toml::Table) {
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
pub(super) fn apply_env(
    table: &mut toml::Table,
    vars: &[(String, String)],
) -> Result<(), SettingsError> {
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
