//! ID token (and signed userinfo) validation, OpenID Connect Core 1.0 section 3.1.3.7.
//!
//! Signatures: RS256/384/512, PS256/384/512, ES256/384 and EdDSA with the provider's
//! published keys only; `none` and every HMAC algorithm are refused, so a public key can
//! never be used as an HMAC secret. Claims are read leniently: a wrongly typed claim we do
//! not use does not sink the token.

use super::keys::KeySet;
use crate::crypto::constant_time_eq;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How old an ID token's `iat` may be (beyond the clock-skew leeway).
pub const MAX_ID_TOKEN_AGE: Duration = Duration::from_secs(600);

pub const ACCEPTED_ALGS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The largest ID token (or signed userinfo) accepted. Real ones are a few KiB (Entra
/// replaces long group lists by an overage claim); each candidate key hashes the whole
/// token, on the async worker.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Why a token failed; the text carries no claim values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No key in the set has the token's `kid` (or fits it): refetch keys and retry.
    UnknownKey,
    Invalid(String),
}

pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: Option<&'a str>,
    pub skew: Duration,
    /// The provider's advertised algorithms, if any.
    pub algs: Option<&'a [Algorithm]>,
    /// Our client secret: the MAC key of an HS256/384/512 ID token (OIDC Core 10.1).
    pub client_secret: Option<&'a str>,
}

/// HS256/384/512: signed with the client secret, which the provider and we share. Accepted
/// only from a provider that advertises the algorithm, and verified only with our client
/// secret, never with a published key (the key-confusion attack).
pub fn is_mac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn invalid(m: impl Into<String>) -> Rejection {
    Rejection::Invalid(m.into())
}

/// Verifies the signature of a JWT against `keys`; returns its header algorithm and claims.
pub fn verify_signature(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
    validation: &Validation,
) -> Result<(Algorithm, Map<String, Value>), Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid(format!(
            "the token is larger than {} KiB",
            MAX_TOKEN_BYTES / 1024
        )));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("malformed token or unsupported algorithm (alg none is refused)"))?;
    let alg = header.alg;
    let advertised = expected.algs.unwrap_or_default();
    let mac_key = match expected.client_secret {
        Some(secret) if is_mac(alg) && advertised.contains(&alg) => Some(
            jsonwebtoken::DecodingKey::from_secret(secret.as_bytes())
                .map_err(|e| invalid(describe(e.kind())))?,
        ),
        _ => None,
    };
    if !ACCEPTED_ALGS.contains(&alg) && mac_key.is_none() {
        return Err(invalid(format!("algorithm {alg:?} is not accepted")));
    }
    if !advertised.is_empty() && !advertised.contains(&alg) {
        return Err(invalid(format!(
            "algorithm {alg:?} is not one the provider advertises"
        )));
    }
    let candidates = match &mac_key {
        Some(key) => vec![key],
        None => keys.candidates(header.kid.as_deref(), alg),
    };
    if candidates.is_empty() {
        return Err(Rejection::UnknownKey);
    }
    let mut validation = validation.clone();
    validation.algorithms = vec![alg];
    let mut last = invalid("signature does not verify");
    // With a kid there is one candidate; without one, each key of the right type is tried
    // (OpenID Connect Core 10.1 permits this).
    for key in candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation) {
            Ok(data) => return Ok((alg, data.claims)),
            Err(e) => match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidEddsaKey
                | ErrorKind::InvalidKeyFormat
                | ErrorKind::InvalidAlgorithm => last = invalid("signature does not verify"),
                other => return Err(invalid(describe(other))),
            },
        }
    }
    // Tried only the keys without a kid: the provider may have rotated to the named key.
    match header.kid.as_deref() {
        Some(kid) if mac_key.is_none() && !keys.has_kid(kid) => Err(Rejection::UnknownKey),
        _ => Err(last),
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::ImmatureSignature => "not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
        ErrorKind::InvalidClaimFormat(c) => format!("claim {c} has the wrong type"),
        other => format!("{other:?}"),
    }
}

/// The jsonwebtoken validation for ID tokens of one provider and client.
pub fn id_token_validation(expected: &Expected<'_>) -> Validation {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[expected.issuer]);
    v.set_audience(&[expected.client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = expected.skew.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    v
}

/// Full ID token validation; returns the claims.
pub fn verify_id_token(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
    access_token: Option<&str>,
) -> Result<Map<String, Value>, Rejection> {
    let validation = id_token_validation(expected);
    let (alg, claims) = verify_signature(token, keys, expected, &validation)?;

    // iss must match exactly (jsonwebtoken compares strings; re-checked for clarity).
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(invalid("wrong issuer"));
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(s) if acceptable_subject(s) => {}
        Some(s) if !s.is_empty() => {
            return Err(invalid(
                "subject longer than 255 bytes or with control characters",
            ))
        }
        _ => return Err(invalid("missing subject")),
    }
    check_audience(&claims, expected.client_id)?;
    check_issued_at(&claims, expected.skew)?;
    if let Some(nonce) = expected.nonce {
        let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_time_eq(got.as_bytes(), nonce.as_bytes()) {
            return Err(invalid("nonce mismatch"));
        }
    }
    if let (Some(at_hash), Some(access_token)) =
        (claims.get("at_hash").and_then(Value::as_str), access_token)
    {
        if !constant_time_eq(at_hash.as_bytes(), token_hash(alg, access_token).as_bytes()) {
            return Err(invalid("at_hash does not match the access token"));
        }
    }
    Ok(claims)
}

/// OpenID Connect Core 1.0 section 2: `sub` is at most 255 ASCII characters. Longer ones
/// cannot be indexed (PostgreSQL refuses index rows over 2,704 bytes) and a NUL cannot be
/// stored at all, so they are refused here, the same on every database. Non-ASCII text is
/// tolerated: it is stored and compared exactly.
fn acceptable_subject(sub: &str) -> bool {
    (1..=255).contains(&sub.len()) && !sub.chars().any(char::is_control)
}

/// With several audiences, `azp` must be present and be us; a present `azp` must be us.
fn check_audience(claims: &Map<String, Value>, client_id: &str) -> Result<(), Rejection> {
    let several = matches!(claims.get("aud"), Some(Value::Array(a)) if a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => Err(invalid("azp names another client")),
        None if several => Err(invalid("several audiences and no azp")),
        _ => Ok(()),
    }
}

fn check_issued_at(claims: &Map<String, Value>, skew: Duration) -> Result<(), Rejection> {
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .ok_or_else(|| invalid("iat is not a number"))?;
    let now = now_secs() as f64;
    let skew = skew.as_secs() as f64;
    if iat > now + skew {
        return Err(invalid("issued in the future"));
    }
    if iat < now - skew - MAX_ID_TOKEN_AGE.as_secs() as f64 {
        return Err(invalid("issued too long ago"));
    }
    Ok(())
}

/// `at_hash`: the left half of the hash of the access token, base64url (Core 3.1.3.6).
pub fn token_hash(alg: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            Sha384::digest(access_token.as_bytes()).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            Sha512::digest(access_token.as_bytes()).to_vec()
        }
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}
