//! Integration secrets at rest: sealed with AES-256-GCM under a key from configuration
//! (`plugins.secrets_key`), which is never stored beside the data.
//!
//! A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag). The associated data binds it to
//! its server and plugin, so a sealed value copied to another row does not open.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "v1:";

/// The key that seals secrets.
pub struct SecretsKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

/// A sealed value that does not open: wrong key, wrong row, or tampered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealed secrets cannot be opened (another key, another row, or tampered with)")]
pub struct Unsealable;

/// Why a configured key is unusable; it says what is wrong, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadKey {
    /// Not base64 at all.
    #[error("is not base64; generate one with `openssl rand -base64 32`")]
    NotBase64,
    /// Base64 of the wrong length.
    #[error("must be 32 bytes (it is {0}); generate one with `openssl rand -base64 32`")]
    WrongLength(usize),
    /// The crypto library refused it.
    #[error("is not a usable AES-256 key")]
    Unusable,
}

impl SecretsKey {
    /// Parses 32 bytes, base64-encoded.
    pub fn parse(text: &str) -> Result<SecretsKey, BadKey> {
        let bytes = B64.decode(text.trim()).map_err(|_| BadKey::NotBase64)?;
        if bytes.len() != 32 {
            return Err(BadKey::WrongLength(bytes.len()));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| BadKey::Unusable)?;
        Ok(SecretsKey {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// Seals `plaintext` for the row named by `context` (e.g. server and plugin).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        // The system RNG failing is not recoverable; a fixed nonce would be worse than stopping.
        #[allow(clippy::expect_used)]
        self.rng
            .fill(&mut nonce)
            .expect("the operating system's random number generator failed");
        let mut buffer = plaintext.to_vec();
        #[allow(clippy::expect_used)]
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buffer,
            )
            .expect("AES-GCM sealing only fails for inputs over 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        format!("{PREFIX}{}", B64.encode(out))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, Unsealable> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .ok_or(Unsealable)?;
        if raw.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| Unsealable)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = SecretsKey::parse(KEY).expect("a valid key");
        let sealed = key.seal("guild:1:plugin:x", b"hunter2");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(
            key.open("guild:1:plugin:x", &sealed).as_deref(),
            Ok(&b"hunter2"[..])
        );
        assert_eq!(key.open("guild:2:plugin:x", &sealed), Err(Unsealable));
        let other = SecretsKey::parse(&B64.encode([7u8; 32])).expect("a valid key");
        assert_eq!(other.open("guild:1:plugin:x", &sealed), Err(Unsealable));
    }

    #[test]
    fn tampering_is_detected() {
        let key = SecretsKey::parse(KEY).expect("a valid key");
        let sealed = key.seal("c", b"secret value");
        let mut raw = B64.decode(&sealed[3..]).expect("base64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            key.open("c", &format!("v1:{}", B64.encode(&raw))),
            Err(Unsealable)
        );
        raw[last] ^= 1;
        raw[NONCE_LEN] ^= 0x80;
        assert_eq!(
            key.open("c", &format!("v1:{}", B64.encode(&raw))),
            Err(Unsealable)
        );
        assert_eq!(key.open("c", "v1:AAAA"), Err(Unsealable));
        assert_eq!(key.open("c", "plain"), Err(Unsealable));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let key = SecretsKey::parse(KEY).expect("a valid key");
        assert_ne!(key.seal("c", b"x"), key.seal("c", b"x"));
    }

    #[test]
    fn bad_keys_are_explained_without_echoing_them() {
        let err = SecretsKey::parse("not base64!!").expect_err("refused");
        assert_eq!(err, BadKey::NotBase64);
        assert!(err.to_string().contains("base64"), "{err}");
        let err = SecretsKey::parse(&B64.encode([1u8; 16])).expect_err("refused");
        assert_eq!(err, BadKey::WrongLength(16));
        let text = err.to_string();
        assert!(text.contains("32 bytes") && text.contains("16"), "{text}");
    }
}
