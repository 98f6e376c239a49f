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
    /// The rows, and how many times an entry was forgotten: a row read before a change was
    /// committed must not be put back after the change forgot its entry.
    rows: RwLock<(Rows, u64)>,
}

type Rows = HashMap<String, (Instant, TenantRow)>;

/// Taken before reading a row from the database, given back to [`TenantCache::put`].
#[derive(Clone, Copy)]
pub struct Ticket(u64);

impl TenantCache {
    pub fn new(ttl: Duration) -> Self {
        TenantCache {
            ttl,
            rows: RwLock::new((HashMap::new(), 0)),
        }
    }

    pub fn get(&self, slug: &str) -> Option<TenantRow> {
        if self.ttl.is_zero() {
            return None;
        }
        let rows = self.rows.read().expect("tenant cache lock");
        rows.0
            .get(slug)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, row)| row.clone())
    }

    /// Call before reading the row that will be put.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.rows.read().expect("tenant cache lock").1)
    }

    /// Keeps `row`, unless an entry was forgotten since `ticket` was taken (the row may
    /// predate that change).
    pub fn put(&self, ticket: Ticket, row: &TenantRow) {
        if self.ttl.is_zero() {
            return;
        }
        let mut guard = self.rows.write().expect("tenant cache lock");
        let (rows, forgotten) = &mut *guard;
        if *forgotten != ticket.0 {
            return;
        }
        // Bounded by the number of tenants; expired entries are dropped as we go.
        rows.retain(|_, (at, _)| at.elapsed() < self.ttl);
        rows.insert(row.slug.clone(), (Instant::now(), row.clone()));
    }

    pub fn forget(&self, slug: &str) {
        let mut guard = self.rows.write().expect("tenant cache lock");
        guard.0.remove(slug);
        guard.1 += 1;
    }
}
