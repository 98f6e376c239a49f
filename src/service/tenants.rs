//! Tenant administration for support staff: register, switch JIT, read the roster and audit.

use crate::crypto::SecretBox;
use crate::db::audit::{self, AuditRow, NewAuditEvent};
use crate::db::profiles::{self, ProfileRow};
use crate::db::tenants::{self, NewTenant, TenantRow};
use crate::db::{is_unique_violation, write_transaction, Db, DbError};
use crate::domain::TenantSlug;
use crate::oidc::validate_issuer;
use crate::settings::Secret;
use serde_json::json;

pub(crate) use super::tenant_settings::write_settings;
pub use super::tenant_settings::{check_changes, update_settings};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no tenant named {0:?}")]
    UnknownTenant(String),
    #[error("no such profile in this tenant")]
    UnknownProfile,
    #[error("a tenant named {0:?} already exists")]
    Duplicate(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field,
        message: message.into(),
    }
}

/// The reason staff give for a change, as the audit trail keeps it: trimmed, not empty,
/// and storable (PostgreSQL refuses a NUL character in text).
pub(crate) fn reason(raw: &str, ask: &str) -> Result<String, AdminError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(invalid("reason", ask));
    }
    if reason.contains('\0') {
        return Err(invalid("reason", "must not contain a NUL character"));
    }
    Ok(reason.to_owned())
}

/// A client id as RFC 6749 (A.1) allows: printable ASCII; it also travels in the
/// browser's redirect to the provider, so it is kept short enough for one.
pub(crate) fn check_client_id(raw: &str) -> Result<(), AdminError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(invalid("client_id", "must not be empty"));
    }
    if id.len() > 255 || !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(invalid(
            "client_id",
            "must be at most 255 printable ASCII characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct TenantInput {
    pub slug: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub app_url: Option<String>,
    pub scopes: Option<String>,
}

/// Checks an operator's tenant settings; returns the validated slug.
fn validate(input: &TenantInput) -> Result<TenantSlug, AdminError> {
    let slug = TenantSlug::parse(&input.slug).map_err(|e| invalid("slug", e.to_string()))?;
    if input.display_name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    validate_issuer(&input.issuer).map_err(|m| invalid("issuer", m))?;
    check_client_id(&input.client_id)?;
    if input.client_secret.expose().is_empty() {
        return Err(invalid("client_secret", "must not be empty"));
    }
    if let Some(app_url) = &input.app_url {
        let absolute = url::Url::parse(app_url)
            .map(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or(false);
        if !absolute && crate::domain::ReturnTo::parse(app_url).is_none() {
            return Err(invalid(
                "app_url",
                "must be an http(s) URL or a path starting with /",
            ));
        }
    }
    if let Some(scopes) = &input.scopes {
        if !scopes.split_whitespace().any(|s| s == "openid") {
            return Err(invalid("scopes", "must include openid"));
        }
    }
    Ok(slug)
}

/// Registers a tenant with JIT off and its "Company Roster" group; audited.
pub async fn add_tenant(
    db: &Db,
    secrets: &SecretBox,
    input: TenantInput,
    actor: &str,
) -> Result<TenantRow, AdminError> {
    let slug = validate(&input)?;
    let new = NewTenant {
        slug: slug.as_str().to_owned(),
        display_name: input.display_name.trim().to_owned(),
        issuer: input.issuer.clone(),
        client_id: input.client_id.trim().to_owned(),
        client_secret_enc: secrets.seal(input.client_secret.expose()),
        scopes: input
            .scopes
            .clone()
            .unwrap_or_else(|| "openid email profile".to_owned()),
        app_url: input.app_url.clone(),
        jit_enabled: false,
    };
    let actor = actor.to_owned();
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let row = tenants::insert_with_roster_group(conn, &new).map_err(|e| {
                if is_unique_violation(&e) {
                    AdminError::Duplicate(new.slug.clone())
                } else {
                    AdminError::Db(e.into())
                }
            })?;
            audit::insert(
                conn,
                &NewAuditEvent {
                    tenant_id: Some(&row.id),
                    kind: "tenant_created",
                    actor: &actor,
                    profile_id: None,
                    request_id: None,
                    details: json!({ "slug": row.slug, "issuer": row.issuer, "client_id": row.client_id }),
                },
            )
            .map_err(DbError::from)?;
            Ok(row)
        })
    })
    .await
}

/// Turns JIT on or off; audited with the reason and old -> new. Returns the previous value;
/// switching to the state it is already in changes nothing and records nothing.
pub async fn set_jit(
    db: &Db,
    slug: &str,
    enabled: bool,
    reason: &str,
    actor: &str,
) -> Result<bool, AdminError> {
    let reason = self::reason(reason, "say why JIT is being switched")?;
    let (slug, actor) = (slug.to_owned(), actor.to_owned());
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let tenant = tenants::find_by_slug(conn, &slug)
                .map_err(DbError::from)?
                .ok_or_else(|| AdminError::UnknownTenant(slug.clone()))?;
            if tenant.jit_enabled == enabled {
                return Ok(enabled);
            }
            tenants::update_jit(conn, &tenant.id, enabled).map_err(DbError::from)?;
            audit::insert(
                conn,
                &NewAuditEvent {
                    tenant_id: Some(&tenant.id),
                    kind: "jit_changed",
                    actor: &actor,
                    profile_id: None,
                    request_id: None,
                    details: json!({ "old": tenant.jit_enabled, "new": enabled, "reason": reason }),
                },
            )
            .map_err(DbError::from)?;
            Ok(tenant.jit_enabled)
        })
    })
    .await
}

pub async fn list(db: &Db) -> Result<Vec<TenantRow>, AdminError> {
    db.run(|conn| tenants::list_all(conn).map_err(|e| AdminError::Db(e.into())))
        .await
}

pub async fn find(db: &Db, slug: &str) -> Result<Option<TenantRow>, DbError> {
    let slug = slug.to_owned();
    db.run(move |conn| tenants::find_by_slug(conn, &slug).map_err(DbError::from))
        .await
}

/// Tenants registered with exactly this issuer (at most two are returned: enough to
/// tell "one" from "several").
pub async fn find_by_issuer(db: &Db, issuer: &str) -> Result<Vec<TenantRow>, DbError> {
    let issuer = issuer.to_owned();
    db.run(move |conn| tenants::find_by_issuer(conn, &issuer).map_err(DbError::from))
        .await
}

/// The tenant's profiles, oldest first.
pub async fn roster(db: &Db, slug: &str) -> Result<(TenantRow, Vec<ProfileRow>), AdminError> {
    let slug = slug.to_owned();
    db.run(move |conn| {
        let tenant = tenants::find_by_slug(conn, &slug)
            .map_err(DbError::from)?
            .ok_or_else(|| AdminError::UnknownTenant(slug.clone()))?;
        let rows = profiles::list_by_tenant(conn, &tenant.id).map_err(DbError::from)?;
        Ok((tenant, rows))
    })
    .await
}

/// The tenant's audit trail, newest first.
pub async fn audit_trail(db: &Db, slug: &str, limit: i64) -> Result<Vec<AuditRow>, AdminError> {
    let slug = slug.to_owned();
    db.run(move |conn| {
        let tenant = tenants::find_by_slug(conn, &slug)
            .map_err(DbError::from)?
            .ok_or_else(|| AdminError::UnknownTenant(slug.clone()))?;
        Ok(audit::list_by_tenant(conn, &tenant.id, limit).map_err(DbError::from)?)
    })
    .await
}

/// Creates or refreshes the demo tenant (JIT on) pointing at the built-in provider.
/// A tenant named `demo` that is not the demo tenant is never taken over.
pub async fn ensure_demo_tenant(
    db: &Db,
    secrets: &SecretBox,
    issuer: &str,
    client_id: &str,
    client_secret: &str,
) -> Result<TenantRow, AdminError> {
    const SLUG: &str = "demo";
    if let Some(tenant) = find(db, SLUG).await? {
        let is_demo = tenant.client_id == client_id && tenant.issuer.ends_with("/dev-idp");
        if !is_demo {
            return Err(invalid(
                "slug",
                "a real tenant is named \"demo\"; demo mode refuses to take it over (use another database for the demo)",
            ));
        }
        let (id, issuer, client_id) = (tenant.id.clone(), issuer.to_owned(), client_id.to_owned());
        let sealed = secrets.seal(client_secret);
        db.run(move |conn| {
            tenants::update_provider(conn, &id, &issuer, &client_id, &sealed).map_err(DbError::from)
        })
        .await?;
        return Ok(find(db, SLUG).await?.unwrap_or(tenant));
    }
    let tenant = add_tenant(
        db,
        secrets,
        TenantInput {
            slug: SLUG.into(),
            display_name: "Demo Company".into(),
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: Secret::new(client_secret),
            app_url: Some("/".into()),
            scopes: None,
        },
        "demo",
    )
    .await?;
    set_jit(db, SLUG, true, "demo tenant", "demo").await?;
    Ok(find(db, SLUG).await?.unwrap_or(tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_trimmed_required_and_storable() {
        assert_eq!(reason("  ticket 42 \n", "say why").unwrap(), "ticket 42");
        for (raw, message) in [
            (" \t", "say why"),
            ("ticket\u{0}42", "must not contain a NUL character"),
        ] {
            match reason(raw, "say why") {
                Err(AdminError::Invalid { field, message: m }) => {
                    assert_eq!((field, m.as_str()), ("reason", message))
                }
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }
}
