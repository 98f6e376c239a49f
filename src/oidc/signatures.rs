//! Signature checks through `ring` for jsonwebtoken.
//!
//! Okta and Entra sign ID tokens with RS256, so one signature verification is on every
//! sign-in. jsonwebtoken's RustCrypto backend does RSA in constant-time big-integer arithmetic
//! (about 107 µs here) and P-256 in portable field arithmetic (about 300 µs); `ring`, already
//! in the build for TLS, takes a fraction of either. Every asymmetric algorithm we accept is
//! routed to `ring`; HMAC, keyed only with our client secret (OIDC Core 10.1), stays with
//! the RustCrypto backend, whose comparison is constant-time.
//!
//! `ring` also checks what a hostile key set could get wrong: RSA keys shorter than 2048 bits
//! (RFC 7518 section 3.3), EC points not on the curve, and keys or signatures of the wrong
//! length are all a failed verification, never a panic (jsonwebtoken's RustCrypto EdDSA
//! verifier slices a published key to 32 bytes without checking its length).

use jsonwebtoken::crypto::{rust_crypto, CryptoProvider, JwtVerifier};
use jsonwebtoken::errors::Result;
use jsonwebtoken::signature::{Error as SignatureError, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use ring::signature::{self as ring_sig, RsaParameters, RsaPublicKeyComponents};
use ring::signature::{UnparsedPublicKey, VerificationAlgorithm};
use std::sync::OnceLock;

static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();

/// Makes jsonwebtoken verify signatures with `ring` in this process. Call it before
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

fn rsa_parameters(alg: &Algorithm) -> Option<&'static RsaParameters> {
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

/// The algorithms whose key is one byte string: an uncompressed SEC1 point (JWS signatures
/// are the fixed-size `r || s`), or an Ed25519 public key.
fn point_algorithm(alg: &Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Algorithm::ES256 => &ring_sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &ring_sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &ring_sig::ED25519,
        _ => return None,
    })
}

fn verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    match (key.kind(), rsa_parameters(alg), point_algorithm(alg)) {
        (DecodingKeyKind::RsaModulusExponent { n, e }, Some(params), _) => Ok(Box::new(RingRsa {
            alg: *alg,
            params,
            n: n.clone(),
            e: e.clone(),
        })),
        (DecodingKeyKind::SecretOrDer(bytes), _, Some(algorithm)) => Ok(Box::new(RingPoint {
            alg: *alg,
            algorithm,
            key: bytes.clone(),
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

struct RingPoint {
    alg: Algorithm,
    algorithm: &'static dyn VerificationAlgorithm,
    key: Vec<u8>,
}

impl Verifier<Vec<u8>> for RingPoint {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
        UnparsedPublicKey::new(self.algorithm, &self.key)
            .verify(msg, signature)
            .map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for RingPoint {
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
        signed_with(alg, &key)
    }

    /// A token signed by jsonwebtoken's RustCrypto backend: its message and signature.
    fn signed_with(alg: Algorithm, key: &EncodingKey) -> (String, Vec<u8>) {
        let token = encode(&Header::new(alg), &serde_json::json!({"sub": "a"}), key).unwrap();
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
    fn ring_accepts_what_rustcrypto_signed_with_rsa_and_rejects_a_changed_message() {
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

    /// An EC or Ed25519 key pair made by OpenSSL: the signing key and the public key as a
    /// JWKS gives it (x and y, or x).
    fn point_pair(alg: Algorithm) -> (EncodingKey, DecodingKey) {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use openssl::bn::BigNumContext;
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        use openssl::pkey::PKey;
        if alg == Algorithm::EdDSA {
            let pkey = PKey::generate_ed25519().unwrap();
            let pem = pkey.private_key_to_pem_pkcs8().unwrap();
            let x = URL_SAFE_NO_PAD.encode(pkey.raw_public_key().unwrap());
            let signing = EncodingKey::from_ed_pem(&pem).unwrap();
            return (signing, DecodingKey::from_ed_components(&x).unwrap());
        }
        let (curve, size) = match alg {
            Algorithm::ES256 => (Nid::X9_62_PRIME256V1, 32),
            _ => (Nid::SECP384R1, 48),
        };
        let group = EcGroup::from_curve_name(curve).unwrap();
        let ec = EcKey::generate(&group).unwrap();
        let (mut x, mut y) = (
            openssl::bn::BigNum::new().unwrap(),
            openssl::bn::BigNum::new().unwrap(),
        );
        let mut ctx = BigNumContext::new().unwrap();
        ec.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        let coordinate =
            |n: &openssl::bn::BigNum| URL_SAFE_NO_PAD.encode(n.to_vec_padded(size).unwrap());
        let pem = PKey::from_ec_key(ec)
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap();
        let signing = EncodingKey::from_ec_pem(&pem).unwrap();
        let public = DecodingKey::from_ec_components(&coordinate(&x), &coordinate(&y)).unwrap();
        (signing, public)
    }

    #[test]
    fn ring_accepts_what_rustcrypto_signed_with_ec_and_ed25519_keys() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
            let (signing, public) = point_pair(alg);
            let (message, sig) = signed_with(alg, &signing);
            let v = verifier(&alg, &public).unwrap();
            assert!(v.verify(message.as_bytes(), &sig).is_ok(), "{alg:?}");
            let mut forged = message.clone().into_bytes();
            forged[3] ^= 1;
            assert!(v.verify(&forged, &sig).is_err(), "{alg:?} forged");
            let other = point_pair(alg).1;
            let v = verifier(&alg, &other).unwrap();
            assert!(
                v.verify(message.as_bytes(), &sig).is_err(),
                "{alg:?} other key"
            );
        }
    }

    #[test]
    fn keys_and_signatures_of_the_wrong_size_fail_verification_without_panicking() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
            let (signing, _) = point_pair(alg);
            let (message, sig) = signed_with(alg, &signing);
            for key in [
                DecodingKey::from_ed_components("AAAA").unwrap(),
                DecodingKey::from_ed_components("").unwrap(),
                DecodingKey::from_ec_components("AAAA", "AAAA").unwrap(),
                DecodingKey::from_ec_components("", "").unwrap(),
            ] {
                let v = verifier(&alg, &key).unwrap();
                assert!(v.verify(message.as_bytes(), &sig).is_err(), "{alg:?}");
            }
            let (_, public) = point_pair(alg);
            let v = verifier(&alg, &public).unwrap();
            assert!(v
                .verify(message.as_bytes(), &sig[..sig.len() - 1].to_vec())
                .is_err());
            assert!(v.verify(message.as_bytes(), &Vec::new()).is_err());
        }
    }
}
