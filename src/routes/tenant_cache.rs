//! A short-lived, per-replica cache of tenant rows for the sign-in path.
//!
//! Every sign-in reads its tenant twice (login and callback); at 9 a.m. that is most of
//! the database traffic. Rows are kept for `database.tenant_cache_ms` (0 disables the
//! cache); changes made through this replica's admin API or console drop the entry at
//! once, changes made elsewhere (another replica, the CLI) show within that time.

use crate::db::tenants::TenantRow;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

pub struct TenantCache {
    ttl: Duration,
    rows: RwLock<HashMap<String, (Instant, TenantRow)>>,
}

impl TenantCache {
    pub fn new(ttl: Duration) -> Self {
        TenantCache {
            ttl,
            rows: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, slug: &str) -> Option<TenantRow> {
        if self.ttl.is_zero() {
            return None;
        }
        let rows = self.rows.read().expect("tenant cache lock");
        rows.get(slug)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, row)| row.clone())
    }

    pub fn put(&self, row: &TenantRow) {
        if self.ttl.is_zero() {
            return;
        }
        let mut rows = self.rows.write().expect("tenant cache lock");
        // Bounded by the number of tenants; expired entries are dropped as we go.
        rows.retain(|_, (at, _)| at.elapsed() < self.ttl);
        rows.insert(row.slug.clone(), (Instant::now(), row.clone()));
    }

    pub fn forget(&self, slug: &str) {
        self.rows.write().expect("tenant cache lock").remove(slug);
    }
}
