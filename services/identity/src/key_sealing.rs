//! The token signing keys at rest. Identity keeps its signing keys in its
//! database (so that every replica signs with the same key and a rotation
//! reaches all of them); in production they are stored sealed with
//! AES-256-GCM under a key-encryption key that comes from a Secret
//! (`SIGNING_KEY_ENCRYPTION_KEY`), so that a copy of the database or of one
//! of its backups cannot sign tokens.
//!
//! A key-encryption key is changed without downtime: the new one becomes
//! `SIGNING_KEY_ENCRYPTION_KEY` and the old one
//! `SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS`; every replica reseals the stored
//! keys under the new one when it starts, after which the old one can go.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One key-encryption key and the fingerprint stored beside what it sealed.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    fingerprint: String,
    /// Shared: the expanded AES key is large and copied with the settings.
    key: Arc<LessSafeKey>,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyEncryptionKey({})", self.fingerprint)
    }
}

impl KeyEncryptionKey {
    /// From its base64 form (32 random bytes, as `openssl rand -base64 32`
    /// writes them).
    pub fn parse(secret: &SecretString) -> std::result::Result<Self, String> {
        let bytes = STANDARD
            .decode(secret.expose_secret().trim())
            .map_err(|_| "must be base64 (openssl rand -base64 32)".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!(
                "must be 32 bytes in base64 (openssl rand -base64 32), not {}",
                bytes.len()
            ));
        }
        // A fingerprint tells which key sealed a row without revealing the
        // key: the first 8 bytes of a SHA-256 over a label and the key.
        let mut digest = Sha256::new();
        digest.update(b"inspraak signing-key encryption key\0");
        digest.update(&bytes);
        let fingerprint = hex::encode(&digest.finalize()[..8]);
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| "is not a valid AES-256 key".to_owned())?;
        Ok(Self {
            fingerprint,
            key: Arc::new(LessSafeKey::new(key)),
        })
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// How the signing keys are stored.
#[derive(Clone, Debug)]
pub enum Sealing {
    /// As they are: the embedded default, when no key-encryption key is set.
    Plain,
    /// Sealed under `current`; rows sealed under `previous` still open, and
    /// are resealed at start.
    Sealed {
        current: KeyEncryptionKey,
        previous: Option<KeyEncryptionKey>,
    },
}

/// A signing key as stored: the bytes, and the fingerprint of the
/// key-encryption key that sealed them (none: stored as they are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub sealed_by: Option<String>,
}

impl Sealing {
    pub fn is_sealed(&self) -> bool {
        matches!(self, Self::Sealed { .. })
    }

    /// Stores `pkcs8`, the private key `kid`. The key id is bound into the
    /// seal, so sealed bytes moved to another row do not open.
    pub fn seal(&self, kid: &str, pkcs8: &[u8]) -> Result<Stored> {
        let Self::Sealed { current, .. } = self else {
            return Ok(Stored {
                bytes: pkcs8.to_vec(),
                sealed_by: None,
            });
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut sealed = pkcs8.to_vec();
        current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| Error::Internal(format!("sealing signing key {kid}")))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(Stored {
            bytes,
            sealed_by: Some(current.fingerprint.clone()),
        })
    }

    /// The private key `kid` from what was stored.
    pub fn open(&self, kid: &str, stored: &Stored) -> Result<Vec<u8>> {
        let Some(fingerprint) = &stored.sealed_by else {
            return Ok(stored.bytes.clone());
        };
        let key = self.key(fingerprint).ok_or_else(|| {
            Error::Internal(format!(
                "signing key {kid} is sealed under key-encryption key {fingerprint}, which is \
                 neither SIGNING_KEY_ENCRYPTION_KEY nor SIGNING_KEY_ENCRYPTION_KEY_PREVIOUS"
            ))
        })?;
        if stored.bytes.len() < NONCE_LEN {
            return Err(Error::Internal(format!(
                "signing key {kid}: sealed bytes too short"
            )));
        }
        let (nonce, sealed) = stored.bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| Error::Internal(format!("signing key {kid}: sealed bytes too short")))?;
        let mut in_out = sealed.to_vec();
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| {
                Error::Internal(format!(
                    "signing key {kid} does not open under key-encryption key {fingerprint}: \
                     altered, or sealed for another row"
                ))
            })?;
        Ok(plain.to_vec())
    }

    /// Whether a row sealed by `sealed_by` should be sealed again: it is not
    /// under the current key-encryption key (or it is sealed and no
    /// key-encryption key is set any more, which [`Self::open`] reports).
    pub fn needs_resealing(&self, sealed_by: Option<&str>) -> bool {
        match self {
            Self::Plain => false,
            Self::Sealed { current, .. } => sealed_by != Some(current.fingerprint.as_str()),
        }
    }

    fn key(&self, fingerprint: &str) -> Option<&KeyEncryptionKey> {
        match self {
            Self::Plain => None,
            Self::Sealed { current, previous } => [Some(current), previous.as_ref()]
                .into_iter()
                .flatten()
                .find(|key| key.fingerprint == fingerprint),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> KeyEncryptionKey {
        KeyEncryptionKey::parse(&SecretString::from(STANDARD.encode([byte; 32]))).unwrap()
    }

    fn sealed(current: u8, previous: Option<u8>) -> Sealing {
        Sealing::Sealed {
            current: kek(current),
            previous: previous.map(kek),
        }
    }

    #[test]
    fn a_sealed_key_opens_only_for_its_row_and_under_its_key() {
        let sealing = sealed(1, None);
        let stored = sealing.seal("kid-a", b"private key").unwrap();
        assert_ne!(stored.bytes, b"private key");
        assert_eq!(stored.sealed_by.as_deref(), Some(kek(1).fingerprint()));
        assert_eq!(sealing.open("kid-a", &stored).unwrap(), b"private key");
        // Moved to another row: refused.
        assert!(sealing.open("kid-b", &stored).is_err());
        // One bit changed: refused.
        let mut altered = stored.clone();
        *altered.bytes.last_mut().unwrap() ^= 1;
        assert!(sealing.open("kid-a", &altered).is_err());
        // Without the key-encryption key: refused, naming it.
        let message = Sealing::Plain
            .open("kid-a", &stored)
            .unwrap_err()
            .to_string();
        assert!(message.contains(kek(1).fingerprint()), "{message}");
        // Under another key: refused.
        assert!(sealed(2, None).open("kid-a", &stored).is_err());
    }

    #[test]
    fn the_previous_key_opens_and_calls_for_resealing() {
        let stored = sealed(1, None).seal("kid", b"secret").unwrap();
        let rotated = sealed(2, Some(1));
        assert_eq!(rotated.open("kid", &stored).unwrap(), b"secret");
        assert!(rotated.needs_resealing(stored.sealed_by.as_deref()));
        let resealed = rotated.seal("kid", b"secret").unwrap();
        assert!(!rotated.needs_resealing(resealed.sealed_by.as_deref()));
        assert!(rotated.needs_resealing(None), "plain rows get sealed");
        assert!(!Sealing::Plain.needs_resealing(None));
    }

    #[test]
    fn every_seal_has_its_own_nonce() {
        let sealing = sealed(1, None);
        let a = sealing.seal("kid", b"secret").unwrap();
        let b = sealing.seal("kid", b"secret").unwrap();
        assert_ne!(a.bytes, b.bytes);
    }

    #[test]
    fn plain_storage_keeps_the_key_as_it_is() {
        let stored = Sealing::Plain.seal("kid", b"secret").unwrap();
        assert_eq!(
            stored,
            Stored {
                bytes: b"secret".to_vec(),
                sealed_by: None
            }
        );
        assert_eq!(Sealing::Plain.open("kid", &stored).unwrap(), b"secret");
    }

    #[test]
    fn key_encryption_keys_must_be_32_bytes_of_base64() {
        for bad in ["", "not base64!", &STANDARD.encode([0u8; 16])] {
            assert!(
                KeyEncryptionKey::parse(&SecretString::from(bad.to_owned())).is_err(),
                "{bad:?}"
            );
        }
        assert_ne!(kek(1).fingerprint(), kek(2).fingerprint());
        assert_eq!(kek(1).fingerprint().len(), 16);
    }
}
