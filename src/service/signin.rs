//! The sign-in decision: which profile a verified identity is, and whether to create one.
//!
//! Order: the identity link (tenant, issuer, subject) first; then, only with a trusted
//! email, a profile with that email (which then gets linked); then, with JIT on, a new
//! profile with its link, roster membership and audit event in one transaction. The
//! database's unique constraints decide races: a losing insert reads the winner's row.

use crate::db::audit::{self, NewAuditEvent};
use crate::db::profiles::{NewProfileRow, ProfileRow};
use crate::db::sign_in::{self, Created};
use crate::db::tenants::TenantRow;
use crate::db::{
    conflict_as_none, new_id, now_millis, write_transaction, AnyConnection, Db, DbError,
};
use crate::domain::{CreatedVia, Email, VerifiedIdentity, STATUS_ACTIVE};
use crate::service::claims::{names, trusted_email, EmailProblem};
use serde_json::json;

mod decision;

/// Why a verified person was not signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown person and the tenant has JIT off.
    NoAccount,
    /// The email is stated unverified, or comes from a claim the tenant does not trust.
    EmailUnverified,
    /// No claim holds an email; names the claim the administrator should add.
    MissingEmail(String),
    /// The email claim is not an address (or too long).
    InvalidEmail,
    /// The email's domain is not one the tenant allows.
    DomainNotAllowed,
    /// Support staff deactivated the profile.
    Deactivated,
    /// The email belongs to a profile linked to another subject of the same provider.
    IdentityConflict,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoAccount => "no_account",
            Refusal::EmailUnverified => "email_unverified",
            Refusal::MissingEmail(_) => "missing_email",
            Refusal::InvalidEmail => "invalid_email",
            Refusal::DomainNotAllowed => "domain_not_allowed",
            Refusal::Deactivated => "deactivated",
            Refusal::IdentityConflict => "identity_conflict",
        }
    }
}

impl From<EmailProblem> for Refusal {
    fn from(p: EmailProblem) -> Self {
        match p {
            EmailProblem::Missing { claim } => Refusal::MissingEmail(claim),
            EmailProblem::Invalid => Refusal::InvalidEmail,
            EmailProblem::Unverified => Refusal::EmailUnverified,
            EmailProblem::DomainNotAllowed => Refusal::DomainNotAllowed,
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
        let ctx = Ctx {
            tenant: &tenant,
            identity: &identity,
            request_id: request_id.as_deref(),
        };
        match ctx.returning(conn)? {
            Shortcut::Done(outcome) => return Ok(outcome),
            Shortcut::NotLinked => {
                if let Some(outcome) = ctx.first_sign_in(conn)? {
                    return Ok(outcome);
                }
            }
            Shortcut::NeedsDecision => {}
        }
        // A lost insert race is resolved by reading again; a few rounds are plenty.
        for _ in 0..5 {
            let attempt = write_transaction(conn, |conn| ctx.decide(conn))?;
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

/// What the one-statement paths of [`Ctx::returning`] left to do.
enum Shortcut {
    Done(Outcome),
    /// No profile is linked to this identity.
    NotLinked,
    /// A case for the full decision.
    NeedsDecision,
}

struct Ctx<'a> {
    tenant: &'a TenantRow,
    identity: &'a VerifiedIdentity,
    request_id: Option<&'a str>,
}

fn admitted(profile: ProfileRow, decision: Decision) -> Result<Option<Outcome>, DbError> {
    Ok(Some(Outcome::Admitted {
        profile: Box::new(profile),
        decision,
    }))
}

impl Ctx<'_> {
    /// The event that says who this is, with `details` plus the issuer and subject.
    fn event<'e>(
        &'e self,
        kind: &'e str,
        profile_id: Option<&'e str>,
        mut details: serde_json::Value,
    ) -> NewAuditEvent<'e> {
        details["issuer"] = json!(self.identity.issuer);
        details["subject"] = json!(self.identity.subject);
        NewAuditEvent {
            tenant_id: Some(&self.tenant.id),
            kind,
            actor: "sign-in",
            profile_id,
            request_id: self.request_id,
            details,
        }
    }

    fn audit(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        profile_id: Option<&str>,
        details: serde_json::Value,
    ) -> Result<(), DbError> {
        audit::insert(conn, &self.event(kind, profile_id, details))?;
        Ok(())
    }

    /// The common case, outside any transaction: a linked, active profile whose email and
    /// names are unchanged is signed in by one statement that finds it, records the sign-in
    /// and audits it. Every other case goes on to the full decision.
    fn returning(&self, conn: &mut AnyConnection) -> Result<Shortcut, DbError> {
        let (tenant, identity) = (self.tenant, self.identity);
        let email = match trusted_email(tenant, identity) {
            Err(EmailProblem::DomainNotAllowed) => return Ok(Shortcut::NeedsDecision),
            email => email.ok(),
        };
        let (first, last) = match tenant.sync_names {
            true => names(tenant, identity),
            false => Default::default(),
        };
        let expected = sign_in::Expected {
            email_normalized: email.as_ref().map(Email::normalized),
            first_name: Some(first.as_str()).filter(|n| !n.is_empty()),
            last_name: Some(last.as_str()).filter(|n| !n.is_empty()),
        };
        let event = self.event("signed_in", None, json!({}));
        let found = sign_in::returning(conn, self.key(), expected, now_millis(), &event)?;
        Ok(match found {
            sign_in::Returning::Recorded(profile) => Shortcut::Done(Outcome::Admitted {
                profile: Box::new(profile),
                decision: Decision::SignedIn,
            }),
            sign_in::Returning::Unknown => Shortcut::NotLinked,
            sign_in::Returning::Undecided(_) => Shortcut::NeedsDecision,
        })
    }

    /// A first sign-in with JIT on, a trusted email and no profile with it: the profile, its
    /// link, roster membership and audit event in one statement. `None` when another case
    /// applies or a concurrent sign-in took the email or identity first.
    fn first_sign_in(&self, conn: &mut AnyConnection) -> Result<Option<Outcome>, DbError> {
        let Ok(email) = trusted_email(self.tenant, self.identity) else {
            return Ok(None);
        };
        if !self.tenant.jit_enabled {
            return Ok(None);
        }
        let row = new_profile(self.tenant, self.identity, &email, now_millis());
        let event = self.created_event(&row);
        let created = sign_in::create(
            conn,
            &row,
            &self.identity.issuer,
            &self.identity.subject,
            &event,
        );
        match conflict_as_none(created)? {
            Some(Created::Yes) => admitted(row.into(), Decision::Created),
            Some(Created::JitOff) => self.refuse(conn, Refusal::NoAccount, None),
            Some(Created::EmailTaken) | None => Ok(None),
        }
    }

    fn key(&self) -> sign_in::IdentityKey<'_> {
        sign_in::IdentityKey {
            tenant_id: &self.tenant.id,
            issuer: &self.identity.issuer,
            subject: &self.identity.subject,
        }
    }

    fn created_event<'e>(&'e self, row: &'e NewProfileRow) -> NewAuditEvent<'e> {
        let details = json!({ "email": row.email, "via": "jit" });
        self.event("profile_created", Some(&row.id), details)
    }

    fn refuse(
        &self,
        conn: &mut AnyConnection,
        why: Refusal,
        profile_id: Option<&str>,
    ) -> Result<Option<Outcome>, DbError> {
        let kind = if why == Refusal::IdentityConflict {
            "identity_conflict"
        } else {
            "sign_in_refused"
        };
        // The email as the provider sent it (not a secret) lets support staff see who it was.
        let email = self
            .identity
            .text(&self.tenant.email_claim)
            .or(self.identity.text("email"));
        self.audit(
            conn,
            kind,
            profile_id,
            json!({ "reason": why.code(), "email": email }),
        )?;
        Ok(Some(Outcome::Refused(why)))
    }
}

fn new_profile(
    tenant: &TenantRow,
    identity: &VerifiedIdentity,
    email: &Email,
    now: i64,
) -> NewProfileRow {
    let (first_name, last_name) = names(tenant, identity);
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
        sessions_revoked_at: None,
    }
}
