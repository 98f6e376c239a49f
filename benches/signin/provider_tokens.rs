//! The benchmark provider's ID tokens: its keys, the published JWKS, and the claims and
//! signature of each token.

use crate::provider::CLIENT_ID;
use crate::rsa::RsaSigner;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// Pre-generated keys (`openssl genpkey`, see benches/README.md); never used anywhere else.
pub const RSA_PEM: &[u8] = include_bytes!("../fixtures/bench_rsa_2048.pem");
const EC_PEM: &[u8] = include_bytes!("../fixtures/bench_ec_p256.pem");
const RSA_KID: &str = "bench-rsa-2048";
const EC_KID: &str = "bench-ec-p256";

/// Signs the provider's ID tokens with one of its keys.
pub struct TokenSigner {
    /// The base64url JOSE header, the same for every token.
    header: String,
    signer: Signer,
}

enum Signer {
    /// RS256 through OpenSSL, the key parsed once (see rsa.rs).
    Rsa(Box<RsaSigner>),
    /// ES256 through jsonwebtoken.
    Jwt(EncodingKey, Algorithm),
}

impl TokenSigner {
    /// The signer for `alg`, and the JWKS document publishing both keys.
    pub fn new(alg: Algorithm) -> (TokenSigner, String) {
        let rsa = EncodingKey::from_rsa_pem(RSA_PEM).expect("benches/fixtures RSA key");
        let ec = EncodingKey::from_ec_pem(EC_PEM).expect("benches/fixtures EC key");
        // Both keys are published, as providers publish several; one signs.
        let jwks = json!({ "keys": [jwk(&rsa, Algorithm::RS256, RSA_KID), jwk(&ec, Algorithm::ES256, EC_KID)] })
            .to_string();
        let (signer, kid) = match alg {
            Algorithm::RS256 => {
                let fast = RsaSigner::new(RSA_PEM).expect("the RS256 signer (see rsa.rs)");
                (Signer::Rsa(Box::new(fast)), RSA_KID)
            }
            Algorithm::ES256 => (Signer::Jwt(ec, alg), EC_KID),
            other => panic!("the benchmark provider signs RS256 or ES256, not {other:?}"),
        };
        let mut head = Header::new(alg);
        head.kid = Some(kid.to_owned());
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&head).expect("JOSE header"));
        (TokenSigner { header, signer }, jwks)
    }

    /// The signed ID token for `login_hint`, bound to `nonce` and to `access_token`.
    pub fn id_token(
        &self,
        issuer: &str,
        login_hint: &str,
        nonce: &str,
        access_token: &str,
    ) -> String {
        let digest = Sha256::digest(access_token.as_bytes());
        let local = login_hint.split('@').next().unwrap_or("someone");
        let now = now_secs();
        let claims = IdTokenClaims {
            iss: issuer,
            sub: format!("bench|{local}"),
            aud: CLIENT_ID,
            iat: now,
            exp: now + 300,
            nonce,
            at_hash: URL_SAFE_NO_PAD.encode(&digest[..16]),
            email: login_hint,
            email_verified: true,
            given_name: "Bench",
            family_name: local,
            name: format!("Bench {local}"),
        };
        self.sign(&claims)
    }

    /// A compact JWS of `claims` with the provider's header and key.
    fn sign(&self, claims: &impl Serialize) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims"));
        let input = format!("{}.{payload}", self.header);
        let signature = match &self.signer {
            Signer::Rsa(rsa) => URL_SAFE_NO_PAD.encode(rsa.sign(input.as_bytes())),
            Signer::Jwt(key, alg) => {
                jsonwebtoken::crypto::sign(input.as_bytes(), key, *alg).expect("a signature")
            }
        };
        format!("{input}.{signature}")
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("JWK of a benchmark key");
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    iat: u64,
    exp: u64,
    nonce: &'a str,
    at_hash: String,
    email: &'a str,
    email_verified: bool,
    given_name: &'a str,
    family_name: &'a str,
    name: String,
}
