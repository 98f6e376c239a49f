//! The benchmark provider's RS256 signer: `ring`'s RSA, with the key parsed once.
//!
//! jsonwebtoken's RustCrypto backend parses the private key again and signs with generic
//! constant-time big integers: 2-4 ms of CPU per ID token here, more than the service spends
//! on a whole sign-in, so the provider would measure itself. `ring` (already in the build for
//! TLS and for the service's RSA verification) signs with its assembly Montgomery code.
//! PKCS#1 v1.5 signatures are deterministic, so [`RsaSigner::new`] checks itself against
//! jsonwebtoken byte for byte.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

pub struct RsaSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl RsaSigner {
    /// Parses a PKCS#8 PEM RSA key and checks one signature against jsonwebtoken.
    pub fn new(pem: &[u8]) -> Result<RsaSigner, String> {
        let text = std::str::from_utf8(pem).map_err(|e| e.to_string())?;
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).map_err(|e| e.to_string())?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?;
        let signer = RsaSigner {
            key,
            rng: SystemRandom::new(),
        };
        let reference = jsonwebtoken::EncodingKey::from_rsa_pem(pem).map_err(|e| e.to_string())?;
        let msg = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaGVjayJ9";
        let theirs = jsonwebtoken::crypto::sign(msg, &reference, jsonwebtoken::Algorithm::RS256)
            .map_err(|e| e.to_string())?;
        if URL_SAFE_NO_PAD.encode(signer.sign(msg)) != theirs {
            return Err("ring's RS256 signature differs from jsonwebtoken's".into());
        }
        Ok(signer)
    }

    /// The RS256 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, msg, &mut sig)
            .expect("an RSA signature");
        sig
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
    let ring_sign = per(200, &|| drop(std::hint::black_box(ours.sign(msg))));
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
        "RS256 signature: ring {ring_sign:?}, jsonwebtoken {jwt_sign:?}; \
         verification: jsonwebtoken/RustCrypto {rust_crypto:?}, ring (the service's backend) {with_ring:?}"
    );
}
