//! Support staff API tokens.

use super::schema::staff_tokens;
use super::AnyConnection;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = staff_tokens)]
pub struct StaffTokenRow {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub read_only: bool,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    name: &str,
    secret_hash: &str,
    read_only: bool,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(staff_tokens::table)
        .values((
            staff_tokens::id.eq(id),
            staff_tokens::name.eq(name),
            staff_tokens::secret_hash.eq(secret_hash),
            staff_tokens::read_only.eq(read_only),
            staff_tokens::created_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

pub fn find_active(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<StaffTokenRow>> {
    staff_tokens::table
        .find(id)
        .filter(staff_tokens::revoked_at.is_null())
        .select(StaffTokenRow::as_select())
        .first(conn)
        .optional()
}

pub fn list(conn: &mut AnyConnection) -> QueryResult<Vec<StaffTokenRow>> {
    staff_tokens::table
        .order(staff_tokens::created_at.asc())
        .select(StaffTokenRow::as_select())
        .load(conn)
}

/// Revokes active tokens whose id or name is `who`; returns how many.
pub fn revoke(conn: &mut AnyConnection, who: &str, now: i64) -> QueryResult<usize> {
    diesel::update(
        staff_tokens::table
            .filter(staff_tokens::revoked_at.is_null())
            .filter(staff_tokens::id.eq(who).or(staff_tokens::name.eq(who))),
    )
    .set(staff_tokens::revoked_at.eq(now))
    .execute(conn)
}

pub fn touch(conn: &mut AnyConnection, id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(staff_tokens::table.find(id))
        .set(staff_tokens::last_used_at.eq(now))
        .execute(conn)
}
