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
        let vars = vars(&[
            ("JIT_SSO__HTTP__PUBLIC_URL", "https://sso.example.com"),
            ("JIT_SSO__DATABASE__URL", "postgres://db.internal/jit_sso"),
        ]);
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
            ("JIT_SSO__DATABASE__URL", "postgres://db.internal/jit_sso"),
            ("JIT_SSO__DEMO__ENABLED", "true"),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("demo"), "{err}");
    // Several replicas over one database: the laptop's SQLite file is refused.
    let err = Settings::load_from(
        &config_dir(),
        "production",
        &vars(&[("JIT_SSO__HTTP__PUBLIC_URL", "https://x.example")]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("postgres://"), "{err}");
    // The shipped secret template's placeholder is named as such.
    let template = "postgres://jit_sso:REPLACE_ME@postgres.example.internal:5432/jit_sso";
    let err = Settings::load_from(
        &config_dir(),
        "production",
        &vars(&[
            ("JIT_SSO__HTTP__PUBLIC_URL", "https://x.example"),
            ("JIT_SSO__DATABASE__URL", template),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("placeholder"), "{err}");
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
fn a_value_out_of_range_names_the_setting_and_where_it_was_set() {
    let err = Settings::load_from(
        &config_dir(),
        "development",
        &vars(&[("JIT_SSO__DATABASE__POOL_SIZE", "-3")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("database.pool_size"), "{err}");
    assert!(err.contains("set by JIT_SSO__DATABASE__POOL_SIZE"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("staging.toml"), "[http]\nport = 70000\n").unwrap();
    let err = Settings::load_from(dir.path(), "staging", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("http.port"), "{err}");
    assert!(err.contains("staging.toml"), "{err}");
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

#[test]
fn the_database_password_is_redacted_from_the_settings_debug_output() {
    let s = Settings::load_from(
        &config_dir(),
        "development",
        &vars(&[(
            "JIT_SSO__DATABASE__URL",
            "postgres://app:hunter2-db@db.internal:5432/jit?sslmode=require&password=other-pw",
        )]),
    )
    .unwrap();
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("hunter2-db") && !shown.contains("other-pw"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "postgres://app:[redacted]@db.internal:5432/jit?sslmode=require&password=[redacted]"
        ),
        "{shown}"
    );
    assert_eq!(
        redact_url_password("postgres://app@db/jit"),
        "postgres://app@db/jit"
    );
    assert_eq!(
        redact_url_password("sqlite://data/jit.db"),
        "sqlite://data/jit.db"
    );
}
