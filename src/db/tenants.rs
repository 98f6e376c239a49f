//! Tenants and their default roster group.

use super::schema::{tenant_groups, tenants};
use super::{new_id, now_millis, AnyConnection};
use crate::domain::{ProfileDefaults, DEFAULT_GROUP_NAME};
use diesel::prelude::*;
use diesel::result::Error as DieselError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct TenantRow {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    pub jit_enabled: bool,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_enc: String,
    pub scopes: String,
    pub app_url: Option<String>,
    pub default_role: String,
    pub default_locale: String,
    pub default_time_zone: String,
    pub email_claim: String,
    pub given_name_claim: String,
    pub family_name_claim: String,
    pub trust_unstated_email: bool,
    pub trust_username_email: bool,
    pub allowed_email_domains: String,
    pub sync_names: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TenantRow {
    pub fn profile_defaults(&self) -> ProfileDefaults {
        ProfileDefaults {
            role: self.default_role.clone(),
            locale: self.default_locale.clone(),
            time_zone: self.default_time_zone.clone(),
        }
    }
}

/// What an operator gives to register a tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_enc: String,
    pub scopes: String,
    pub app_url: Option<String>,
    pub jit_enabled: bool,
}

#[derive(Insertable)]
#[diesel(table_name = tenants)]
struct NewTenantRow<'a> {
    id: &'a str,
    slug: &'a str,
    display_name: &'a str,
    jit_enabled: bool,
    issuer: &'a str,
    client_id: &'a str,
    client_secret_enc: &'a str,
    scopes: &'a str,
    app_url: Option<&'a str>,
    default_role: &'a str,
    default_locale: &'a str,
    default_time_zone: &'a str,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenant_groups)]
pub struct GroupRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub is_default: bool,
    pub created_at: i64,
}

pub fn find_by_slug(conn: &mut AnyConnection, slug: &str) -> QueryResult<Option<TenantRow>> {
    if !super::storable(slug) {
        return Ok(None);
    }
    tenants::table
        .filter(tenants::slug.eq(slug))
        .select(TenantRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_id(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<TenantRow>> {
    if !super::storable(id) {
        return Ok(None);
    }
    tenants::table
        .find(id)
        .select(TenantRow::as_select())
        .first(conn)
        .optional()
}

pub fn list_all(conn: &mut AnyConnection) -> QueryResult<Vec<TenantRow>> {
    tenants::table
        .order(tenants::slug.asc())
        .select(TenantRow::as_select())
        .load(conn)
}

/// Inserts the tenant and its default "Company Roster" group. Call inside a transaction.
pub fn insert_with_roster_group(
    conn: &mut AnyConnection,
    new: &NewTenant,
) -> Result<TenantRow, DieselError> {
    let id = new_id();
    let now = now_millis();
    let defaults = ProfileDefaults::default();
    diesel::insert_into(tenants::table)
        .values(NewTenantRow {
            id: &id,
            slug: &new.slug,
            display_name: &new.display_name,
            jit_enabled: new.jit_enabled,
            issuer: &new.issuer,
            client_id: &new.client_id,
            client_secret_enc: &new.client_secret_enc,
            scopes: &new.scopes,
            app_url: new.app_url.as_deref(),
            default_role: &defaults.role,
            default_locale: &defaults.locale,
            default_time_zone: &defaults.time_zone,
            created_at: now,
            updated_at: now,
        })
        .execute(conn)?;
    diesel::insert_into(tenant_groups::table)
        .values((
            tenant_groups::id.eq(new_id()),
            tenant_groups::tenant_id.eq(&id),
            tenant_groups::name.eq(DEFAULT_GROUP_NAME),
            tenant_groups::is_default.eq(true),
            tenant_groups::created_at.eq(now),
        ))
        .execute(conn)?;
    tenants::table
        .find(&id)
        .select(TenantRow::as_select())
        .first(conn)
}

pub fn update_jit(conn: &mut AnyConnection, id: &str, enabled: bool) -> QueryResult<usize> {
    diesel::update(tenants::table.find(id))
        .set((
            tenants::jit_enabled.eq(enabled),
            tenants::updated_at.eq(now_millis()),
        ))
        .execute(conn)
}

/// Replaces the provider settings of an existing tenant.
pub fn update_provider(
    conn: &mut AnyConnection,
    id: &str,
    issuer: &str,
    client_id: &str,
    client_secret_enc: &str,
) -> QueryResult<usize> {
    diesel::update(tenants::table.find(id))
        .set((
            tenants::issuer.eq(issuer),
            tenants::client_id.eq(client_id),
            tenants::client_secret_enc.eq(client_secret_enc),
            tenants::updated_at.eq(now_millis()),
        ))
        .execute(conn)
}

pub fn default_group(conn: &mut AnyConnection, tenant_id: &str) -> QueryResult<Option<GroupRow>> {
    tenant_groups::table
        .filter(tenant_groups::tenant_id.eq(tenant_id))
        .filter(tenant_groups::is_default.eq(true))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_issuer(conn: &mut AnyConnection, issuer: &str) -> QueryResult<Vec<TenantRow>> {
    tenants::table
        .filter(tenants::issuer.eq(issuer))
        .limit(2)
        .select(TenantRow::as_select())
        .load(conn)
}

/// Changes to a tenant's sign-in settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = tenants)]
pub struct TenantChanges {
    pub display_name: Option<String>,
    pub app_url: Option<Option<String>>,
    pub scopes: Option<String>,
    pub email_claim: Option<String>,
    pub given_name_claim: Option<String>,
    pub family_name_claim: Option<String>,
    pub trust_unstated_email: Option<bool>,
    pub trust_username_email: Option<bool>,
    pub allowed_email_domains: Option<String>,
    pub sync_names: Option<bool>,
    pub default_role: Option<String>,
    pub default_locale: Option<String>,
    pub default_time_zone: Option<String>,
    pub updated_at: Option<i64>,
}

pub fn update_settings(
    conn: &mut AnyConnection,
    id: &str,
    changes: &TenantChanges,
) -> QueryResult<usize> {
    diesel::update(tenants::table.find(id))
        .set(changes)
        .execute(conn)
}
