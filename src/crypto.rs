//! Small cryptographic helpers: key derivation, encryption at rest, random tokens and
//! constant-time comparison.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// Derives `N` bytes of key material for one purpose from a configured secret (HKDF-SHA256).
pub fn derive_key<const N: usize>(secret: &[u8], purpose: &str) -> [u8; N] {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"jit-sso key derivation v1"), secret);
    let mut out = [0u8; N];
    hk.expand(purpose.as_bytes(), &mut out)
        .expect("HKDF output length is within limits");
    out
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[derive(Debug, thiserror::Error)]
#[error("stored secret cannot be decrypted with the configured data key")]
pub struct DecryptError;

/// Encrypts secrets stored in the database (client secrets) with AES-256-GCM.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

const SEALED_PREFIX: &str = "v1:";

impl SecretBox {
    pub fn new(data_key: &[u8]) -> Self {
        let key: [u8; 32] = derive_key(data_key, "client-secrets-at-rest");
        SecretBox {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// `v1:` + base64(nonce || ciphertext).
    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption does not fail for in-memory input");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<String, DecryptError> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or(DecryptError)?;
        if raw.len() < 12 {
            return Err(DecryptError);
        }
        let (nonce, ct) = raw.split_at(12);
        let pt = self
            .cipher
            .decrypt(
                &Nonce::from(<[u8; 12]>::try_from(nonce).map_err(|_| DecryptError)?),
                ct,
            )
            .map_err(|_| DecryptError)?;
        String::from_utf8(pt).map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_do_not_show_the_plaintext() {
        let b = SecretBox::new(b"0123456789abcdef0123456789abcdef");
        let sealed = b.seal("client-secret-value");
        assert!(!sealed.contains("client-secret-value"));
        assert_eq!(b.open(&sealed).unwrap(), "client-secret-value");
    }

    #[test]
    fn another_key_or_tampering_cannot_open() {
        let b = SecretBox::new(b"0123456789abcdef0123456789abcdef");
        let other = SecretBox::new(b"another key another key another key");
        let sealed = b.seal("s");
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(b.open(&tampered).is_err() || tampered == sealed);
        assert!(b.open("plain").is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let a: [u8; 32] = derive_key(b"secret", "a");
        let b: [u8; 32] = derive_key(b"secret", "b");
        assert_ne!(a, b);
        assert!(constant_time_eq(&a, &a));
        assert!(!constant_time_eq(&a, &b));
    }
}
