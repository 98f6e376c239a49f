//! Plain types and their invariants. Nothing here knows about HTTP or storage.

mod names;
mod return_to;

pub use names::{person_name, split_full_name, NAME_MAX_CHARS};
pub use return_to::ReturnTo;

use serde::Serialize;
use std::fmt;

/// A stored time (Unix milliseconds) as RFC 3339 for people, or "never".
pub fn when(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Longest email we accept (RFC 5321 path limit).
pub const EMAIL_MAX_LEN: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("tenant names are 1-63 lowercase letters, digits or hyphens, starting with a letter or digit")]
    InvalidSlug,
    #[error("{0:?} is not a usable email address")]
    InvalidEmail(String),
}

/// A tenant's URL name, as in `/t/{slug}/login`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = (1..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if ok {
            Ok(TenantSlug(raw.to_owned()))
        } else {
            Err(DomainError::InvalidSlug)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address as the provider gave it (trimmed) and the form used for matching.
///
/// Matching is case-insensitive over the whole address: `Alice@Example.com` and
/// `alice@example.com` are one person. Sub-addresses (`+tag`) are kept: they are distinct
/// addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    given: String,
    normalized: String,
}

impl Email {
    /// Accepts a plain address: one `@`, a local part of letters, digits and the usual
    /// specials (no quotes, spaces, brackets or invisible characters), and a dotted domain.
    /// Unicode is NFC-normalised. Matching folds ASCII case only, so that look-alike
    /// characters (the Kelvin sign for K, dotted capital I) never match another address.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        use unicode_normalization::UnicodeNormalization;
        let raw = raw.trim();
        let given: String = raw.nfc().collect();
        let invalid = || DomainError::InvalidEmail(given.chars().take(80).collect());
        // A non-ASCII character that normalises to ASCII (the Kelvin sign for K, the
        // Angstrom sign...) is a look-alike of another address: refuse it.
        let look_alike = raw
            .chars()
            .any(|c| !c.is_ascii() && std::iter::once(c).nfc().all(|n| n.is_ascii()));
        if look_alike {
            return Err(invalid());
        }
        if given.is_empty() || given.len() > EMAIL_MAX_LEN {
            return Err(invalid());
        }
        let (local, domain) = given.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(invalid());
        }
        Ok(Email {
            normalized: given.to_ascii_lowercase(),
            given,
        })
    }
    pub fn as_given(&self) -> &str {
        &self.given
    }
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
    pub fn domain(&self) -> &str {
        self.normalized
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("")
    }
}

/// How a profile came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedVia {
    Jit,
    Operator,
}

impl CreatedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            CreatedVia::Jit => "jit",
            CreatedVia::Operator => "operator",
        }
    }
}

pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_DEACTIVATED: &str = "deactivated";
pub const DEFAULT_GROUP_NAME: &str = "Company Roster";

/// Defaults every new profile of a tenant receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileDefaults {
    pub role: String,
    pub locale: String,
    pub time_zone: String,
}

impl Default for ProfileDefaults {
    fn default() -> Self {
        ProfileDefaults {
            role: "learner".into(),
            locale: "en-US".into(),
            time_zone: "UTC".into(),
        }
    }
}

/// What the identity provider told us about the person, after the tokens were verified:
/// the exact issuer and subject, and the ID token's claims (gaps filled from userinfo).
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl VerifiedIdentity {
    /// A string claim; other types count as absent.
    pub fn text(&self, claim: &str) -> Option<&str> {
        self.claims.get(claim).and_then(serde_json::Value::as_str)
    }

    /// A boolean claim as providers really send it: `true`, or the string `"true"`.
    /// Anything else present is `Some(false)` (never mistaken for true); absent is `None`.
    pub fn flag(&self, claim: &str) -> Option<bool> {
        self.claims.get(claim).map(|v| match v {
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_matching_ignores_case_but_keeps_what_was_given() {
        let a = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(a.as_given(), "Alice@Example.COM");
        assert_eq!(a.normalized(), "alice@example.com");
        assert_eq!(a.domain(), "example.com");
    }

    #[test]
    fn look_alike_characters_do_not_fold_into_another_address() {
        // U+212A KELVIN SIGN lowercases to "k" under full Unicode rules.
        assert!(Email::parse("\u{212a}ate@example.com").is_err());
        // Composed and decomposed accents are one address.
        let a = Email::parse("jos\u{e9}@example.com").unwrap();
        let b = Email::parse("jose\u{301}@example.com").unwrap();
        assert_eq!(a.normalized(), b.normalized());
    }

    #[test]
    fn plus_addresses_stay_distinct() {
        let a = Email::parse("bob+training@example.com").unwrap();
        assert_eq!(a.normalized(), "bob+training@example.com");
    }

    #[test]
    fn broken_emails_are_refused() {
        for bad in [
            "",
            "no-at-sign",
            "@example.com",
            "bob@",
            "bob@.example.com",
            "bo b@example.com",
            "bob@example..com",
            "a@@b.com",
            "a@b",
            "<script>@x.com",
            "z\u{200b}@example.com",
            "x\u{202e}@evil.com",
            "\"quoted\"@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn email_verified_given_as_a_string_means_what_it_says() {
        let id = |v: serde_json::Value| VerifiedIdentity {
            issuer: "i".into(),
            subject: "s".into(),
            claims: serde_json::json!({ "email_verified": v })
                .as_object()
                .unwrap()
                .clone(),
        };
        assert_eq!(
            id(serde_json::json!(true)).flag("email_verified"),
            Some(true)
        );
        assert_eq!(
            id(serde_json::json!("true")).flag("email_verified"),
            Some(true)
        );
        assert_eq!(
            id(serde_json::json!("false")).flag("email_verified"),
            Some(false)
        );
        assert_eq!(
            id(serde_json::json!("yes")).flag("email_verified"),
            Some(false)
        );
        assert_eq!(id(serde_json::json!(1)).flag("email_verified"), Some(false));
        assert_eq!(id(serde_json::json!(true)).flag("other"), None);
    }

    #[test]
    fn slugs_are_url_safe() {
        assert!(TenantSlug::parse("acme-corp2").is_ok());
        for bad in ["", "Acme", "-acme", "a/b", "a b", &"a".repeat(64)] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
