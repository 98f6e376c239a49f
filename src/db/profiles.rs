//! Profiles, their identity links and roster memberships.

use super::schema::{identities, memberships, profiles, tenant_groups};
use super::{new_id, now_millis, AnyConnection};
use diesel::prelude::*;
use diesel::result::Error as DieselError;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = profiles)]
pub struct ProfileRow {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub email_normalized: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub locale: String,
    pub time_zone: String,
    pub status: String,
    pub created_via: String,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    pub sessions_revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = profiles)]
pub struct NewProfileRow {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub email_normalized: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub locale: String,
    pub time_zone: String,
    pub status: String,
    pub created_via: String,
    pub created_at: i64,
    pub last_sign_in_at: Option<i64>,
    pub sessions_revoked_at: Option<i64>,
}

impl From<NewProfileRow> for ProfileRow {
    fn from(r: NewProfileRow) -> ProfileRow {
        ProfileRow {
            id: r.id,
            tenant_id: r.tenant_id,
            email: r.email,
            email_normalized: r.email_normalized,
            first_name: r.first_name,
            last_name: r.last_name,
            role: r.role,
            locale: r.locale,
            time_zone: r.time_zone,
            status: r.status,
            created_via: r.created_via,
            created_at: r.created_at,
            last_sign_in_at: r.last_sign_in_at,
            sessions_revoked_at: r.sessions_revoked_at,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = identities)]
pub struct IdentityRow {
    pub id: String,
    pub tenant_id: String,
    pub issuer: String,
    pub subject: String,
    pub profile_id: String,
    pub created_at: i64,
}

pub fn find_by_id(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<ProfileRow>> {
    if !super::storable(id) {
        return Ok(None);
    }
    profiles::table
        .find(id)
        .select(ProfileRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_email(
    conn: &mut AnyConnection,
    tenant_id: &str,
    email_normalized: &str,
) -> QueryResult<Option<ProfileRow>> {
    profiles::table
        .filter(profiles::tenant_id.eq(tenant_id))
        .filter(profiles::email_normalized.eq(email_normalized))
        .select(ProfileRow::as_select())
        .first(conn)
        .optional()
}

/// The profile as it is now, locked until the end of the transaction (`FOR UPDATE` on
/// PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the whole database). A decision
/// that reads, then writes, must start from this: under PostgreSQL's READ COMMITTED two
/// sign-ins (or a sign-in and a deactivation) would otherwise both act on what they read.
pub fn lock(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<ProfileRow>> {
    let query = profiles::table.find(id);
    match conn {
        AnyConnection::Postgresql(c) => query
            .select(ProfileRow::as_select())
            .for_update()
            .first(c)
            .optional(),
        AnyConnection::Sqlite(c) => query.select(ProfileRow::as_select()).first(c).optional(),
    }
}

/// The profile linked to (tenant, issuer, subject), found in one statement.
pub fn find_by_identity(
    conn: &mut AnyConnection,
    tenant_id: &str,
    issuer: &str,
    subject: &str,
) -> QueryResult<Option<ProfileRow>> {
    identities::table
        .inner_join(profiles::table)
        .filter(identities::tenant_id.eq(tenant_id))
        .filter(identities::issuer.eq(issuer))
        .filter(identities::subject.eq(subject))
        .select(ProfileRow::as_select())
        .first(conn)
        .optional()
}

pub fn identities_of(conn: &mut AnyConnection, profile_id: &str) -> QueryResult<Vec<IdentityRow>> {
    identities::table
        .filter(identities::profile_id.eq(profile_id))
        .order(identities::created_at.asc())
        .select(IdentityRow::as_select())
        .load(conn)
}

/// Removes a profile's identity links; its next sign-in links again by verified email.
pub fn unlink_identities(conn: &mut AnyConnection, profile_id: &str) -> QueryResult<usize> {
    diesel::delete(identities::table.filter(identities::profile_id.eq(profile_id))).execute(conn)
}

pub fn list_by_tenant(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<Vec<ProfileRow>> {
    profiles::table
        .filter(profiles::tenant_id.eq(tenant_id))
        .order((profiles::created_at.asc(), profiles::id.asc()))
        .select(ProfileRow::as_select())
        .load(conn)
}

pub fn insert(conn: &mut AnyConnection, row: &NewProfileRow) -> Result<(), DieselError> {
    diesel::insert_into(profiles::table)
        .values(row)
        .execute(conn)
        .map(drop)
}

pub fn insert_identity(
    conn: &mut AnyConnection,
    tenant_id: &str,
    issuer: &str,
    subject: &str,
    profile_id: &str,
) -> Result<(), DieselError> {
    diesel::insert_into(identities::table)
        .values((
            identities::id.eq(new_id()),
            identities::tenant_id.eq(tenant_id),
            identities::issuer.eq(issuer),
            identities::subject.eq(subject),
            identities::profile_id.eq(profile_id),
            identities::created_at.eq(now_millis()),
        ))
        .execute(conn)
        .map(drop)
}

pub fn insert_membership(
    conn: &mut AnyConnection,
    group_id: &str,
    profile_id: &str,
) -> Result<(), DieselError> {
    diesel::insert_into(memberships::table)
        .values((
            memberships::group_id.eq(group_id),
            memberships::profile_id.eq(profile_id),
            memberships::created_at.eq(now_millis()),
        ))
        .execute(conn)
        .map(drop)
}

/// Names of the groups a profile belongs to.
pub fn group_names(conn: &mut AnyConnection, profile_id: &str) -> QueryResult<Vec<String>> {
    memberships::table
        .inner_join(tenant_groups::table)
        .filter(memberships::profile_id.eq(profile_id))
        .order(tenant_groups::name.asc())
        .select(tenant_groups::name)
        .load(conn)
}

pub fn touch_sign_in(conn: &mut AnyConnection, id: &str, at: i64) -> QueryResult<usize> {
    diesel::update(profiles::table.find(id))
        .set(profiles::last_sign_in_at.eq(at))
        .execute(conn)
}

/// Count of profiles in a tenant.
pub fn count_by_tenant(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<i64> {
    profiles::table
        .filter(profiles::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)
}

pub fn update_email(
    conn: &mut AnyConnection,
    id: &str,
    email: &str,
    email_normalized: &str,
) -> Result<(), DieselError> {
    diesel::update(profiles::table.find(id))
        .set((
            profiles::email.eq(email),
            profiles::email_normalized.eq(email_normalized),
        ))
        .execute(conn)
        .map(drop)
}

pub fn update_names(
    conn: &mut AnyConnection,
    id: &str,
    first_name: &str,
    last_name: &str,
) -> QueryResult<usize> {
    diesel::update(profiles::table.find(id))
        .set((
            profiles::first_name.eq(first_name),
            profiles::last_name.eq(last_name),
        ))
        .execute(conn)
}

/// Ends every session of the profile issued before `at` (sign-out).
pub fn revoke_sessions(conn: &mut AnyConnection, id: &str, at: i64) -> QueryResult<usize> {
    diesel::update(profiles::table.find(id))
        .set(profiles::sessions_revoked_at.eq(at))
        .execute(conn)
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Roster search: text in email or names, how the profile was created, creation window;
/// ordered by (created_at, id) and continued after `after` (a cursor).
#[derive(Debug, Clone, Default)]
pub struct RosterQuery {
    pub text: Option<String>,
    pub created_via: Option<String>,
    pub created_from: Option<i64>,
    pub created_until: Option<i64>,
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

pub fn search(
    conn: &mut AnyConnection,
    tenant_id: &str,
    q: &RosterQuery,
) -> QueryResult<Vec<ProfileRow>> {
    let mut query = profiles::table
        .filter(profiles::tenant_id.eq(tenant_id))
        .into_boxed();
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        query = query.filter(
            profiles::email_normalized
                .like(pattern.clone())
                .escape('\\')
                .or(lower(profiles::first_name)
                    .like(pattern.clone())
                    .escape('\\'))
                .or(lower(profiles::last_name).like(pattern).escape('\\')),
        );
    }
    if let Some(via) = &q.created_via {
        query = query.filter(profiles::created_via.eq(via.clone()));
    }
    if let Some(from) = q.created_from {
        query = query.filter(profiles::created_at.ge(from));
    }
    if let Some(until) = q.created_until {
        query = query.filter(profiles::created_at.lt(until));
    }
    if let Some((at, id)) = &q.after {
        query = query.filter(
            profiles::created_at.gt(*at).or(profiles::created_at
                .eq(*at)
                .and(profiles::id.gt(id.clone()))),
        );
    }
    query
        .order((profiles::created_at.asc(), profiles::id.asc()))
        .limit(q.limit)
        .select(ProfileRow::as_select())
        .load(conn)
}

pub fn set_status(conn: &mut AnyConnection, id: &str, status: &str) -> QueryResult<usize> {
    diesel::update(profiles::table.find(id))
        .set(profiles::status.eq(status))
        .execute(conn)
}

/// The most recent sign-in in a tenant.
pub fn last_sign_in(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<Option<i64>> {
    profiles::table
        .filter(profiles::tenant_id.eq(tenant_id))
        .select(diesel::dsl::max(profiles::last_sign_in_at))
        .first(conn)
}
