//! The `aesgcm` provider's value format, as kube-apiserver's
//! (`k8s.io/apiserver/pkg/storage/value/encrypt/aes`): the stored value is
//! `k8s:enc:aesgcm:v1:<key name>:` followed by a random 96-bit nonce and the
//! AES-GCM ciphertext with its 16-byte tag, the store key authenticated as
//! additional data (so a value copied to another key does not decrypt).
//!
//! A random nonce bounds a key to about 2^32 writes before it should be
//! rotated, as Kubernetes documents for this provider.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};
use base64::Engine;

use super::config::invalid;

/// The length of the random nonce before each ciphertext, in bytes.
const NONCE_BYTES: usize = 12;

/// One named key of an `aesgcm` provider.
pub(super) struct AesGcmKey {
    /// `k8s:enc:aesgcm:v1:<name>:`.
    prefix: Vec<u8>,
    cipher: Cipher,
}

enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<AesGcm<Aes192, U12>>),
    Aes256(Box<Aes256Gcm>),
}

impl AesGcmKey {
    /// The key `name` from the base64 of 16, 24 or 32 bytes; `field` names
    /// it in errors.
    ///
    /// Errors: `Invalid` for an empty name, a name with `:`, bad base64 or
    /// another length.
    pub(super) fn new(name: &str, secret: &str, field: &str) -> orch_core::Result<Self> {
        if name.is_empty() || name.contains(':') {
            return Err(invalid(
                &format!("{field}.name"),
                format!("{name:?}: must be non-empty, without ':'"),
            ));
        }
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(secret.trim()).map_err(|e| {
                invalid(&format!("{field}.secret"), format!("is not valid base64: {e}"))
            })?;
        let length_error = || {
            invalid(
                &format!("{field}.secret"),
                format!("is {} bytes; AES-GCM needs 16, 24 or 32", bytes.len()),
            )
        };
        let cipher = match bytes.len() {
            16 => Cipher::Aes128(Box::new(
                Aes128Gcm::new_from_slice(&bytes).map_err(|_| length_error())?,
            )),
            24 => Cipher::Aes192(Box::new(
                AesGcm::<Aes192, U12>::new_from_slice(&bytes).map_err(|_| length_error())?,
            )),
            32 => Cipher::Aes256(Box::new(
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| length_error())?,
            )),
            _ => return Err(length_error()),
        };
        Ok(AesGcmKey { prefix: format!("k8s:enc:aesgcm:v1:{name}:").into_bytes(), cipher })
    }

    /// True if `value` was written with this key.
    pub(super) fn wrote(&self, value: &[u8]) -> bool {
        value.starts_with(&self.prefix)
    }

    /// `plaintext` as stored at `key`: prefix, nonce, ciphertext and tag.
    pub(super) fn seal(&self, key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, String> {
        let nonce = Aes128Gcm::generate_nonce(&mut OsRng);
        let payload = Payload { msg: plaintext, aad: key };
        let sealed = match &self.cipher {
            Cipher::Aes128(c) => c.encrypt(&nonce, payload),
            Cipher::Aes192(c) => c.encrypt(&nonce, payload),
            Cipher::Aes256(c) => c.encrypt(&nonce, payload),
        }
        .map_err(|_| "AES-GCM encryption failed".to_owned())?;
        let mut out = Vec::with_capacity(self.prefix.len() + NONCE_BYTES + sealed.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of `value` (which [`wrote`](Self::wrote) accepts),
    /// stored at `key`.
    ///
    /// Errors: a value too short for a nonce and tag, or one whose tag does
    /// not match (another key's value, a tampered one).
    pub(super) fn open(&self, key: &[u8], value: &[u8]) -> Result<Vec<u8>, String> {
        let rest = &value[self.prefix.len().min(value.len())..];
        if rest.len() < NONCE_BYTES + 16 {
            return Err(format!("{} bytes after the prefix: too short for AES-GCM", rest.len()));
        }
        let (nonce, sealed) = rest.split_at(NONCE_BYTES);
        let nonce = Nonce::<U12>::from_slice(nonce);
        let payload = Payload { msg: sealed, aad: key };
        match &self.cipher {
            Cipher::Aes128(c) => c.decrypt(nonce, payload),
            Cipher::Aes192(c) => c.decrypt(nonce, payload),
            Cipher::Aes256(c) => c.decrypt(nonce, payload),
        }
        .map_err(|_| {
            "cipher: message authentication failed (wrong key, tampered value, or a value \
             from another key)"
                .to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(len: usize) -> AesGcmKey {
        let secret = base64::engine::general_purpose::STANDARD.encode(vec![7u8; len]);
        AesGcmKey::new("k1", &secret, "key").expect("valid key")
    }

    #[test]
    fn every_key_length_round_trips_and_hides_the_plaintext() {
        for len in [16, 24, 32] {
            let k = key(len);
            let sealed = k.seal(b"/registry/core/secrets/a/b", b"top secret").expect("seal");
            assert!(sealed.starts_with(b"k8s:enc:aesgcm:v1:k1:"), "{len}");
            assert!(!sealed.windows(10).any(|w| w == b"top secret"), "{len}");
            assert_eq!(
                k.open(b"/registry/core/secrets/a/b", &sealed).expect("open"),
                b"top secret"
            );
        }
    }

    #[test]
    fn a_value_under_another_key_or_tampered_does_not_open() {
        let k = key(32);
        let mut sealed = k.seal(b"/registry/core/secrets/a/b", b"top secret").expect("seal");
        assert!(k.open(b"/registry/core/secrets/a/c", &sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(k.open(b"/registry/core/secrets/a/b", &sealed).is_err());
        assert!(k.open(b"/k", b"k8s:enc:aesgcm:v1:k1:short").is_err());
    }

    #[test]
    fn two_writes_of_one_value_differ_by_their_nonce() {
        let k = key(16);
        assert_ne!(k.seal(b"/k", b"same").expect("seal"), k.seal(b"/k", b"same").expect("seal"));
    }

    #[test]
    fn bad_keys_are_refused_with_the_field() {
        for (name, secret) in [("", "AAAA"), ("a:b", "AAAA"), ("k", "not base64!"), ("k", "AAAA")] {
            let err = AesGcmKey::new(name, secret, "resources[0].providers[0].aesgcm.keys[0]")
                .err()
                .expect("refused");
            assert!(err.to_string().contains("keys[0]"), "{err}");
        }
    }
}
