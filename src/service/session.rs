//! Session tokens: short-lived HS256 JWTs naming the profile and tenant.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ISSUER: &str = "jit-sso";
const AUDIENCE: &str = "jit-sso-session";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaims {
    /// Profile id.
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    /// Tenant slug.
    pub ten: String,
    pub iat: u64,
    /// Issue time in milliseconds, compared with a sign-out time.
    pub ims: i64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
}

pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl Sessions {
    /// `key` is derived key material (32 bytes or more).
    pub fn new(key: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Sessions {
            encoding: EncodingKey::from_secret(key).expect("an HMAC key of any length is accepted"),
            decoding: DecodingKey::from_secret(key).expect("an HMAC key of any length is accepted"),
            validation,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, profile_id: &str, tenant_id: &str, tenant_slug: &str) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let now = (now_ms / 1000) as u64;
        let claims = SessionClaims {
            sub: profile_id.to_owned(),
            tid: tenant_id.to_owned(),
            ten: tenant_slug.to_owned(),
            iat: now,
            ims: now_ms,
            exp: now + self.ttl.as_secs(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims does not fail")
    }

    /// The claims of a valid, unexpired session token; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<SessionClaims> {
        decode::<SessionClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_verifies_only_with_its_own_key() {
        let s = Sessions::new(&[7u8; 32], Duration::from_secs(60));
        let token = s.issue("p1", "t1", "acme");
        let claims = s.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.ten.as_str()), ("p1", "acme"));
        let other = Sessions::new(&[8u8; 32], Duration::from_secs(60));
        assert!(other.verify(&token).is_none());
        assert!(s.verify("garbage").is_none());
    }

    #[test]
    fn an_expired_session_is_refused() {
        let s = Sessions::new(&[7u8; 32], Duration::from_secs(0));
        let token = s.issue("p1", "t1", "acme");
        std::thread::sleep(Duration::from_millis(1100));
        assert!(s.verify(&token).is_none());
    }
}
