//! The two writes on the sign-in hot path, each a single statement on PostgreSQL (data-
//! modifying CTEs, prepared once per connection, atomic without BEGIN/COMMIT):
//!
//! - [`returning`]: find the profile linked to an identity and, when it is as expected,
//!   record the sign-in and its audit event;
//! - [`create`]: a JIT profile with its identity link, roster membership and audit event.
//!
//! On SQLite, where a statement costs no round trip, the same work is a few statements in
//! one transaction.

use super::audit::{self, NewAuditEvent};
use super::profiles::{self, NewProfileRow, ProfileRow};
use super::{new_id, tenants, AnyConnection};
use crate::domain::STATUS_ACTIVE;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

/// Who signs in: the link key (tenant, issuer, subject).
#[derive(Debug, Clone, Copy)]
pub struct IdentityKey<'a> {
    pub tenant_id: &'a str,
    pub issuer: &'a str,
    pub subject: &'a str,
}

/// What a routine sign-in expects of the stored profile besides being active; `None`
/// expects nothing of that field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected<'a> {
    pub email_normalized: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub last_name: Option<&'a str>,
}

impl Expected<'_> {
    fn met_by(&self, p: &ProfileRow) -> bool {
        let same = |want: Option<&str>, have: &str| want.is_none_or(|w| w == have);
        p.status == STATUS_ACTIVE
            && same(self.email_normalized, &p.email_normalized)
            && same(self.first_name, &p.first_name)
            && same(self.last_name, &p.last_name)
    }
}

#[derive(Debug)]
pub enum Returning {
    /// No profile is linked to this identity.
    Unknown,
    /// The sign-in at the given time and its audit event are written.
    Recorded(ProfileRow),
    /// Linked, but not as expected (deactivated, email or names changed): nothing written.
    Undecided(ProfileRow),
}

/// Finds the profile linked to `key` and, if it is active and as `expected`, sets its
/// last sign-in to `at` and writes `event` (its `profile_id` is that profile's).
pub fn returning(
    conn: &mut AnyConnection,
    key: IdentityKey<'_>,
    expected: Expected<'_>,
    at: i64,
    event: &NewAuditEvent<'_>,
) -> QueryResult<Returning> {
    match conn {
        AnyConnection::Postgresql(c) => {
            let details = event.details.to_string();
            let query = FindAndRecord {
                key,
                expected,
                at,
                audit: AuditFrom::new(event, at, &details),
            };
            let found: Option<(ProfileRow, bool)> = query.get_result(c).optional()?;
            Ok(match found {
                None => Returning::Unknown,
                Some((mut profile, true)) => {
                    profile.last_sign_in_at = Some(at);
                    Returning::Recorded(profile)
                }
                Some((profile, false)) => Returning::Undecided(profile),
            })
        }
        AnyConnection::Sqlite(_) => super::write_query_transaction(conn, |c| {
            let found = profiles::find_by_identity(c, key.tenant_id, key.issuer, key.subject)?;
            let Some(mut profile) = found else {
                return Ok(Returning::Unknown);
            };
            if !expected.met_by(&profile) {
                return Ok(Returning::Undecided(profile));
            }
            profiles::touch_sign_in(c, &profile.id, at)?;
            let event = NewAuditEvent {
                profile_id: Some(&profile.id),
                ..event.clone()
            };
            audit::insert_at(c, at, &event)?;
            profile.last_sign_in_at = Some(at);
            Ok(Returning::Recorded(profile))
        }),
    }
}

/// What [`create`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The profile, its link, membership and audit event are written.
    Yes,
    /// Nothing written: the tenant has JIT off at this moment.
    JitOff,
    /// Nothing written: a profile with this email exists (a roster import, or a concurrent
    /// first sign-in that committed first); the full decision links it.
    EmailTaken,
}

/// Inserts `row`, its link to (`issuer`, `subject`), its membership of the tenant's
/// default group (if it has one) and `event` (about `row`), all or nothing, if the tenant
/// has JIT on at this moment and no profile has the email. Another identity taking the same
/// (issuer, subject) first is `Err(DatabaseError(UniqueViolation, _))` and writes nothing.
/// Inside a transaction on PostgreSQL, wrap it in a savepoint
/// ([`super::insert_tolerating_conflict`]) so that a conflict does not abort the transaction.
pub fn create(
    conn: &mut AnyConnection,
    row: &NewProfileRow,
    issuer: &str,
    subject: &str,
    event: &NewAuditEvent<'_>,
) -> QueryResult<Created> {
    match &mut *conn {
        AnyConnection::Postgresql(c) => {
            let details = event.details.to_string();
            let query = CreateProfile {
                row,
                identity_id: new_id(),
                issuer,
                subject,
                audit: AuditFrom::new(event, row.created_at, &details),
            };
            if query.execute(c)? == 1 {
                return Ok(Created::Yes);
            }
            // Rare: nothing was written; one more read says why.
            Ok(match jit_enabled_now(conn, &row.tenant_id)? {
                true => Created::EmailTaken,
                false => Created::JitOff,
            })
        }
        AnyConnection::Sqlite(_) => super::write_query_transaction(conn, |c| {
            if !jit_enabled_now(c, &row.tenant_id)? {
                return Ok(Created::JitOff);
            }
            if profiles::find_by_email(c, &row.tenant_id, &row.email_normalized)?.is_some() {
                return Ok(Created::EmailTaken);
            }
            profiles::insert(c, row)?;
            profiles::insert_identity(c, &row.tenant_id, issuer, subject, &row.id)?;
            if let Some(group) = tenants::default_group(c, &row.tenant_id)? {
                profiles::insert_membership(c, &group.id, &row.id)?;
            }
            let event = NewAuditEvent {
                profile_id: Some(&row.id),
                ..event.clone()
            };
            audit::insert_at(c, row.created_at, &event).map(|_| Created::Yes)
        }),
    }
}

/// JIT as the tenant has it now, not as the sign-in read it at its start.
fn jit_enabled_now(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<bool> {
    Ok(tenants::find_by_id(conn, tenant_id)?.is_some_and(|t| t.jit_enabled))
}

/// The columns of [`ProfileRow`], in its field order, qualified by `p.`.
const PROFILE_COLUMNS: &str = "p.id, p.tenant_id, p.email, p.email_normalized, p.first_name, \
    p.last_name, p.role, p.locale, p.time_zone, p.status, p.created_via, p.created_at, \
    p.last_sign_in_at, p.sessions_revoked_at";

type ProfileSql = (
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    BigInt,
    Nullable<BigInt>,
    Nullable<BigInt>,
);

/// The audit event columns filled from a CTE named `from` that has `id` and `tenant_id`.
struct AuditFrom<'a> {
    event_id: String,
    at: i64,
    kind: &'a str,
    actor: &'a str,
    request_id: Option<&'a str>,
    details: &'a str,
}

impl<'a> AuditFrom<'a> {
    fn new(event: &NewAuditEvent<'a>, at: i64, details: &'a str) -> AuditFrom<'a> {
        AuditFrom {
            event_id: new_id(),
            at,
            kind: event.kind,
            actor: event.actor,
            request_id: event.request_id,
            details,
        }
    }

    fn walk<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>, from: &str) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO audit_events \
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
        out.push_sql(" FROM ");
        out.push_sql(from);
        Ok(())
    }
}

/// `WITH found AS (SELECT ... identities JOIN profiles), touched AS (UPDATE profiles ...
/// WHERE active and as expected RETURNING ...), audited AS (INSERT INTO audit_events ...)
/// SELECT found.*, touched?`. Its SQL never varies, so diesel keeps it prepared.
struct FindAndRecord<'a> {
    key: IdentityKey<'a>,
    expected: Expected<'a>,
    at: i64,
    audit: AuditFrom<'a>,
}

impl QueryId for FindAndRecord<'_> {
    type QueryId = FindAndRecord<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for FindAndRecord<'_> {
    type SqlType = (ProfileSql, Bool);
}

impl QueryFragment<Pg> for FindAndRecord<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH found AS (SELECT ");
        out.push_sql(PROFILE_COLUMNS);
        out.push_sql(
            " FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE i.tenant_id = ",
        );
        out.push_bind_param::<Text, _>(&self.key.tenant_id)?;
        out.push_sql(" AND i.issuer = ");
        out.push_bind_param::<Text, _>(&self.key.issuer)?;
        out.push_sql(" AND i.subject = ");
        out.push_bind_param::<Text, _>(&self.key.subject)?;
        out.push_sql("), touched AS (UPDATE profiles SET last_sign_in_at = ");
        out.push_bind_param::<BigInt, _>(&self.at)?;
        out.push_sql(" WHERE id = (SELECT id FROM found) AND status = '");
        out.push_sql(STATUS_ACTIVE);
        out.push_sql("'");
        let expected = [
            ("email_normalized", &self.expected.email_normalized),
            ("first_name", &self.expected.first_name),
            ("last_name", &self.expected.last_name),
        ];
        for (column, value) in expected {
            // `$n IS NULL OR column = $n`: one prepared statement whatever is expected.
            out.push_sql(" AND (");
            out.push_bind_param::<Nullable<Text>, _>(value)?;
            out.push_sql(" IS NULL OR ");
            out.push_sql(column);
            out.push_sql(" = ");
            out.push_bind_param::<Nullable<Text>, _>(value)?;
            out.push_sql(")");
        }
        out.push_sql(" RETURNING id, tenant_id), audited AS (");
        self.audit.walk(&mut out, "touched")?;
        out.push_sql(") SELECT ");
        out.push_sql(PROFILE_COLUMNS);
        out.push_sql(", EXISTS (SELECT 1 FROM touched) FROM found p");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for FindAndRecord<'_> {}

/// `WITH created AS (INSERT INTO profiles ... RETURNING ...), linked AS (INSERT INTO
/// identities ...), joined AS (INSERT INTO memberships ... default group), INSERT INTO
/// audit_events ...`: one statement, so all or nothing.
struct CreateProfile<'a> {
    row: &'a NewProfileRow,
    identity_id: String,
    issuer: &'a str,
    subject: &'a str,
    audit: AuditFrom<'a>,
}

impl QueryId for CreateProfile<'_> {
    type QueryId = CreateProfile<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for CreateProfile<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let r = self.row;
        out.push_sql(
            "WITH created AS (INSERT INTO profiles (id, tenant_id, email, email_normalized, \
             first_name, last_name, role, locale, time_zone, status, created_via, created_at, \
             last_sign_in_at, sessions_revoked_at) SELECT ",
        );
        for (i, text) in [
            &r.id,
            &r.tenant_id,
            &r.email,
            &r.email_normalized,
            &r.first_name,
            &r.last_name,
            &r.role,
            &r.locale,
            &r.time_zone,
            &r.status,
            &r.created_via,
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<Text, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&r.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.last_sign_in_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&r.sessions_revoked_at)?;
        // JIT as it is now, not as the sign-in found it: switched off meanwhile, nothing
        // is created.
        out.push_sql(" WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ");
        out.push_bind_param::<Text, _>(&r.tenant_id)?;
        // A profile with this email (a roster import, a concurrent first sign-in) is
        // not an error: nothing is created and the caller goes on to the full decision,
        // which links it. The unique index answers that, not a prior lookup whose cached
        // plan could have been made while the table was empty (then it scans the tenant).
        out.push_sql(
            " AND jit_enabled) ON CONFLICT DO NOTHING RETURNING id, tenant_id, created_at), \
             linked AS (INSERT INTO identities \
             (id, tenant_id, issuer, subject, profile_id, created_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(&self.identity_id)?;
        out.push_sql(", tenant_id, ");
        out.push_bind_param::<Text, _>(&self.issuer)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.subject)?;
        out.push_sql(
            ", id, created_at FROM created), joined AS (INSERT INTO memberships \
             (group_id, profile_id, created_at) SELECT g.id, c.id, c.created_at \
             FROM created c JOIN tenant_groups g ON g.tenant_id = c.tenant_id AND g.is_default) ",
        );
        self.audit.walk(&mut out, "created")
    }
}

impl RunQueryDsl<diesel::PgConnection> for CreateProfile<'_> {}
