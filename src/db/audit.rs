//! The audit trail: every sign-in decision and every operator change.

use super::schema::audit_events;
use super::{new_id, now_millis, AnyConnection};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub occurred_at: i64,
    pub kind: String,
    pub actor: String,
    pub profile_id: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
}

/// One event to record. `details` is a JSON object; it must never hold a token or secret.
#[derive(Debug, Clone)]
pub struct NewAuditEvent<'a> {
    pub tenant_id: Option<&'a str>,
    pub kind: &'a str,
    pub actor: &'a str,
    pub profile_id: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub details: serde_json::Value,
}

pub fn insert(conn: &mut AnyConnection, event: &NewAuditEvent<'_>) -> QueryResult<()> {
    insert_at(conn, now_millis(), event)
}

/// Records `event` as having happened at `at` (milliseconds since the epoch).
pub fn insert_at(conn: &mut AnyConnection, at: i64, event: &NewAuditEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(new_id()),
            audit_events::tenant_id.eq(event.tenant_id),
            audit_events::occurred_at.eq(at),
            audit_events::kind.eq(event.kind),
            audit_events::actor.eq(event.actor),
            audit_events::profile_id.eq(event.profile_id),
            audit_events::request_id.eq(event.request_id),
            audit_events::details.eq(event.details.to_string()),
        ))
        .execute(conn)
        .map(drop)
}

/// Newest first.
pub fn list_by_tenant(
    conn: &mut AnyConnection,
    tenant_id: &str,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id))
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)
}

/// Audit search, newest first, continued before `before` (a cursor).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub profile_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

pub fn search(
    conn: &mut AnyConnection,
    tenant_id: &str,
    q: &AuditQuery,
) -> QueryResult<Vec<AuditRow>> {
    let mut query = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id))
        .into_boxed();
    if let Some(kind) = &q.kind {
        query = query.filter(audit_events::kind.eq(kind.clone()));
    }
    if let Some(p) = &q.profile_id {
        query = query.filter(audit_events::profile_id.eq(p.clone()));
    }
    if let Some(since) = q.since {
        query = query.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = q.until {
        query = query.filter(audit_events::occurred_at.lt(until));
    }
    if let Some((at, id)) = &q.before {
        query = query.filter(
            audit_events::occurred_at
                .lt(*at)
                .or(audit_events::occurred_at
                    .eq(*at)
                    .and(audit_events::id.lt(id.clone()))),
        );
    }
    query
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(q.limit)
        .select(AuditRow::as_select())
        .load(conn)
}
