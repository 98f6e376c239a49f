//! Reading a person's email and names from claims, per the tenant's claim mapping and email
//! trust settings.

use crate::db::tenants::TenantRow;
use crate::domain::{person_name, split_full_name, Email, VerifiedIdentity};

/// Claims that carry a sign-in name rather than a mailbox: an address found there is
/// unverified unless the tenant says otherwise (Entra ID sends these instead of `email`).
const USERNAME_CLAIMS: [&str; 2] = ["preferred_username", "upn"];

/// Why no usable email could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailProblem {
    /// No claim holds an address; the page names the claim to add.
    Missing {
        claim: String,
    },
    Invalid,
    Unverified,
    DomainNotAllowed,
}

/// The claims a tenant needs; what the ID token lacks is read from userinfo.
pub fn wanted_claims(tenant: &TenantRow) -> Vec<&str> {
    vec![
        tenant.email_claim.as_str(),
        tenant.given_name_claim.as_str(),
        tenant.family_name_claim.as_str(),
    ]
}

/// The person's email, if present, well-formed, trusted and in an allowed domain.
pub fn trusted_email(tenant: &TenantRow, id: &VerifiedIdentity) -> Result<Email, EmailProblem> {
    let configured = tenant.email_claim.as_str();
    let mut sources = vec![configured];
    if configured == "email" {
        sources.extend(USERNAME_CLAIMS);
    } else if USERNAME_CLAIMS.contains(&configured) {
        sources.push("email");
    }
    let guest = |c: &str, v: &str| USERNAME_CLAIMS.contains(&c) && is_guest_username(v);
    let (claim, raw) = sources
        .iter()
        .find_map(|c| {
            id.text(c)
                .filter(|v| !v.trim().is_empty() && !guest(c, v))
                .map(|v| (*c, v))
        })
        .ok_or_else(|| {
            // A guest's directory name was all there was: the address is in `email`.
            let only_guest = sources
                .iter()
                .any(|c| id.text(c).is_some_and(|v| guest(c, v)));
            EmailProblem::Missing {
                claim: if only_guest { "email" } else { configured }.to_owned(),
            }
        })?;
    let email = Email::parse(raw).map_err(|_| {
        if USERNAME_CLAIMS.contains(&claim) && !raw.contains('@') {
            EmailProblem::Missing {
                claim: configured.to_owned(),
            }
        } else {
            EmailProblem::Invalid
        }
    })?;
    let verified = if USERNAME_CLAIMS.contains(&claim) {
        tenant.trust_username_email
    } else if claim == "email" {
        match id.flag("email_verified") {
            Some(stated) => stated,
            None => tenant.trust_unstated_email,
        }
    } else {
        tenant.trust_unstated_email
    };
    if !verified {
        return Err(EmailProblem::Unverified);
    }
    let allowed: Vec<&str> = tenant.allowed_email_domains.split_whitespace().collect();
    if !allowed.is_empty()
        && !allowed
            .iter()
            .any(|d| d.eq_ignore_ascii_case(email.domain()))
    {
        return Err(EmailProblem::DomainNotAllowed);
    }
    Ok(email)
}

/// Entra ID names a guest from another directory `alice_gmail.com#EXT#@contoso.onmicrosoft.com`
/// in `upn`: shaped like an address, but no mailbox; the guest's address is in `email`.
fn is_guest_username(value: &str) -> bool {
    value.to_ascii_uppercase().contains("#EXT#")
}

/// First and last names: the mapped claims, then the full `name` split sensibly. A
/// missing part is empty; a surname is never duplicated.
pub fn names(tenant: &TenantRow, id: &VerifiedIdentity) -> (String, String) {
    let given = person_name(id.text(&tenant.given_name_claim));
    let family = person_name(id.text(&tenant.family_name_claim));
    let full = id.text("name").unwrap_or("");
    match (given, family) {
        (Some(g), Some(f)) => (g, f),
        (Some(g), None) => (g, String::new()),
        (None, Some(f)) => {
            let rest = full.trim().strip_suffix(f.as_str()).unwrap_or(full);
            let first = person_name(Some(rest))
                .filter(|r| *r != f)
                .unwrap_or_default();
            (first, f)
        }
        (None, None) => split_full_name(full),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tenant() -> TenantRow {
        TenantRow {
            id: "t".into(),
            slug: "acme".into(),
            display_name: "Acme".into(),
            jit_enabled: true,
            issuer: "https://idp.example".into(),
            client_id: "c".into(),
            client_secret_enc: String::new(),
            scopes: "openid".into(),
            app_url: None,
            default_role: "learner".into(),
            default_locale: "en-US".into(),
            default_time_zone: "UTC".into(),
            email_claim: "email".into(),
            given_name_claim: "given_name".into(),
            family_name_claim: "family_name".into(),
            trust_unstated_email: true,
            trust_username_email: false,
            allowed_email_domains: String::new(),
            sync_names: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn id(claims: serde_json::Value) -> VerifiedIdentity {
        VerifiedIdentity {
            issuer: "https://idp.example".into(),
            subject: "s".into(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn a_stated_false_is_never_trusted_and_an_unstated_flag_follows_the_tenant() {
        let t = tenant();
        let e = id(json!({"email": "a@example.com", "email_verified": "false"}));
        assert_eq!(trusted_email(&t, &e), Err(EmailProblem::Unverified));
        let e = id(json!({"email": "a@example.com"}));
        assert!(trusted_email(&t, &e).is_ok());
        let strict = TenantRow {
            trust_unstated_email: false,
            ..tenant()
        };
        assert_eq!(trusted_email(&strict, &e), Err(EmailProblem::Unverified));
        let e = id(json!({"email": "a@example.com", "email_verified": "true"}));
        assert!(trusted_email(&strict, &e).is_ok());
    }

    #[test]
    fn entra_usernames_count_as_unverified_unless_the_tenant_trusts_them() {
        let e = id(json!({"preferred_username": "a@contoso.example"}));
        assert_eq!(trusted_email(&tenant(), &e), Err(EmailProblem::Unverified));
        let t = TenantRow {
            trust_username_email: true,
            ..tenant()
        };
        assert_eq!(
            trusted_email(&t, &e).unwrap().normalized(),
            "a@contoso.example"
        );
        let e = id(json!({"preferred_username": "not-an-address"}));
        assert!(matches!(
            trusted_email(&t, &e),
            Err(EmailProblem::Missing { .. })
        ));
    }

    #[test]
    fn an_entra_guest_directory_name_is_never_taken_for_an_address() {
        let t = TenantRow {
            email_claim: "upn".into(),
            trust_username_email: true,
            ..tenant()
        };
        let upn = "alice_gmail.com#EXT#@contoso.onmicrosoft.com";
        let guest = id(json!({"upn": upn, "email": "alice@gmail.com", "email_verified": true}));
        assert_eq!(
            trusted_email(&t, &guest).unwrap().normalized(),
            "alice@gmail.com"
        );
        let member = id(json!({"upn": "bob@contoso.example", "email": "other@x.example"}));
        assert_eq!(
            trusted_email(&t, &member).unwrap().normalized(),
            "bob@contoso.example"
        );
        let bare = id(json!({"upn": upn.to_lowercase()}));
        assert_eq!(
            trusted_email(&t, &bare),
            Err(EmailProblem::Missing {
                claim: "email".into()
            })
        );
        let by_default = id(json!({"upn": upn}));
        assert_eq!(
            trusted_email(&tenant(), &by_default),
            Err(EmailProblem::Missing {
                claim: "email".into()
            })
        );
    }

    #[test]
    fn a_mapped_claim_is_used_and_named_when_missing() {
        let t = TenantRow {
            email_claim: "mail".into(),
            ..tenant()
        };
        let e = id(json!({"mail": "b@example.com", "email": "other@example.com"}));
        assert_eq!(trusted_email(&t, &e).unwrap().as_given(), "b@example.com");
        let e = id(json!({}));
        assert_eq!(
            trusted_email(&t, &e),
            Err(EmailProblem::Missing {
                claim: "mail".into()
            })
        );
    }

    #[test]
    fn allowed_domains_are_enforced() {
        let t = TenantRow {
            allowed_email_domains: "example.com acme.example".into(),
            ..tenant()
        };
        assert!(trusted_email(&t, &id(json!({"email": "a@ACME.example"}))).is_ok());
        assert_eq!(
            trusted_email(&t, &id(json!({"email": "a@evil.example"}))),
            Err(EmailProblem::DomainNotAllowed)
        );
    }

    #[test]
    fn names_fall_back_to_the_full_name_without_duplicating_the_surname() {
        let t = tenant();
        let n = |c| names(&t, &id(c));
        assert_eq!(
            n(json!({"given_name": "Ada", "family_name": "Lovelace"})),
            ("Ada".into(), "Lovelace".into())
        );
        assert_eq!(
            n(json!({"name": "Grace Brewster Hopper"})),
            ("Grace Brewster".into(), "Hopper".into())
        );
        assert_eq!(
            n(json!({"family_name": "Hopper", "name": "Grace Hopper"})),
            ("Grace".into(), "Hopper".into())
        );
        assert_eq!(
            n(json!({"family_name": "Hopper", "name": "Hopper"})),
            (String::new(), "Hopper".into())
        );
        assert_eq!(n(json!({"name": "Cher"})), ("Cher".into(), String::new()));
        assert_eq!(
            n(json!({"given_name": 42, "name": "Ada L"})),
            ("Ada".into(), "L".into())
        );
        assert_eq!(n(json!({})), (String::new(), String::new()));
    }
}
