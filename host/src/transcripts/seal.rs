//! Transcripts at rest: compressed, then sealed with AES-256-GCM under a key from configuration
//! (`transcripts.key`), which is never stored beside the data.
//!
//! A sealed blob is `TSB1` ‖ key id (4 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag. The associated
//! data binds it to its server, ticket and blob number, so a blob copied to another ticket (or
//! another place in its own) does not open. The key id is derived from the key, so the operator
//! rotates keys by setting a new `transcripts.key` and moving the old one to
//! `transcripts.old_keys`: new blobs use the new key, old ones still open.

use std::io::{Read as _, Write as _};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

pub use crate::secrets::BadKey;

const MAGIC: &[u8; 4] = b"TSB1";
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;
const AAD_CONTEXT: &[u8] = b"tessera transcript blob v1";

/// Where a blob belongs: what its associated data binds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    /// The server.
    pub guild_id: u64,
    /// The ticket (its database id).
    pub ticket_id: i64,
    /// Its number within the ticket's transcript (0: the document; then kept files).
    pub blob_no: u32,
}

impl BlobRef {
    fn aad(&self) -> Vec<u8> {
        let mut aad = AAD_CONTEXT.to_vec();
        aad.extend_from_slice(&self.guild_id.to_be_bytes());
        aad.extend_from_slice(&self.ticket_id.to_be_bytes());
        aad.extend_from_slice(&self.blob_no.to_be_bytes());
        aad
    }
}

/// Why a blob does not open. None of these is ever rendered as a transcript.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed with a key this bot no longer has.
    #[error("it was sealed with a key this bot is not configured with (key id {0}); add that key to transcripts.old_keys")]
    UnknownKey(String),
    /// Changed since it was sealed, truncated, or moved from another ticket.
    #[error("it was altered, truncated or moved since it was sealed")]
    Tampered,
    /// It opened but its content is not what was sealed (bigger than allowed, or corrupt).
    #[error("its content is corrupt or larger than allowed")]
    Corrupt,
}

/// One configured key.
struct Key {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

/// The transcript keys: the current one seals, every one opens.
pub struct TranscriptKeys {
    current: Key,
    old: Vec<Key>,
    rng: SystemRandom,
}

impl std::fmt::Debug for TranscriptKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TranscriptKeys(current {}, {} old)",
            self.current_id(),
            self.old.len()
        )
    }
}

fn parse_key(text: &str) -> Result<Key, BadKey> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| BadKey::NotBase64)?;
    if bytes.len() != 32 {
        return Err(BadKey::WrongLength(bytes.len()));
    }
    let digest = Sha256::digest([b"tessera transcript key id".as_slice(), &bytes].concat());
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| BadKey::Unusable)?;
    Ok(Key {
        id,
        key: LessSafeKey::new(key),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TranscriptKeys {
    /// The current key and the old ones still accepted, each 32 bytes in base64. Which one is
    /// wrong is said by position (`Err((None, _))` for the current key, `Some(i)` for old key i).
    pub fn parse(current: &str, old: &[String]) -> Result<TranscriptKeys, (Option<usize>, BadKey)> {
        let current = parse_key(current).map_err(|e| (None, e))?;
        let old = old
            .iter()
            .enumerate()
            .map(|(i, k)| parse_key(k).map_err(|e| (Some(i), e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TranscriptKeys {
            current,
            old,
            rng: SystemRandom::new(),
        })
    }

    /// The id of the key new blobs are sealed with (hex; stored with every blob).
    pub fn current_id(&self) -> String {
        hex(&self.current.id)
    }

    /// Compresses and seals `plaintext` for `blob`.
    pub fn seal(&self, blob: BlobRef, plaintext: &[u8]) -> Vec<u8> {
        let mut deflate = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(plaintext.len() / 4),
            flate2::Compression::fast(),
        );
        // Writing to a Vec cannot fail.
        let _ = deflate.write_all(plaintext);
        let mut buffer = deflate.finish().unwrap_or_default();
        let mut nonce = [0u8; NONCE_LEN];
        // The system RNG failing is not recoverable; a fixed nonce would be worse than stopping.
        #[allow(clippy::expect_used)]
        self.rng
            .fill(&mut nonce)
            .expect("the operating system's random number generator failed");
        #[allow(clippy::expect_used)]
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(blob.aad()),
                &mut buffer,
            )
            .expect("AES-GCM sealing only fails for inputs over 64 GiB");
        let mut out = Vec::with_capacity(HEADER_LEN + buffer.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        out
    }

    /// Opens a blob sealed for `blob`, refusing it if it decompresses to more than `max_len`
    /// bytes.
    pub fn open(&self, blob: BlobRef, sealed: &[u8], max_len: u64) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER_LEN || &sealed[..MAGIC.len()] != MAGIC {
            return Err(OpenError::Tampered);
        }
        let id = &sealed[MAGIC.len()..MAGIC.len() + KEY_ID_LEN];
        let key = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(hex(id)))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[MAGIC.len() + KEY_ID_LEN..HEADER_LEN]);
        let mut buffer = sealed[HEADER_LEN..].to_vec();
        let compressed = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(blob.aad()),
                &mut buffer,
            )
            .map_err(|_| OpenError::Tampered)?;
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(&compressed[..])
            .take(max_len.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|_| OpenError::Corrupt)?;
        if out.len() as u64 > max_len {
            return Err(OpenError::Corrupt);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "HwAeAB0AHAAbABoAGQAYABcAFgAVABQAEwASABEAEAA=";

    fn blob(blob_no: u32) -> BlobRef {
        BlobRef {
            guild_id: 1,
            ticket_id: 2,
            blob_no,
        }
    }

    #[test]
    fn a_blob_opens_only_where_it_was_sealed_and_only_unaltered() {
        let keys = TranscriptKeys::parse(KEY_A, &[]).unwrap();
        let text = "hello, this is the ticket ".repeat(100);
        let sealed = keys.seal(blob(0), text.as_bytes());
        assert!(sealed.len() < text.len() / 4, "compressed before sealing");
        assert!(
            !sealed.windows(5).any(|w| w == b"hello"),
            "not in the clear"
        );
        assert_eq!(
            keys.open(blob(0), &sealed, 1 << 20).unwrap(),
            text.as_bytes()
        );
        // Every single flipped byte is detected.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(keys.open(blob(0), &bad, 1 << 20).is_err(), "byte {i}");
        }
        // Moved to another blob, ticket or server: refused.
        assert_eq!(
            keys.open(blob(1), &sealed, 1 << 20),
            Err(OpenError::Tampered)
        );
        let other_ticket = BlobRef {
            ticket_id: 3,
            ..blob(0)
        };
        assert_eq!(
            keys.open(other_ticket, &sealed, 1 << 20),
            Err(OpenError::Tampered)
        );
        let other_server = BlobRef {
            guild_id: 9,
            ..blob(0)
        };
        assert_eq!(
            keys.open(other_server, &sealed, 1 << 20),
            Err(OpenError::Tampered)
        );
        // Truncated: refused.
        assert!(keys
            .open(blob(0), &sealed[..sealed.len() - 1], 1 << 20)
            .is_err());
        // Bigger than allowed once decompressed: refused.
        assert_eq!(keys.open(blob(0), &sealed, 10), Err(OpenError::Corrupt));
    }

    #[test]
    fn keys_rotate_new_blobs_use_the_new_key_old_ones_still_open() {
        let old = TranscriptKeys::parse(KEY_A, &[]).unwrap();
        let sealed_before = old.seal(blob(0), b"before");
        let rotated = TranscriptKeys::parse(KEY_B, &[KEY_A.to_owned()]).unwrap();
        assert_ne!(rotated.current_id(), old.current_id());
        assert_eq!(
            rotated.open(blob(0), &sealed_before, 100).unwrap(),
            b"before"
        );
        let sealed_after = rotated.seal(blob(0), b"after");
        assert_eq!(
            &sealed_after[4..8],
            hex_bytes(&rotated.current_id()).as_slice()
        );
        // Without the old key, the old blob names the key it needs.
        let only_new = TranscriptKeys::parse(KEY_B, &[]).unwrap();
        assert_eq!(
            only_new.open(blob(0), &sealed_before, 100),
            Err(OpenError::UnknownKey(old.current_id()))
        );
    }

    #[test]
    fn a_bad_key_is_named_by_position() {
        assert!(matches!(
            TranscriptKeys::parse("not base64!", &[]),
            Err((None, BadKey::NotBase64))
        ));
        assert!(matches!(
            TranscriptKeys::parse(KEY_A, &["AAAA".to_owned()]),
            Err((Some(0), BadKey::WrongLength(3)))
        ));
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }
}
