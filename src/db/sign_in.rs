//! The one write of a routine sign-in: the profile's last-sign-in time and its audit event.
//!
//! On PostgreSQL both are one statement (a data-modifying CTE), prepared once per
//! connection; on SQLite, where statements cost no round trip, two in one transaction.
//! Either way nothing is written unless the profile is still active.

use super::audit::{self, NewAuditEvent};
use super::schema::profiles;
use super::{new_id, AnyConnection};
use crate::domain::STATUS_ACTIVE;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};

/// Records that the active profile `event.profile_id` signed in at `at`. Returns false, and
/// writes nothing, when the profile is missing or no longer active.
pub fn record(conn: &mut AnyConnection, at: i64, event: &NewAuditEvent<'_>) -> QueryResult<bool> {
    let profile_id = event.profile_id.unwrap_or_default();
    match conn {
        AnyConnection::Postgresql(c) => {
            let details = event.details.to_string();
            let query = TouchAndAudit {
                at,
                profile_id,
                event_id: new_id(),
                kind: event.kind,
                actor: event.actor,
                request_id: event.request_id,
                details: &details,
            };
            Ok(query.execute(c)? == 1)
        }
        AnyConnection::Sqlite(_) => conn.transaction(|c| {
            let touched = diesel::update(profiles::table.find(profile_id))
                .filter(profiles::status.eq(STATUS_ACTIVE))
                .set(profiles::last_sign_in_at.eq(at))
                .execute(c)?;
            if touched == 1 {
                audit::insert_at(c, at, event)?;
            }
            Ok(touched == 1)
        }),
    }
}

/// `WITH touched AS (UPDATE profiles ... RETURNING ...) INSERT INTO audit_events SELECT ...`.
/// Its SQL never varies, so diesel keeps it as a named prepared statement.
struct TouchAndAudit<'a> {
    at: i64,
    profile_id: &'a str,
    event_id: String,
    kind: &'a str,
    actor: &'a str,
    request_id: Option<&'a str>,
    details: &'a str,
}

impl QueryId for TouchAndAudit<'_> {
    type QueryId = TouchAndAudit<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for TouchAndAudit<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH touched AS (UPDATE profiles SET last_sign_in_at = ");
        out.push_bind_param::<BigInt, _>(&self.at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, _>(&self.profile_id)?;
        out.push_sql(" AND status = '");
        out.push_sql(STATUS_ACTIVE);
        out.push_sql(
            "' RETURNING id, tenant_id) INSERT INTO audit_events \
             (id, tenant_id, occurred_at, kind, actor, profile_id, request_id, details) SELECT ",
        );
        out.push_bind_param::<Text, _>(&self.event_id)?;
        out.push_sql(", tenant_id, ");
        out.push_bind_param::<BigInt, _>(&self.at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.actor)?;
        out.push_sql(", id, ");
        out.push_bind_param::<Nullable<Text>, _>(&self.request_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.details)?;
        out.push_sql(" FROM touched");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for TouchAndAudit<'_> {}
