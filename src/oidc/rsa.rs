//! RSA signature checks through `ring` for jsonwebtoken.
//!
//! Okta and Entra sign ID tokens with RS256, so one RSA verification is on every sign-in.
//! jsonwebtoken's RustCrypto backend does it in constant-time big-integer arithmetic (about
//! 107 µs here); `ring`, already in the build for TLS, takes about a fifth of that. Only
//! RSA verification is routed to `ring`; everything else stays with RustCrypto.
//!
//! `ring` also refuses RSA keys shorter than 2048 bits, as RFC 7518 section 3.3 requires of
//! RS256 and PS256 keys.

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwtVerifier};
use jsonwebtoken::errors::Result;
use jsonwebtoken::signature::{Error as SignatureError, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use ring::signature::{self as ring_sig, RsaParameters, RsaPublicKeyComponents};
use std::sync::OnceLock;

static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();

/// Makes jsonwebtoken verify RSA signatures with `ring` in this process. Call it before
/// anything signs or verifies a token; later calls, and a call after first use, are no-ops
/// (the RustCrypto backend then stays, which is correct, only slower).
pub fn install() {
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: rust_crypto::DEFAULT_PROVIDER.signer_factory,
        verifier_factory: verifier,
        key_utils: rust_crypto::DEFAULT_PROVIDER.key_utils.clone(),
    });
    if provider.install_default().is_err() {
        log::debug!("jsonwebtoken's crypto provider was already chosen");
    }
}

fn parameters(alg: &Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (parameters(alg), key.kind()) {
        (Some(params), DecodingKeyKind::RsaModulusExponent { n, e }) => Ok(Box::new(RingRsa {
            alg: *alg,
            params,
            n: n.clone(),
            e: e.clone(),
        })),
        _ => (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(alg, key),
    }
}

struct RingRsa {
    alg: Algorithm,
    params: &'static RsaParameters,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Verifier<Vec<u8>> for RingRsa {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(self.params, msg, signature)
        .map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for RingRsa {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    const PRIVATE_PEM: &str = include_str!("../../tests/fixtures/test_rsa_key.pem");
    const PUBLIC_PEM: &str = include_str!("../../tests/fixtures/test_rsa_key.pub.pem");

    fn signed(alg: Algorithm) -> (String, Vec<u8>) {
        let key = EncodingKey::from_rsa_pem(PRIVATE_PEM.as_bytes()).expect("test key");
        let token = encode(&Header::new(alg), &serde_json::json!({"sub": "a"}), &key).unwrap();
        let (message, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig);
        (message.to_owned(), sig.unwrap())
    }

    /// The public key as a JWKS gives it: modulus and exponent.
    fn public_key() -> DecodingKey {
        let pem = DecodingKey::from_rsa_pem(PUBLIC_PEM.as_bytes()).unwrap();
        let pkcs1 = pem.try_get_as_bytes().unwrap();
        let components = rust_crypto::DEFAULT_PROVIDER
            .key_utils
            .rsa_pub_components_from_public_key;
        let (n, e) = components(pkcs1).unwrap();
        DecodingKey::from_rsa_raw_components(&n, &e)
    }

    #[test]
    fn ring_accepts_what_rustcrypto_signed_and_rejects_a_changed_message() {
        for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
            let (message, sig) = signed(alg);
            let v = verifier(&alg, &public_key()).unwrap();
            assert!(v.verify(message.as_bytes(), &sig).is_ok(), "{alg:?}");
            let mut forged = message.clone().into_bytes();
            forged[3] ^= 1;
            assert!(v.verify(&forged, &sig).is_err(), "{alg:?} forged");
        }
    }

    #[test]
    fn a_signature_for_another_rsa_algorithm_is_rejected() {
        let (message, sig) = signed(Algorithm::RS256);
        let v = verifier(&Algorithm::RS384, &public_key()).unwrap();
        assert!(v.verify(message.as_bytes(), &sig).is_err());
    }
}
