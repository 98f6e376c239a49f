//! The sign-in decision: which profile a verified identity is, and whether to create one.
//!
//! Order: the identity link (tenant, issuer, subject) first; then, only with a trusted
//! email, a profile with that email (which then gets linked); then, with JIT on, a new
//! profile with its link, roster membership and audit event in one transaction. The
//! database's unique constraints decide races: a losing insert reads the winner's row.

use crate::db::audit::{self, NewAuditEvent};
use crate::db::profiles::{self, NewProfileRow, ProfileRow};
use crate::db::tenants::{self, TenantRow};
use crate::db::{
    insert_tolerating_conflict, new_id, now_millis, write_transaction, AnyConnection, Db, DbError,
};
use crate::domain::{
    person_name, split_full_name, CreatedVia, Email, VerifiedIdentity, STATUS_ACTIVE,
};
use serde_json::json;

/// Why a verified person was not signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown person and the tenant has JIT off.
    NoAccount,
    /// `email_verified` is false.
    EmailUnverified,
    /// No email claim at all.
    MissingEmail,
    /// The email claim is not an address.
    InvalidEmail,
    /// Support staff deactivated the profile.
    Deactivated,
    /// The email belongs to a profile linked to another subject of the same provider.
    IdentityConflict,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NoAccount => "no_account",
            Refusal::EmailUnverified => "email_unverified",
            Refusal::MissingEmail => "missing_email",
            Refusal::InvalidEmail => "invalid_email",
            Refusal::Deactivated => "deactivated",
            Refusal::IdentityConflict => "identity_conflict",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Created,
    Linked,
    SignedIn,
}

impl Decision {
    pub fn code(self) -> &'static str {
        match self {
            Decision::Created => "created",
            Decision::Linked => "linked",
            Decision::SignedIn => "signed_in",
        }
    }
}

#[derive(Debug)]
pub enum Outcome {
    Admitted {
        profile: Box<ProfileRow>,
        decision: Decision,
    },
    Refused(Refusal),
}

/// Decides and records the sign-in of `identity` into `tenant`.
pub async fn sign_in(
    db: &Db,
    tenant: TenantRow,
    identity: VerifiedIdentity,
    request_id: Option<String>,
) -> Result<Outcome, DbError> {
    db.run(move |conn| {
        // A lost insert race is resolved by reading again; twice is plenty.
        for _ in 0..3 {
            let attempt = write_transaction(conn, |conn| {
                decide(conn, &tenant, &identity, request_id.as_deref())
            })?;
            if let Some(outcome) = attempt {
                return Ok(outcome);
            }
        }
        Err(DbError::Unavailable(
            "sign-in kept conflicting; try again".into(),
        ))
    })
    .await
}

struct Ctx<'a> {
    tenant: &'a TenantRow,
    identity: &'a VerifiedIdentity,
    request_id: Option<&'a str>,
}

impl Ctx<'_> {
    fn audit(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        profile_id: Option<&str>,
        mut details: serde_json::Value,
    ) -> Result<(), DbError> {
        details["issuer"] = json!(self.identity.issuer);
        details["subject"] = json!(self.identity.subject);
        audit::insert(
            conn,
            &NewAuditEvent {
                tenant_id: Some(&self.tenant.id),
                kind,
                actor: "sign-in",
                profile_id,
                request_id: self.request_id,
                details,
            },
        )?;
        Ok(())
    }

    fn refuse(&self, conn: &mut AnyConnection, why: Refusal) -> Result<Option<Outcome>, DbError> {
        self.audit(
            conn,
            "sign_in_refused",
            None,
            json!({ "reason": why.code() }),
        )?;
        Ok(Some(Outcome::Refused(why)))
    }
}

/// One attempt; `None` means a concurrent sign-in won an insert race: read again.
fn decide(
    conn: &mut AnyConnection,
    tenant: &TenantRow,
    identity: &VerifiedIdentity,
    request_id: Option<&str>,
) -> Result<Option<Outcome>, DbError> {
    let ctx = Ctx {
        tenant,
        identity,
        request_id,
    };
    let now = now_millis();
    if let Some(profile) =
        profiles::find_by_identity(conn, &tenant.id, &identity.issuer, &identity.subject)?
    {
        if profile.status != STATUS_ACTIVE {
            return ctx.refuse(conn, Refusal::Deactivated);
        }
        profiles::touch_sign_in(conn, &profile.id, now)?;
        ctx.audit(conn, "signed_in", Some(&profile.id), json!({}))?;
        let profile = ProfileRow {
            last_sign_in_at: Some(now),
            ..profile
        };
        return Ok(Some(Outcome::Admitted {
            profile: Box::new(profile),
            decision: Decision::SignedIn,
        }));
    }

    let email = match trusted_email(identity) {
        Ok(email) => email,
        Err(why) => return ctx.refuse(conn, why),
    };
    if let Some(profile) = profiles::find_by_email(conn, &tenant.id, email.normalized())? {
        if profile.status != STATUS_ACTIVE {
            return ctx.refuse(conn, Refusal::Deactivated);
        }
        let taken = profiles::identities_of(conn, &profile.id)?
            .into_iter()
            .any(|link| link.issuer == identity.issuer && link.subject != identity.subject);
        if taken {
            return ctx.refuse(conn, Refusal::IdentityConflict);
        }
        let linked = insert_tolerating_conflict(conn, |c| {
            profiles::insert_identity(
                c,
                &tenant.id,
                &identity.issuer,
                &identity.subject,
                &profile.id,
            )
        })?;
        if linked.is_none() {
            return Ok(None);
        }
        profiles::touch_sign_in(conn, &profile.id, now)?;
        ctx.audit(
            conn,
            "identity_linked",
            Some(&profile.id),
            json!({ "email": profile.email }),
        )?;
        let profile = ProfileRow {
            last_sign_in_at: Some(now),
            ..profile
        };
        return Ok(Some(Outcome::Admitted {
            profile: Box::new(profile),
            decision: Decision::Linked,
        }));
    }

    if !tenant.jit_enabled {
        return ctx.refuse(conn, Refusal::NoAccount);
    }
    let row = new_profile(tenant, identity, &email, now);
    let created = insert_tolerating_conflict(conn, |c| {
        profiles::insert(c, &row)?;
        profiles::insert_identity(c, &tenant.id, &identity.issuer, &identity.subject, &row.id)?;
        if let Some(group) = tenants::default_group(c, &tenant.id)? {
            profiles::insert_membership(c, &group.id, &row.id)?;
        }
        Ok(())
    })?;
    if created.is_none() {
        return Ok(None);
    }
    ctx.audit(
        conn,
        "profile_created",
        Some(&row.id),
        json!({ "email": row.email, "via": "jit" }),
    )?;
    let profile = profiles::find_by_id(conn, &row.id)?
        .ok_or_else(|| DbError::Unavailable("profile vanished after insert".into()))?;
    Ok(Some(Outcome::Admitted {
        profile: Box::new(profile),
        decision: Decision::Created,
    }))
}

/// The email to match and provision with, if we may trust it.
fn trusted_email(identity: &VerifiedIdentity) -> Result<Email, Refusal> {
    let raw = identity.email.as_deref().ok_or(Refusal::MissingEmail)?;
    let email = Email::parse(raw).map_err(|_| Refusal::InvalidEmail)?;
    // An absent `email_verified` is trusted: the issuer is the customer's own provider.
    if identity.email_verified == Some(false) {
        return Err(Refusal::EmailUnverified);
    }
    Ok(email)
}

/// First and last name from the claims, falling back to splitting `name`.
pub fn names_of(identity: &VerifiedIdentity) -> (String, String) {
    let given = person_name(identity.given_name.as_deref());
    let family = person_name(identity.family_name.as_deref());
    match (given, family) {
        (Some(g), Some(f)) => (g, f),
        (g, f) => {
            let (split_g, split_f) = identity
                .name
                .as_deref()
                .map(split_full_name)
                .unwrap_or_default();
            match (g, f) {
                (Some(g), None) => (g, String::new()),
                (None, Some(f)) => {
                    // "Grace Hopper" with family "Hopper" gives "Grace", never "Hopper Hopper".
                    let rest = identity
                        .name
                        .as_deref()
                        .map(|n| n.trim().strip_suffix(f.as_str()).unwrap_or(n))
                        .and_then(|n| person_name(Some(n)))
                        .filter(|n| *n != f)
                        .unwrap_or_default();
                    let _ = split_g;
                    (rest, f)
                }
                _ => (split_g, split_f),
            }
        }
    }
}

fn new_profile(
    tenant: &TenantRow,
    identity: &VerifiedIdentity,
    email: &Email,
    now: i64,
) -> NewProfileRow {
    let (first_name, last_name) = names_of(identity);
    let defaults = tenant.profile_defaults();
    NewProfileRow {
        id: new_id(),
        tenant_id: tenant.id.clone(),
        email: email.as_given().to_owned(),
        email_normalized: email.normalized().to_owned(),
        first_name,
        last_name,
        role: defaults.role,
        locale: defaults.locale,
        time_zone: defaults.time_zone,
        status: STATUS_ACTIVE.to_owned(),
        created_via: CreatedVia::Jit.as_str().to_owned(),
        created_at: now,
        last_sign_in_at: Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(given: Option<&str>, family: Option<&str>, name: Option<&str>) -> VerifiedIdentity {
        VerifiedIdentity {
            issuer: "https://idp.example".into(),
            subject: "s".into(),
            email: Some("a@example.com".into()),
            email_verified: None,
            given_name: given.map(Into::into),
            family_name: family.map(Into::into),
            name: name.map(Into::into),
        }
    }

    #[test]
    fn names_come_from_given_and_family_first() {
        let i = identity(Some("Ada"), Some("Lovelace"), Some("Countess"));
        assert_eq!(names_of(&i), ("Ada".into(), "Lovelace".into()));
    }

    #[test]
    fn missing_names_fall_back_to_the_full_name_without_duplicating_it() {
        let i = identity(None, None, Some("Grace Brewster Hopper"));
        assert_eq!(names_of(&i), ("Grace Brewster".into(), "Hopper".into()));
        let i = identity(Some("Grace"), None, Some("Grace Hopper"));
        assert_eq!(names_of(&i), ("Grace".into(), String::new()));
        let i = identity(None, Some("Hopper"), Some("Grace Hopper"));
        assert_eq!(names_of(&i), ("Grace".into(), "Hopper".into()));
        let i = identity(None, Some("Hopper"), Some("Hopper"));
        assert_eq!(names_of(&i), (String::new(), "Hopper".into()));
        let i = identity(None, None, Some("Cher"));
        assert_eq!(names_of(&i), ("Cher".into(), String::new()));
        let i = identity(None, None, None);
        assert_eq!(names_of(&i), (String::new(), String::new()));
    }

    #[test]
    fn unverified_or_missing_emails_are_not_trusted() {
        let mut i = identity(None, None, None);
        i.email_verified = Some(false);
        assert_eq!(trusted_email(&i).unwrap_err(), Refusal::EmailUnverified);
        i.email = None;
        assert_eq!(trusted_email(&i).unwrap_err(), Refusal::MissingEmail);
        i.email = Some("not an email".into());
        i.email_verified = Some(true);
        assert_eq!(trusted_email(&i).unwrap_err(), Refusal::InvalidEmail);
    }
}
