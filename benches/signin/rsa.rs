//! A fast RSASSA-PKCS1-v1_5 SHA-256 signer (RS256) for the benchmark provider only.
//!
//! jsonwebtoken's RustCrypto backend parses the private key again and uses constant-time
//! big integers for every signature: about 4 ms of CPU per ID token on the benchmark
//! machine, more than the service spends on a whole sign-in, so the provider would
//! measure itself. This signer parses the key once and signs with the Chinese remainder
//! theorem and Montgomery multiplication on u64 limbs (no blinding, not constant time:
//! fine for a test key on loopback, never for real keys). PKCS#1 v1.5 signatures are
//! deterministic, so [`RsaSigner::new`] checks itself against jsonwebtoken byte for byte.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// DER DigestInfo prefix of SHA-256 (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// Little-endian u64 limbs.
fn from_be(bytes: &[u8], limbs: usize) -> Vec<u64> {
    let mut out = vec![0u64; limbs];
    for (i, b) in bytes.iter().rev().enumerate() {
        if b != &0 {
            out[i / 8] |= (*b as u64) << (8 * (i % 8));
        }
    }
    out
}

fn to_be(limbs: &[u64], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for i in 0..len {
        out[len - 1 - i] = (limbs.get(i / 8).copied().unwrap_or(0) >> (8 * (i % 8))) as u8;
    }
    out
}

fn geq(a: &[u64], b: &[u64]) -> bool {
    for i in (0..a.len().max(b.len())).rev() {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x > y;
        }
    }
    true
}

/// a -= b (a >= b, same length or longer).
fn sub_in_place(a: &mut [u64], b: &[u64]) {
    let mut borrow = 0u64;
    for (i, x) in a.iter_mut().enumerate() {
        let (d1, o1) = x.overflowing_sub(b.get(i).copied().unwrap_or(0));
        let (d2, o2) = d1.overflowing_sub(borrow);
        *x = d2;
        borrow = (o1 || o2) as u64;
    }
}

/// a += b, returns the carry out.
fn add_in_place(a: &mut [u64], b: &[u64]) -> u64 {
    let mut carry = 0u64;
    for (i, x) in a.iter_mut().enumerate() {
        let s = *x as u128 + b.get(i).copied().unwrap_or(0) as u128 + carry as u128;
        *x = s as u64;
        carry = (s >> 64) as u64;
    }
    carry
}

/// Limbs of each prime of a 2048-bit key.
const K: usize = 16;
type Half = [u64; K];

fn half(limbs: &[u64]) -> Half {
    let mut h = [0u64; K];
    h.copy_from_slice(&limbs[..K]);
    h
}

/// Arithmetic modulo an odd 1024-bit modulus in Montgomery form (R = 2^1024).
struct Mont {
    m: Half,
    /// -m^-1 mod 2^64.
    minv: u64,
    /// R^2 mod m.
    r2: Half,
}

impl Mont {
    fn new(m: Half) -> Mont {
        let mut inv = 1u64;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(m[0].wrapping_mul(inv)));
        }
        // R^2 mod m by doubling 1, 2 * 64K times.
        let mut x = vec![0u64; K + 1];
        x[0] = 1;
        for _ in 0..2 * 64 * K {
            let mut carry = 0;
            for limb in x.iter_mut() {
                let next = *limb >> 63;
                *limb = (*limb << 1) | carry;
                carry = next;
            }
            if geq(&x, &m) {
                sub_in_place(&mut x, &m);
            }
        }
        Mont {
            m,
            minv: inv.wrapping_neg(),
            r2: half(&x),
        }
    }

    /// a * b / R mod m, for a, b < m (CIOS).
    #[inline]
    fn mul(&self, a: &Half, b: &Half) -> Half {
        let m = &self.m;
        let mut t = [0u64; K + 2];
        for &bi in b.iter() {
            let mut c = 0u64;
            for j in 0..K {
                let s = t[j] as u128 + a[j] as u128 * bi as u128 + c as u128;
                t[j] = s as u64;
                c = (s >> 64) as u64;
            }
            let s = t[K] as u128 + c as u128;
            t[K] = s as u64;
            t[K + 1] = (s >> 64) as u64;
            let q = t[0].wrapping_mul(self.minv);
            let s = t[0] as u128 + q as u128 * m[0] as u128;
            let mut c = (s >> 64) as u64;
            for j in 1..K {
                let s = t[j] as u128 + q as u128 * m[j] as u128 + c as u128;
                t[j - 1] = s as u64;
                c = (s >> 64) as u64;
            }
            let s = t[K] as u128 + c as u128;
            t[K - 1] = s as u64;
            t[K] = t[K + 1] + (s >> 64) as u64;
        }
        if t[K] != 0 || geq(&t[..K], m) {
            sub_in_place(&mut t[..K + 1], m);
        }
        half(&t)
    }

    /// x mod m for x < 2m.
    fn reduce_once(&self, x: &[u64]) -> Half {
        let mut x = half(x);
        if geq(&x, &self.m) {
            sub_in_place(&mut x, &self.m);
        }
        x
    }

    /// c mod m for c of 2K limbs with m's top bit set (so each half is < 2m).
    fn reduce_wide(&self, c: &[u64]) -> Half {
        let lo = self.reduce_once(&c[..K]);
        let hi = self.reduce_once(&c[K..2 * K]);
        let mut x = self.mul(&hi, &self.r2); // hi * R mod m
        let carry = add_in_place(&mut x, &lo);
        if carry != 0 || geq(&x, &self.m) {
            sub_in_place(&mut x, &self.m);
        }
        x
    }

    /// base^exp mod m (base < m, normal form in and out), 4-bit fixed windows.
    fn pow(&self, base: &Half, exp: &Half) -> Half {
        let mut one = [0u64; K];
        one[0] = 1;
        let b = self.mul(base, &self.r2);
        let mut table = [[0u64; K]; 16];
        table[0] = self.mul(&one, &self.r2);
        for i in 1..16 {
            table[i] = self.mul(&table[i - 1], &b);
        }
        let mut acc = table[0];
        let mut started = false;
        for limb in exp.iter().rev() {
            for shift in (0..16).rev() {
                let w = ((limb >> (shift * 4)) & 0xf) as usize;
                if started {
                    for _ in 0..4 {
                        acc = self.mul(&acc, &acc);
                    }
                }
                if w != 0 {
                    acc = self.mul(&acc, &table[w]);
                    started = true;
                }
            }
        }
        self.mul(&acc, &one)
    }
}

/// A minimal DER reader: the next TLV's tag and contents.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let body = input.get(head..head + len)?;
    Some((tag, body, &input[head + len..]))
}

pub struct RsaSigner {
    n_bytes: usize,
    p: Mont,
    q: Mont,
    dp: Half,
    dq: Half,
    qinv: Half,
}

impl RsaSigner {
    /// From a PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") PEM; checked against
    /// jsonwebtoken's signature of a sample message.
    pub fn new(pem: &[u8]) -> Result<RsaSigner, String> {
        let text = std::str::from_utf8(pem).map_err(|e| e.to_string())?;
        let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(b64.trim()).map_err(|e| e.to_string())?;
        let bad = || "not an RSA private key".to_owned();
        let (_, seq, _) = tlv(&der).ok_or_else(bad)?;
        let (_, _version, rest) = tlv(seq).ok_or_else(bad)?;
        let (tag, _, after) = tlv(rest).ok_or_else(bad)?;
        let rsa_key = if tag == 0x30 {
            // PKCS#8: AlgorithmIdentifier, then the PKCS#1 key in an OCTET STRING.
            let (_, octets, _) = tlv(after).ok_or_else(bad)?;
            let (_, inner, _) = tlv(octets).ok_or_else(bad)?;
            inner.to_vec()
        } else {
            seq.to_vec()
        };
        let mut ints: Vec<&[u8]> = Vec::new();
        let mut rest = &rsa_key[..];
        while let Some((tag, body, next)) = tlv(rest) {
            if tag == 0x02 {
                let skip = body.iter().take_while(|b| **b == 0).count();
                ints.push(&body[skip..]);
            }
            rest = next;
        }
        // version, n, e, d, p, q, dp, dq, qinv
        if ints.len() < 9 {
            return Err(bad());
        }
        let n_bytes = ints[1].len();
        let fits = |b: &[u8]| b.len() == 8 * K && b[0] >> 7 == 1;
        if n_bytes != 16 * K || !fits(ints[4]) || !fits(ints[5]) {
            return Err("the fast RS256 signer takes 2048-bit keys".into());
        }
        let h = |b: &[u8]| half(&from_be(b, K));
        let signer = RsaSigner {
            n_bytes,
            p: Mont::new(h(ints[4])),
            q: Mont::new(h(ints[5])),
            dp: h(ints[6]),
            dq: h(ints[7]),
            qinv: h(ints[8]),
        };
        signer.check(pem)?;
        Ok(signer)
    }

    fn check(&self, pem: &[u8]) -> Result<(), String> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).map_err(|e| e.to_string())?;
        let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaGVjayJ9";
        let theirs = jsonwebtoken::crypto::sign(message, &key, jsonwebtoken::Algorithm::RS256)
            .map_err(|e| e.to_string())?;
        let ours = URL_SAFE_NO_PAD.encode(self.sign(message));
        if ours != theirs {
            return Err("the fast RS256 signer disagrees with jsonwebtoken".into());
        }
        Ok(())
    }

    /// The RS256 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        // EM = 0x00 0x01 FF.. 0x00 DigestInfo hash
        let hash = Sha256::digest(message);
        let mut em = vec![0xffu8; self.n_bytes];
        em[0] = 0;
        em[1] = 1;
        let t = SHA256_DIGEST_INFO.len() + hash.len();
        em[self.n_bytes - t - 1] = 0;
        em[self.n_bytes - t..self.n_bytes - hash.len()].copy_from_slice(&SHA256_DIGEST_INFO);
        em[self.n_bytes - hash.len()..].copy_from_slice(&hash);
        let c = from_be(&em, 2 * K);
        let m1 = self.p.pow(&self.p.reduce_wide(&c), &self.dp);
        let m2 = self.q.pow(&self.q.reduce_wide(&c), &self.dq);
        // h = qinv (m1 - m2) mod p
        let m2p = self.p.reduce_once(&m2);
        let mut diff = m1;
        if geq(&diff, &m2p) {
            sub_in_place(&mut diff, &m2p);
        } else {
            add_in_place(&mut diff, &self.p.m);
            sub_in_place(&mut diff, &m2p);
        }
        let h = self.p.mul(&self.p.mul(&diff, &self.qinv), &self.p.r2);
        // s = m2 + h q
        let q = &self.q.m;
        let mut s = [0u64; 2 * K + 1];
        for i in 0..K {
            let mut carry = 0u64;
            for j in 0..K {
                let v = s[i + j] as u128 + h[i] as u128 * q[j] as u128 + carry as u128;
                s[i + j] = v as u64;
                carry = (v >> 64) as u64;
            }
            s[i + K] = carry;
        }
        add_in_place(&mut s, &m2);
        to_be(&s, self.n_bytes)
    }
}

/// Prints the time of one signature, ours and jsonwebtoken's (hidden `--time-signer`).
pub fn time_signer() {
    let pem = include_bytes!("../fixtures/bench_rsa_2048.pem");
    let ours = RsaSigner::new(pem).expect("signer");
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap();
    let msg = b"header.payload";
    let n = 200;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(ours.sign(msg));
    }
    let a = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n / 10 {
        std::hint::black_box(
            jsonwebtoken::crypto::sign(msg, &key, jsonwebtoken::Algorithm::RS256).unwrap(),
        );
    }
    let b = t.elapsed() / (n / 10);
    // What the service pays to check one: its keys come from a JWKS (n and e).
    let jwk =
        jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::RS256).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let sig = URL_SAFE_NO_PAD.encode(ours.sign(msg));
    let t = std::time::Instant::now();
    for _ in 0..n {
        let ok = jsonwebtoken::crypto::verify(&sig, msg, &decoding, jsonwebtoken::Algorithm::RS256);
        assert!(ok.unwrap());
    }
    let c = t.elapsed() / n;
    println!(
        "RS256 signature: this signer {a:?}, jsonwebtoken {b:?}; jsonwebtoken verification {c:?}"
    );
}
