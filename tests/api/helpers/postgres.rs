//! Fresh PostgreSQL databases for tests, created and dropped per test.

use diesel::RunQueryDsl;

/// Server URL of the PostgreSQL cluster for tests (databases are created and dropped).
pub fn postgres_server() -> String {
    std::env::var("JIT_SSO_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// When set (CI), a test that cannot reach PostgreSQL or node fails instead of skipping.
pub fn require_all() -> bool {
    std::env::var("JIT_SSO_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// A fresh PostgreSQL database, dropped (with its connections) on drop.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub fn create() -> Option<PgDatabase> {
        let admin = format!("{}/postgres", postgres_server());
        let mut conn = match jit_sso::db::establish_postgres(&admin) {
            Ok(c) => c,
            Err(e) if !require_all() => {
                eprintln!("SKIPPED: PostgreSQL not reachable at {admin} ({e}); set JIT_SSO_TEST_REQUIRE_ALL=1 to fail instead");
                return None;
            }
            Err(e) => panic!("PostgreSQL not reachable at {admin}: {e}"),
        };
        let name = format!("jit_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create test database");
        Some(PgDatabase {
            url: format!("{}/{name}", postgres_server()),
            name,
        })
    }

    /// Drops the database now (used to simulate the database going away).
    pub fn drop_now(&self) {
        let admin = format!("{}/postgres", postgres_server());
        if let Ok(mut conn) = jit_sso::db::establish_postgres(&admin) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.drop_now();
    }
}
