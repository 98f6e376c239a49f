//! The full decision, in one write transaction: for whatever the one-statement paths of
//! the parent module leave (an email or name change, a deactivated profile, a link by email,
//! a lost race). The profile it decides about is locked first, so concurrent decisions and
//! support staff's changes take turns.

use super::{admitted, new_profile, Ctx, Decision, Outcome, Refusal};
use crate::db::profiles::{self, ProfileRow};
use crate::db::sign_in::{self, Created};
use crate::db::{insert_tolerating_conflict, now_millis, AnyConnection, DbError};
use crate::domain::{Email, STATUS_ACTIVE};
use crate::service::claims::{names, trusted_email, EmailProblem};
use serde_json::json;

impl Ctx<'_> {
    /// One attempt; `None` means a concurrent sign-in won an insert race: read again.
    pub(super) fn decide(&self, conn: &mut AnyConnection) -> Result<Option<Outcome>, DbError> {
        let (tenant, identity) = (self.tenant, self.identity);
        let email = trusted_email(tenant, identity);
        if let Err(EmailProblem::DomainNotAllowed) = email {
            return self.refuse(conn, Refusal::DomainNotAllowed, None);
        }
        if let Some(found) =
            profiles::find_by_identity(conn, &tenant.id, &identity.issuer, &identity.subject)?
        {
            // Concurrent sign-ins of one person, or a deactivation, wait here for each
            // other: each decides on the profile as the previous one left it.
            let Some(profile) = profiles::lock(conn, &found.id)? else {
                return Ok(None);
            };
            return self.known(conn, profile, email.ok(), Decision::SignedIn);
        }
        let email = match email {
            Ok(email) => email,
            Err(problem) => return self.refuse(conn, problem.into(), None),
        };
        if let Some(found) = profiles::find_by_email(conn, &tenant.id, email.normalized())? {
            // Two identities claiming one profile at once: the second sees the first's link.
            match profiles::lock(conn, &found.id)? {
                Some(profile) if profile.email_normalized == email.normalized() => {
                    return self.link(conn, profile)
                }
                _ => return Ok(None),
            }
        }
        if !tenant.jit_enabled {
            return self.refuse(conn, Refusal::NoAccount, None);
        }
        self.create(conn, &email)
    }

    /// A linked profile: sign in, following email and name changes at the provider.
    fn known(
        &self,
        conn: &mut AnyConnection,
        mut profile: ProfileRow,
        email: Option<Email>,
        decision: Decision,
    ) -> Result<Option<Outcome>, DbError> {
        if profile.status != STATUS_ACTIVE {
            return self.refuse(conn, Refusal::Deactivated, Some(&profile.id));
        }
        if let Some(email) = email.filter(|e| e.normalized() != profile.email_normalized) {
            self.follow_email_change(conn, &mut profile, &email)?;
        }
        if let Some((first, last)) = self.synced_names(&profile) {
            self.update_names(conn, &mut profile, first, last)?;
        }
        let now = now_millis();
        profiles::touch_sign_in(conn, &profile.id, now)?;
        profile.last_sign_in_at = Some(now);
        if decision == Decision::SignedIn {
            self.audit(conn, "signed_in", Some(&profile.id), json!({}))?;
        }
        admitted(profile, decision)
    }

    fn follow_email_change(
        &self,
        conn: &mut AnyConnection,
        profile: &mut ProfileRow,
        email: &Email,
    ) -> Result<(), DbError> {
        let change = json!({ "old": profile.email, "new": email.as_given() });
        if let Some(other) = profiles::find_by_email(conn, &self.tenant.id, email.normalized())? {
            // Never merge silently: keep both as they are and tell support staff.
            let details =
                json!({ "old": profile.email, "new": email.as_given(), "other_profile": other.id });
            return self.audit(conn, "email_conflict", Some(&profile.id), details);
        }
        let updated = insert_tolerating_conflict(conn, |c| {
            profiles::update_email(c, &profile.id, email.as_given(), email.normalized())
        })?;
        if updated.is_none() {
            return self.audit(conn, "email_conflict", Some(&profile.id), change);
        }
        profile.email = email.as_given().to_owned();
        profile.email_normalized = email.normalized().to_owned();
        self.audit(conn, "email_changed", Some(&profile.id), change)
    }

    /// The names to store when the tenant follows name changes and the provider's differ;
    /// an empty claim never wipes a value.
    fn synced_names(&self, profile: &ProfileRow) -> Option<(String, String)> {
        if !self.tenant.sync_names {
            return None;
        }
        let (first, last) = names(self.tenant, self.identity);
        let first = if first.is_empty() {
            profile.first_name.clone()
        } else {
            first
        };
        let last = if last.is_empty() {
            profile.last_name.clone()
        } else {
            last
        };
        (first != profile.first_name || last != profile.last_name).then_some((first, last))
    }

    fn update_names(
        &self,
        conn: &mut AnyConnection,
        profile: &mut ProfileRow,
        first: String,
        last: String,
    ) -> Result<(), DbError> {
        profiles::update_names(conn, &profile.id, &first, &last)?;
        let details = json!({
            "old": [profile.first_name, profile.last_name],
            "new": [first, last],
        });
        profile.first_name = first;
        profile.last_name = last;
        self.audit(conn, "names_synced", Some(&profile.id), details)
    }

    /// A profile found by its trusted email and not yet linked to this identity.
    fn link(
        &self,
        conn: &mut AnyConnection,
        profile: ProfileRow,
    ) -> Result<Option<Outcome>, DbError> {
        let (tenant, identity) = (self.tenant, self.identity);
        if profile.status != STATUS_ACTIVE {
            return self.refuse(conn, Refusal::Deactivated, Some(&profile.id));
        }
        let taken = profiles::identities_of(conn, &profile.id)?
            .into_iter()
            .any(|link| link.issuer == identity.issuer && link.subject != identity.subject);
        if taken {
            // A re-created account or a reassigned address: the newcomer must not inherit
            // the previous owner's history.
            return self.refuse(conn, Refusal::IdentityConflict, Some(&profile.id));
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
        self.audit(
            conn,
            "identity_linked",
            Some(&profile.id),
            json!({ "email": profile.email }),
        )?;
        self.known(conn, profile, None, Decision::Linked)
    }

    /// JIT: the profile, its link, its roster membership and the audit event, together.
    fn create(&self, conn: &mut AnyConnection, email: &Email) -> Result<Option<Outcome>, DbError> {
        let row = new_profile(self.tenant, self.identity, email, now_millis());
        let event = self.created_event(&row);
        let (issuer, subject) = (&self.identity.issuer, &self.identity.subject);
        let created = insert_tolerating_conflict(conn, |c| {
            sign_in::create(c, &row, issuer, subject, &event)
        })?;
        match created {
            Some(Created::Yes) => admitted(row.into(), Decision::Created),
            // JIT was switched off after this sign-in read the tenant.
            Some(Created::JitOff) => self.refuse(conn, Refusal::NoAccount, None),
            // Another sign-in took the email or the identity first: decide again.
            Some(Created::EmailTaken) | None => Ok(None),
        }
    }
}
