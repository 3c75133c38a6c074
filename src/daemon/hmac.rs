//! SHA-256 and HMAC-SHA256 for the daemon request proofs
//! ([`super::auth`]) and the ids in socket names, from RustCrypto's
//! `sha2` and `hmac` crates (well-kept, constant-time where it matters).
//! `tests/pure.rs` pins them to the FIPS 180-4 and RFC 4231 vectors.

#![forbid(unsafe_code)]

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Bytes of a digest or a proof.
pub const LEN: usize = 32;

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; LEN] {
    Keyed::new(key).mac(parts)
}

/// HMAC-SHA256 under one key, the key's inner and outer blocks hashed
/// once: each [`Keyed::mac`] hashes only the message and the outer
/// digest (two SHA-256 blocks for a short message instead of four).
#[derive(Clone)]
pub struct Keyed(hmac::Hmac<Sha256>);

impl Keyed {
    pub fn new(key: &[u8]) -> Keyed {
        Keyed(hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// HMAC-SHA256 of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; LEN] {
        let mut mac = self.0.clone();
        for p in parts {
            mac.update(p);
        }
        let mut out = [0u8; LEN];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; LEN] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut out = [0u8; LEN];
    out.copy_from_slice(&h.finalize());
    out
}

/// A short id derived from a group name for its socket file name: two
/// distinct names (say `a.b` and `a_b`) get distinct ids.
pub fn name_id(name: &str) -> String {
    sha256(&[name.as_bytes()])[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
