//! The benchmark provider's RS256 signer: the system's OpenSSL, with the key parsed once.
//!
//! Signing an RS256 ID token is the provider's main work, and on a 2-core machine every
//! microsecond it spends is taken from the service being measured. jsonwebtoken's RustCrypto
//! backend needs 2-4 ms per signature here and ring about 0.6-0.9 ms; OpenSSL's RSA code
//! (AVX-512 IFMA where the CPU has it) about 0.4 ms. OpenSSL is a dev-dependency only: the
//! service never links it for signing. PKCS#1 v1.5 signatures are deterministic, so
//! [`RsaSigner::new`] checks itself against jsonwebtoken byte for byte.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

pub struct RsaSigner {
    key: PKey<Private>,
}

impl RsaSigner {
    /// Parses a PEM RSA key and checks one signature against jsonwebtoken.
    pub fn new(pem: &[u8]) -> Result<RsaSigner, String> {
        let key = PKey::private_key_from_pem(pem).map_err(|e| e.to_string())?;
        let signer = RsaSigner { key };
        let reference = jsonwebtoken::EncodingKey::from_rsa_pem(pem).map_err(|e| e.to_string())?;
        let msg = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaGVjayJ9";
        let theirs = jsonwebtoken::crypto::sign(msg, &reference, jsonwebtoken::Algorithm::RS256)
            .map_err(|e| e.to_string())?;
        if URL_SAFE_NO_PAD.encode(signer.sign(msg)) != theirs {
            return Err("OpenSSL's RS256 signature differs from jsonwebtoken's".into());
        }
        Ok(signer)
    }

    /// The RS256 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key).expect("an RSA signer");
        signer.sign_oneshot_to_vec(msg).expect("an RSA signature")
    }
}

/// `--time-signer`: what one RS256 signature costs the provider, and one verification the
/// service (through jsonwebtoken, with and without the service's `ring` RSA backend).
pub fn time_signer() {
    let pem = include_bytes!("../fixtures/bench_rsa_2048.pem");
    let ours = RsaSigner::new(pem).expect("signer");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap();
    let msg = b"header.payload";
    let per = |n: u32, f: &dyn Fn()| {
        let t = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed() / n
    };
    let rs256 = jsonwebtoken::Algorithm::RS256;
    let openssl_sign = per(200, &|| drop(std::hint::black_box(ours.sign(msg))));
    let jwt_sign = per(20, &|| {
        drop(std::hint::black_box(jsonwebtoken::crypto::sign(
            msg, &key, rs256,
        )))
    });
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, rs256).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let sig = URL_SAFE_NO_PAD.encode(ours.sign(msg));
    let verify = || {
        let ok = jsonwebtoken::crypto::verify(&sig, msg, &decoding, rs256);
        assert!(ok.unwrap());
    };
    let rust_crypto = per(200, &verify);
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        unreachable!("an RSA key")
    };
    let (n, e) = (
        URL_SAFE_NO_PAD.decode(&rsa.n),
        URL_SAFE_NO_PAD.decode(&rsa.e),
    );
    let (n, e) = (n.unwrap(), e.unwrap());
    let components = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
    let raw = URL_SAFE_NO_PAD.decode(&sig).unwrap();
    let with_ring = per(200, &|| {
        let params = &ring::signature::RSA_PKCS1_2048_8192_SHA256;
        components.verify(params, msg, &raw).expect("valid");
    });
    println!(
        "RS256 signature: OpenSSL {openssl_sign:?}, jsonwebtoken {jwt_sign:?}; \
         verification: jsonwebtoken/RustCrypto {rust_crypto:?}, ring (the service's backend) {with_ring:?}"
    );
}
