//! Secrets identity hands out (refresh tokens, one-time codes) and the hashes
//! it keeps of them instead.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// A refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A one-time code people type: 8 digits.
pub fn new_code() -> String {
    format!("{:08}", rand::thread_rng().gen_range(0..100_000_000u32))
}

/// A client secret or other high-entropy secret: 256 bits, base64url.
pub fn new_secret() -> String {
    new_refresh_token()
}

/// SHA-256, hex: what is stored of a high-entropy secret. (Codes are short,
/// but they die after a few wrong guesses and within hours.)
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares in constant time.
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_hashed() {
        assert_ne!(new_refresh_token(), new_refresh_token());
        assert_eq!(new_code().len(), 8);
        assert_eq!(hash("abc").len(), 64);
        assert!(same(&hash("abc"), &hash("abc")));
        assert!(!same(&hash("abc"), &hash("abd")));
    }
}
