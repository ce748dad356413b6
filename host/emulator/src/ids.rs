//! Snowflakes, timestamps and interaction tokens.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Hands out increasing, realistic snowflakes (their timestamp bits are the creation time).
#[derive(Debug)]
pub struct Snowflakes {
    next: AtomicU64,
}

impl Snowflakes {
    /// Starts at the current time.
    pub fn new() -> Self {
        let ms = now_ms().saturating_sub(DISCORD_EPOCH_MS);
        Snowflakes {
            next: AtomicU64::new(ms << 22),
        }
    }

    /// The next id.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The current time as an ISO 8601 / RFC 3339 timestamp with microseconds, like Discord's.
pub fn now_iso() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let micros = now.subsec_micros();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A stable 32-hex-digit digest of `bytes`, shaped like Discord's image hashes (two FNV-1a
/// passes; not cryptographic, only stable and collision-unlikely for test data).
pub fn content_hash(bytes: &[u8]) -> String {
    let fnv = |offset: u64| {
        bytes.iter().fold(offset, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let a = fnv(0xcbf2_9ce4_8422_2325);
    let b = fnv(0x6c62_272e_07bb_0142 ^ bytes.len() as u64);
    format!("{a:016x}{b:016x}")
}

/// A unique, unguessable-enough interaction token (URL-safe).
pub fn token(id: u64) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(id);
    h.write_u64(now_ms());
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    format!("aW50ZXJhY3Rpb24{id}x{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn ids_increase_and_tokens_differ() {
        let s = Snowflakes::new();
        let a = s.next();
        assert!(s.next() > a);
        assert_ne!(token(1), token(1));
        assert!(now_iso().ends_with("+00:00"));
    }

    #[test]
    fn content_hashes_are_stable_and_distinct() {
        assert_eq!(content_hash(b"png"), content_hash(b"png"));
        assert_ne!(content_hash(b"png"), content_hash(b"pnh"));
        assert_eq!(content_hash(b"").len(), 32);
    }
}
