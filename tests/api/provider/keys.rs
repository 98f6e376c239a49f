//! Key material and signing: the fixture key pairs, JWKs, and ID tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::time::UNIX_EPOCH;

use super::{object, Claims, Grant, KeyId, Next, Shared, Signer, Tamper, CLIENT_ID};

/// The SPKI PEM of `KeyId::Rsa1`, exactly as `openssl pkey -pubout` writes it.
const RSA1_PUBLIC_PEM: &str = include_str!("../../fixtures/test_rsa_key.pub.pem");

impl KeyId {
    pub(super) const ALL: [KeyId; 4] = [KeyId::Rsa1, KeyId::Rsa2, KeyId::Ec256, KeyId::Ed25519];

    pub fn kid(self) -> &'static str {
        match self {
            KeyId::Rsa1 => "test-key-1",
            KeyId::Rsa2 => "test-key-2",
            KeyId::Ec256 => "ec-1",
            KeyId::Ed25519 => "ed-1",
        }
    }

    /// The algorithm its JWK states while it is not the signing key.
    pub fn default_alg(self) -> Algorithm {
        match self {
            KeyId::Rsa1 | KeyId::Rsa2 => Algorithm::RS256,
            KeyId::Ec256 => Algorithm::ES256,
            KeyId::Ed25519 => Algorithm::EdDSA,
        }
    }

    pub(super) fn can_sign(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyId::Rsa1 | KeyId::Rsa2 => {
                matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
            }
            KeyId::Ec256 => alg == ES256,
            KeyId::Ed25519 => alg == EdDSA,
        }
    }

    pub(super) fn encoding_key(self) -> EncodingKey {
        let pem: &[u8] = match self {
            KeyId::Rsa1 => include_bytes!("../../fixtures/test_rsa_key.pem"),
            KeyId::Rsa2 => include_bytes!("../../fixtures/rsa_key_2.pem"),
            KeyId::Ec256 => include_bytes!("../../fixtures/ec_p256_key.pem"),
            KeyId::Ed25519 => include_bytes!("../../fixtures/ed25519_key.pem"),
        };
        let key = match self {
            KeyId::Rsa1 | KeyId::Rsa2 => EncodingKey::from_rsa_pem(pem),
            KeyId::Ec256 => EncodingKey::from_ec_pem(pem),
            KeyId::Ed25519 => EncodingKey::from_ed_pem(pem),
        };
        key.unwrap_or_else(|e| panic!("fixture key {self:?}: {e}"))
    }
}

impl Shared {
    fn key(&self, id: KeyId) -> &EncodingKey {
        &self.keys[id as usize]
    }

    pub(super) fn jwk(&self, id: KeyId, alg: Algorithm, with_kid: bool) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(self.key(id), alg).expect("JWK of a fixture key");
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_id = with_kid.then(|| id.kid().to_owned());
        jwk
    }

    pub(super) fn sign(&self, claims: &Claims, signer: Signer, with_kid: bool) -> String {
        let kid = with_kid.then(|| signer.key.kid());
        encode(signer.alg, kid, claims, self.key(signer.key))
    }
}

fn encode(alg: Algorithm, kid: Option<&str>, claims: &Claims, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign JWT")
}

pub(super) fn id_token(
    op: &Shared,
    grant: &Grant,
    access_token: &str,
    next: Next,
    signer: Signer,
) -> String {
    let tamper = next.tamper.unwrap_or(Tamper::None);
    let alg = match next.hmac_with_public_key {
        true => Algorithm::HS256,
        false => signer.alg,
    };
    let mut claims = id_token_claims(op, grant, tamper);
    claims.insert("at_hash".to_owned(), at_hash(alg, access_token).into());
    if let Some(edit) = next.edit {
        edit(&mut claims);
    }
    if tamper == Tamper::AlgNone {
        let head = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        return format!(
            "{head}.{}.",
            URL_SAFE_NO_PAD.encode(Value::from(claims).to_string())
        );
    }
    let with_kid = !next.omit_kid;
    let jwt = if next.hmac_with_public_key {
        let kid = with_kid.then(|| KeyId::Rsa1.kid());
        let secret = EncodingKey::from_secret(RSA1_PUBLIC_PEM.as_bytes()).expect("HMAC key");
        encode(Algorithm::HS256, kid, &claims, &secret)
    } else {
        op.sign(&claims, signer, with_kid)
    };
    match tamper {
        Tamper::BadSignature => corrupt_signature(&jwt),
        _ => jwt,
    }
}

/// The claims of an honest ID token, but for `tamper`; without `at_hash`.
fn id_token_claims(op: &Shared, grant: &Grant, tamper: Tamper) -> Claims {
    let now = UNIX_EPOCH.elapsed().expect("clock after 1970").as_secs();
    let (iat, exp) = match tamper {
        Tamper::Expired => (now - 7200, now - 3600),
        _ => (now, now + 300),
    };
    let mut claims = object(json!({
        "iss": if tamper == Tamper::WrongIssuer { "http://evil.example" } else { &op.issuer },
        "sub": grant.user.sub,
        "aud": if tamper == Tamper::WrongAudience { "someone-else" } else { CLIENT_ID },
        "iat": iat,
        "exp": exp,
        "nonce": if tamper == Tamper::WrongNonce { "not-the-nonce" } else { &grant.nonce },
    }));
    claims.extend(grant.user.claims(tamper != Tamper::NamesOnlyInUserinfo));
    if tamper == Tamper::MissingSub {
        claims.remove("sub");
    }
    claims
}

/// `at_hash`: the left half of the access token's hash, by `alg`'s hash function
/// (SHA-512 for EdDSA with Ed25519).
fn at_hash(alg: Algorithm, access_token: &str) -> String {
    use Algorithm::*;
    let digest = match alg {
        HS384 | RS384 | PS384 | ES384 => Sha384::digest(access_token).to_vec(),
        HS512 | RS512 | PS512 | EdDSA => Sha512::digest(access_token).to_vec(),
        _ => Sha256::digest(access_token).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Flips one bit of a compact JWS's signature.
fn corrupt_signature(jwt: &str) -> String {
    let (signed, signature) = jwt.rsplit_once('.').expect("compact JWS");
    let mut signature = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url signature");
    signature[0] ^= 1;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}
