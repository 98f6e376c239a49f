//! Changing a tenant's sign-in settings (claim mapping, email trust, domains, profile
//! defaults, app URL): checked as a whole before anything is written, audited as a diff.

use super::tenants::{invalid, AdminError};
use crate::db::audit::{self, NewAuditEvent};
use crate::db::tenants::{self, TenantChanges, TenantRow};
use crate::db::{write_transaction, AnyConnection, Db, DbError};
use serde_json::json;

/// Changes a tenant's claim mapping, email trust, domains, defaults or app URL; audited
/// with the old and new values.
pub async fn update_settings(
    db: &Db,
    slug: &str,
    mut changes: TenantChanges,
    actor: &str,
) -> Result<TenantRow, AdminError> {
    check_changes(&mut changes)?;
    let (slug, actor) = (slug.to_owned(), actor.to_owned());
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            let before = tenants::find_by_slug(conn, &slug)
                .map_err(DbError::from)?
                .ok_or_else(|| AdminError::UnknownTenant(slug.clone()))?;
            write_settings(conn, &before, &changes, &actor)
        })
    })
    .await
}

/// Writes checked settings changes over `before` and audits what differs (a request that
/// changes nothing records nothing); inside the caller's transaction.
pub(crate) fn write_settings(
    conn: &mut AnyConnection,
    before: &TenantRow,
    changes: &TenantChanges,
    actor: &str,
) -> Result<TenantRow, AdminError> {
    let changes = TenantChanges {
        updated_at: Some(crate::db::now_millis()),
        ..changes.clone()
    };
    tenants::update_settings(conn, &before.id, &changes).map_err(DbError::from)?;
    let after = tenants::find_by_id(conn, &before.id)
        .map_err(DbError::from)?
        .ok_or_else(|| AdminError::UnknownTenant(before.slug.clone()))?;
    let diff = settings_diff(before, &after);
    if diff.as_object().is_some_and(|d| !d.is_empty()) {
        audit::insert(
            conn,
            &NewAuditEvent {
                tenant_id: Some(&after.id),
                kind: "tenant_updated",
                actor,
                profile_id: None,
                request_id: None,
                details: json!({ "changes": diff }),
            },
        )
        .map_err(DbError::from)?;
    }
    Ok(after)
}

/// Checks and normalizes settings changes (as `update_settings` does). Callers that also
/// change the provider call it first, so that a request refused for one field changes
/// nothing at all.
pub fn check_changes(changes: &mut TenantChanges) -> Result<(), AdminError> {
    if let Some(name) = &changes.display_name {
        let name = name.trim();
        if name.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        changes.display_name = Some(name.to_owned());
    }
    // Copied onto every new profile: a blank default would create profiles without a
    // role, locale or time zone.
    for (field, value) in [
        ("default_role", &mut changes.default_role),
        ("default_locale", &mut changes.default_locale),
        ("default_time_zone", &mut changes.default_time_zone),
    ] {
        if let Some(v) = value {
            let trimmed = v.trim();
            if trimmed.is_empty() || trimmed.len() > 64 || trimmed.chars().any(char::is_control) {
                return Err(invalid(field, "must be a short, non-empty value"));
            }
            *v = trimmed.to_owned();
        }
    }
    for (field, value) in [
        ("email_claim", &changes.email_claim),
        ("given_name_claim", &changes.given_name_claim),
        ("family_name_claim", &changes.family_name_claim),
    ] {
        if let Some(v) = value {
            let ok = !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                return Err(invalid(field, "must be a claim name such as email or upn"));
            }
        }
    }
    if let Some(domains) = &changes.allowed_email_domains {
        let normalized: Vec<String> = domains
            .split([' ', ','])
            .filter(|d| !d.is_empty())
            .map(|d| d.trim_start_matches('@').to_ascii_lowercase())
            .collect();
        if normalized
            .iter()
            .any(|d| !d.contains('.') || d.contains('@'))
        {
            return Err(invalid(
                "allowed_email_domains",
                "list domains such as example.com",
            ));
        }
        changes.allowed_email_domains = Some(normalized.join(" "));
    }
    if let Some(Some(app_url)) = &changes.app_url {
        let absolute =
            url::Url::parse(app_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !absolute && crate::domain::ReturnTo::parse(app_url).is_none() {
            return Err(invalid(
                "app_url",
                "must be an http(s) URL or a path starting with /",
            ));
        }
    }
    Ok(())
}

/// What an update changed, setting by setting: `{"default_locale": {"old": .., "new": ..}}`.
fn settings_diff(before: &TenantRow, after: &TenantRow) -> serde_json::Value {
    let mut changed = serde_json::Map::new();
    macro_rules! compare {
        ($($field:ident),* $(,)?) => {$(
            if before.$field != after.$field {
                changed.insert(
                    stringify!($field).to_owned(),
                    json!({ "old": before.$field, "new": after.$field }),
                );
            }
        )*};
    }
    compare!(
        display_name,
        app_url,
        scopes,
        email_claim,
        given_name_claim,
        family_name_claim,
        trust_unstated_email,
        trust_username_email,
        allowed_email_domains,
        sync_names,
        default_role,
        default_locale,
        default_time_zone,
    );
    serde_json::Value::Object(changed)
}
