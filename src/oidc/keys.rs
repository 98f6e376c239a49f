//! A provider's signing keys, parsed once per fetch.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

struct Key {
    kid: Option<String>,
    /// The `alg` the key is restricted to, if it says.
    alg: Option<Algorithm>,
    /// Which algorithms this key type can verify.
    fits: fn(Algorithm) -> bool,
    key: DecodingKey,
}

/// At most this many verification keys are kept from one key set. Providers publish a
/// handful (Entra about eight, Okta one or two); a token without a `kid` is tried against
/// every key of its type, so a hostile set of thousands would stall the worker.
pub const MAX_KEYS: usize = 32;

/// Verification keys from a JWKS document. Symmetric (`oct`) keys, encryption keys and
/// keys we cannot parse are left out (and logged), and so is every key after the first
/// [`MAX_KEYS`] usable ones.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Key>,
}

fn rsa(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
    )
}
fn p256(alg: Algorithm) -> bool {
    alg == Algorithm::ES256
}
fn p384(alg: Algorithm) -> bool {
    alg == Algorithm::ES384
}
fn ed(alg: Algorithm) -> bool {
    alg == Algorithm::EdDSA
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_jwks(doc: &Value) -> Result<KeySet, String> {
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the key set has no \"keys\" array")?;
        let mut keys = Vec::new();
        for raw in list {
            if keys.len() == MAX_KEYS {
                log::warn!(
                    "the key set holds more keys than the first {MAX_KEYS} usable ones kept"
                );
                break;
            }
            let jwk: Jwk = match serde_json::from_value(raw.clone()) {
                Ok(j) => j,
                Err(e) => {
                    log::debug!("skipping a key we cannot parse: {e}");
                    continue;
                }
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let fits: fn(Algorithm) -> bool = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => rsa,
                AlgorithmParameters::EllipticCurve(p) => match p.curve {
                    EllipticCurve::P256 => p256,
                    EllipticCurve::P384 => p384,
                    _ => continue,
                },
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => ed,
                // Never an HMAC key: a public document cannot hold a shared secret.
                _ => continue,
            };
            let alg = match jwk.common.key_algorithm {
                Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
                Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
                Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
                Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
                Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
                Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
                Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
                Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
                Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
                None => None,
                Some(_) => continue,
            };
            match DecodingKey::from_jwk(&jwk) {
                Ok(key) => keys.push(Key {
                    kid: jwk.common.key_id.clone(),
                    alg,
                    fits,
                    key,
                }),
                Err(e) => log::debug!("skipping an unusable key: {e}"),
            }
        }
        Ok(KeySet { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys that may have signed a token with this `kid` and `alg`: those with the same
    /// kid; when the token has no kid, every key of the right type; when no key has the
    /// token's kid, the keys published without one (some providers publish their single
    /// key without a kid and still name one in tokens).
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<&DecodingKey> {
        let unknown_kid = kid.is_some_and(|kid| !self.has_kid(kid));
        self.keys
            .iter()
            .filter(|k| (k.fits)(alg) && k.alg.is_none_or(|a| a == alg))
            .filter(|k| match kid {
                None => true,
                Some(_) if unknown_kid => k.kid.is_none(),
                Some(kid) => k.kid.as_deref() == Some(kid),
            })
            .map(|k| &k.key)
            .collect()
    }

    /// Whether a published key has this kid.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}
