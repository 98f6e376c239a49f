//! Support staff operations beyond tenant registration: provider changes, profile
//! lifecycle, paged roster and audit, and the integration check.

use crate::crypto::SecretBox;
use crate::db::audit::{self, AuditQuery, AuditRow, NewAuditEvent};
use crate::db::profiles::{self, IdentityRow, ProfileRow, RosterQuery};
use crate::db::tenants::{self, TenantChanges, TenantRow};
use crate::db::{write_transaction, AnyConnection, Db, DbError};
use crate::domain::{STATUS_ACTIVE, STATUS_DEACTIVATED};
use crate::oidc::{validate_issuer, ProviderCache};
use crate::service::tenants::{
    check_changes, check_client_id, invalid, reason, write_settings, AdminError,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use serde_json::json;

pub const MAX_PAGE: i64 = 200;

/// An opaque continuation token for `(time, id)` ordered lists.
pub fn encode_cursor(at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<(i64, String), AdminError> {
    let bad = || invalid("cursor", "not a cursor returned by this API");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    // The id is compared in the database, which cannot even compare a NUL character.
    if !crate::db::storable(id) {
        return Err(bad());
    }
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

fn tenant_in(conn: &mut AnyConnection, slug: &str) -> Result<TenantRow, AdminError> {
    tenants::find_by_slug(conn, slug)
        .map_err(DbError::from)?
        .ok_or_else(|| AdminError::UnknownTenant(slug.to_owned()))
}

/// A profile of the tenant `slug`; one of another tenant is unknown here.
fn tenant_and_profile(
    conn: &mut AnyConnection,
    slug: &str,
    id: &str,
) -> Result<(TenantRow, ProfileRow), AdminError> {
    let t = tenant_in(conn, slug)?;
    let p = profiles::find_by_id(conn, id)
        .map_err(DbError::from)?
        .filter(|p| p.tenant_id == t.id)
        .ok_or(AdminError::UnknownProfile)?;
    Ok((t, p))
}

fn record(
    conn: &mut AnyConnection,
    tenant: &TenantRow,
    kind: &str,
    actor: &str,
    profile_id: Option<&str>,
    details: serde_json::Value,
) -> Result<(), AdminError> {
    audit::insert(
        conn,
        &NewAuditEvent {
            tenant_id: Some(&tenant.id),
            kind,
            actor,
            profile_id,
            request_id: None,
            details,
        },
    )
    .map_err(|e| AdminError::Db(e.into()))
}

/// New provider settings for a tenant; `None` keeps a value.
#[derive(Debug, Clone, Default)]
pub struct ProviderChange {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl ProviderChange {
    fn is_empty(&self) -> bool {
        self.issuer.is_none() && self.client_id.is_none() && self.client_secret.is_none()
    }

    /// Checks the new values; returns the client secret sealed for storage.
    fn check(&self, secrets: &SecretBox) -> Result<Option<String>, AdminError> {
        if let Some(issuer) = &self.issuer {
            validate_issuer(issuer).map_err(|m| invalid("issuer", m))?;
        }
        if let Some(client_id) = &self.client_id {
            check_client_id(client_id)?;
        }
        if self.client_secret.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("client_secret", "must not be empty"));
        }
        Ok(self.client_secret.as_deref().map(|s| secrets.seal(s)))
    }

    /// Writes the change over `t` and audits it; inside the caller's transaction.
    fn write(
        &self,
        conn: &mut AnyConnection,
        t: &TenantRow,
        sealed: Option<&str>,
        actor: &str,
    ) -> Result<TenantRow, AdminError> {
        let issuer = self.issuer.clone().unwrap_or(t.issuer.clone());
        let client_id = self.client_id.clone().unwrap_or(t.client_id.clone());
        let secret = sealed.unwrap_or(&t.client_secret_enc);
        tenants::update_provider(conn, &t.id, &issuer, client_id.trim(), secret)
            .map_err(DbError::from)?;
        let details = json!({
            "issuer": [t.issuer, issuer],
            "client_id": [t.client_id, client_id],
            "client_secret_changed": sealed.is_some(),
        });
        record(conn, t, "provider_changed", actor, None, details)?;
        tenant_in(conn, &t.slug)
    }
}

/// Changes a tenant's provider; audited. The cached discovery of the old and new issuer is
/// forgotten.
pub async fn change_provider(
    db: &Db,
    secrets: &SecretBox,
    cache: Option<&ProviderCache>,
    slug: &str,
    change: ProviderChange,
    actor: &str,
) -> Result<TenantRow, AdminError> {
    update_tenant(
        db,
        secrets,
        cache,
        slug,
        change,
        TenantChanges::default(),
        actor,
    )
    .await
}

/// A provider change and settings changes, all checked first and written in one
/// transaction: a request refused for one field, or a database failing half-way, changes
/// nothing.
pub async fn update_tenant(
    db: &Db,
    secrets: &SecretBox,
    cache: Option<&ProviderCache>,
    slug: &str,
    provider: ProviderChange,
    mut changes: TenantChanges,
    actor: &str,
) -> Result<TenantRow, AdminError> {
    let sealed = provider.check(secrets)?;
    check_changes(&mut changes)?;
    let (slug, actor) = (slug.to_owned(), actor.to_owned());
    let (before, after) = db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let t = tenant_in(conn, &slug)?;
                let mid = if provider.is_empty() {
                    t.clone()
                } else {
                    provider.write(conn, &t, sealed.as_deref(), &actor)?
                };
                let after = write_settings(conn, &mid, &changes, &actor)?;
                Ok::<_, AdminError>((t, after))
            })
        })
        .await?;
    if let Some(cache) = cache {
        cache.forget(&before.issuer);
        cache.forget(&after.issuer);
    }
    Ok(after)
}

/// Deactivates or reactivates a profile, with a reason; audited.
pub async fn set_profile_active(
    db: &Db,
    slug: &str,
    profile_id: &str,
    active: bool,
    reason: &str,
    actor: &str,
) -> Result<ProfileRow, AdminError> {
    let reason = self::reason(reason, "say why")?;
    let (slug, id, actor) = (slug.to_owned(), profile_id.to_owned(), actor.to_owned());
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let (t, p) = tenant_and_profile(conn, &slug, &id)?;
            let status = if active {
                STATUS_ACTIVE
            } else {
                STATUS_DEACTIVATED
            };
            profiles::set_status(conn, &p.id, status).map_err(DbError::from)?;
            let kind = if active {
                "profile_reactivated"
            } else {
                "profile_deactivated"
            };
            let details = json!({ "old": p.status, "new": status, "reason": reason });
            record(conn, &t, kind, &actor, Some(&p.id), details)?;
            Ok(ProfileRow {
                status: status.to_owned(),
                ..p
            })
        })
    })
    .await
}

/// Removes a profile's identity links, with a reason; audited with the links removed.
/// For a provider that now sends everyone new subjects (an Entra app registered again):
/// the sign-in is refused as an identity conflict rather than handed to a stranger, and
/// after this the next sign-in with the profile's verified email links the new subject.
pub async fn unlink_identities(
    db: &Db,
    slug: &str,
    profile_id: &str,
    reason: &str,
    actor: &str,
) -> Result<Vec<IdentityRow>, AdminError> {
    let reason = self::reason(reason, "say why")?;
    let (slug, id, actor) = (slug.to_owned(), profile_id.to_owned(), actor.to_owned());
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let (t, p) = tenant_and_profile(conn, &slug, &id)?;
            let links = profiles::identities_of(conn, &p.id).map_err(DbError::from)?;
            if !links.is_empty() {
                profiles::unlink_identities(conn, &p.id).map_err(DbError::from)?;
                let removed: Vec<_> = links
                    .iter()
                    .map(|l| json!({ "issuer": l.issuer, "subject": l.subject }))
                    .collect();
                let details = json!({ "removed": removed, "reason": reason });
                record(
                    conn,
                    &t,
                    "identities_unlinked",
                    &actor,
                    Some(&p.id),
                    details,
                )?;
            }
            Ok(links)
        })
    })
    .await
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub async fn roster_page(
    db: &Db,
    slug: &str,
    mut q: RosterQuery,
) -> Result<Page<ProfileRow>, AdminError> {
    q.limit = q.limit.clamp(1, MAX_PAGE);
    let slug = slug.to_owned();
    db.run(move |conn| {
        let t = tenant_in(conn, &slug)?;
        let items = profiles::search(conn, &t.id, &q).map_err(DbError::from)?;
        let next_cursor = (items.len() as i64 == q.limit)
            .then(|| items.last().map(|p| encode_cursor(p.created_at, &p.id)))
            .flatten();
        Ok(Page { items, next_cursor })
    })
    .await
}

pub async fn profile_with_links(
    db: &Db,
    slug: &str,
    id: &str,
) -> Result<(ProfileRow, Vec<IdentityRow>), AdminError> {
    let (slug, id) = (slug.to_owned(), id.to_owned());
    db.run(move |conn| {
        let (_, p) = tenant_and_profile(conn, &slug, &id)?;
        let links = profiles::identities_of(conn, &p.id).map_err(DbError::from)?;
        Ok((p, links))
    })
    .await
}

pub async fn audit_page(
    db: &Db,
    slug: &str,
    mut q: AuditQuery,
) -> Result<Page<AuditRow>, AdminError> {
    q.limit = q.limit.clamp(1, MAX_PAGE);
    let slug = slug.to_owned();
    db.run(move |conn| {
        let t = tenant_in(conn, &slug)?;
        let items = audit::search(conn, &t.id, &q).map_err(DbError::from)?;
        let next_cursor = (items.len() as i64 == q.limit)
            .then(|| items.last().map(|e| encode_cursor(e.occurred_at, &e.id)))
            .flatten();
        Ok(Page { items, next_cursor })
    })
    .await
}

/// The time of the last successful sign-in in a tenant.
pub async fn last_sign_in(db: &Db, slug: &str) -> Result<(TenantRow, Option<i64>), AdminError> {
    let slug = slug.to_owned();
    db.run(move |conn| {
        let t = tenant_in(conn, &slug)?;
        let last = profiles::last_sign_in(conn, &t.id).map_err(DbError::from)?;
        Ok((t, last))
    })
    .await
}
