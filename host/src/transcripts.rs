//! Transcripts of closed tickets, kept only in servers whose admins turned them on
//! (`/setup transcripts:True`) and only when the operator configured a transcript key.
//!
//! - [`model`] — a transcript as data (versioned).
//! - [`seal`] — compressed, then sealed with AES-256-GCM, bound to server, ticket and blob.
//! - [`render`] — one self-contained, inert HTML file, rendered on demand.
//!
//! At close the ticket service captures the channel (the Discord port pages through its
//! history and downloads the files it may keep), stores the transcript sealed, and posts the
//! rendered HTML to the server's log channel. Nothing of the conversation is stored anywhere
//! else, and nothing at all when the server's switch is off.

pub mod model;
pub mod render;
pub mod seal;

use secrecy::ExposeSecret as _;

use crate::config::Settings;
use crate::store::{Store, StoreError, Ticket, TranscriptRow};
use model::{Asset, AssetId, Participant, Transcript, FORMAT_VERSION};
use seal::{BlobRef, OpenError, TranscriptKeys};

/// Bytes a transcript document may decompress to when opened (a 10,000-message ticket of long
/// messages is far below this).
const MAX_DOCUMENT_BYTES: u64 = 256 << 20;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What capturing a channel may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureLimits {
    /// The largest file kept, bytes.
    pub max_file_bytes: u64,
    /// All files of one transcript together, bytes.
    pub max_total_bytes: u64,
}

/// What the Discord port captured from a ticket channel.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// Everyone who wrote or was mentioned.
    pub participants: Vec<Participant>,
    /// Every message, oldest first.
    pub messages: Vec<model::Message>,
    /// The files kept (avatars, attachments), numbered from 0.
    pub assets: Vec<Asset>,
}

/// Why a stored transcript cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A blob does not open: tampered, moved, or sealed with a key this bot lacks.
    #[error("the stored transcript {0}")]
    Sealed(#[from] OpenError),
    /// It opened but is not a transcript this version can read.
    #[error("the stored transcript is not in a format this version of Tessera reads")]
    Format,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The operator's transcript configuration.
#[derive(Debug)]
pub struct Transcripts {
    keys: TranscriptKeys,
    limits: CaptureLimits,
    retention_days: u32,
}

impl Transcripts {
    /// From the settings; `None` when no transcript key is configured (transcripts cannot be
    /// turned on). The settings were validated, so a configured key parses.
    pub fn from_settings(settings: &Settings) -> Option<Transcripts> {
        let t = &settings.transcripts;
        let key = t.key.as_ref()?;
        let old: Vec<String> = t
            .old_keys
            .iter()
            .map(|k| k.expose_secret().to_owned())
            .collect();
        let keys = TranscriptKeys::parse(key.expose_secret(), &old).ok()?;
        Some(Transcripts {
            keys,
            limits: CaptureLimits {
                max_file_bytes: t.max_file_bytes,
                max_total_bytes: t.max_total_bytes,
            },
            retention_days: t.retention_days,
        })
    }

    /// Transcripts sealed with `keys`, keeping files within `limits`, for at most
    /// `retention_days`.
    pub fn new(keys: TranscriptKeys, limits: CaptureLimits, retention_days: u32) -> Transcripts {
        Transcripts {
            keys,
            limits,
            retention_days: retention_days.max(1),
        }
    }

    /// What capturing may keep.
    pub fn limits(&self) -> CaptureLimits {
        self.limits
    }

    /// The operator's retention ceiling, days.
    pub fn retention_ceiling_days(&self) -> u32 {
        self.retention_days
    }

    /// The transcript of `ticket` (closed), from what was captured.
    pub fn build(
        &self,
        guild_name: &str,
        ticket: &Ticket,
        captured: Captured,
    ) -> (Transcript, Vec<Asset>) {
        let transcript = Transcript {
            version: FORMAT_VERSION,
            guild_id: ticket.guild_id,
            guild_name: guild_name.to_owned(),
            ticket: model::TicketInfo {
                number: ticket.number,
                opener_id: ticket.opener_id,
                subject: ticket.subject.clone(),
                opened_at: ticket.opened_at,
                closed_at: ticket.closed_at.unwrap_or(ticket.opened_at),
                closed_by: ticket.closed_by.unwrap_or(ticket.opener_id),
                close_reason: ticket.close_reason.clone(),
                claimed_by: ticket.claimed_by,
            },
            participants: captured.participants,
            messages: captured.messages,
        };
        (transcript, captured.assets)
    }

    /// Seals and stores `transcript` with its files, kept for the server's retention (at most
    /// the operator's ceiling) from `now_ms`.
    pub async fn save(
        &self,
        store: &Store,
        ticket_id: i64,
        transcript: &Transcript,
        assets: &[Asset],
        retention_days: Option<u32>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let days = retention_days
            .unwrap_or(self.retention_days)
            .clamp(1, self.retention_days);
        let blob = |blob_no| BlobRef {
            guild_id: transcript.guild_id,
            ticket_id,
            blob_no,
        };
        // Serializing our own types to JSON cannot fail.
        let document = serde_json::to_vec(transcript).unwrap_or_default();
        let mut blobs = vec![(0, self.keys.seal(blob(0), &document))];
        for asset in assets {
            let no = asset.id.0.saturating_add(1);
            let mut plain = Vec::with_capacity(asset.bytes.len() + 64);
            let kind = asset.content_type.as_bytes();
            let kind = &kind[..kind.len().min(255)];
            plain.push(kind.len() as u8);
            plain.extend_from_slice(kind);
            plain.extend_from_slice(&asset.bytes);
            blobs.push((no, self.keys.seal(blob(no), &plain)));
        }
        let row = TranscriptRow {
            ticket_id,
            guild_id: transcript.guild_id,
            message_count: transcript.messages.len().min(u32::MAX as usize) as u32,
            created_at: now_ms,
            expires_at: now_ms.saturating_add(i64::from(days) * DAY_MS),
        };
        store.save_transcript(&row, &blobs).await
    }

    /// The stored transcript of ticket `ticket_id` in server `guild_id`, opened and checked.
    pub async fn load(
        &self,
        store: &Store,
        guild_id: u64,
        ticket_id: i64,
    ) -> Result<Option<(Transcript, Vec<Asset>)>, LoadError> {
        let Some((_, blobs)) = store.transcript(guild_id, ticket_id).await? else {
            return Ok(None);
        };
        let blob = |blob_no| BlobRef {
            guild_id,
            ticket_id,
            blob_no,
        };
        let mut transcript = None;
        let mut assets = Vec::new();
        for (no, sealed) in blobs {
            if no == 0 {
                let plain = self.keys.open(blob(0), &sealed, MAX_DOCUMENT_BYTES)?;
                let parsed: Transcript =
                    serde_json::from_slice(&plain).map_err(|_| LoadError::Format)?;
                if parsed.version != FORMAT_VERSION || parsed.guild_id != guild_id {
                    return Err(LoadError::Format);
                }
                transcript = Some(parsed);
            } else {
                let plain = self
                    .keys
                    .open(blob(no), &sealed, self.limits.max_file_bytes + 256)?;
                let Some((&len, rest)) = plain.split_first() else {
                    return Err(LoadError::Format);
                };
                let len = usize::from(len);
                if rest.len() < len {
                    return Err(LoadError::Format);
                }
                assets.push(Asset {
                    id: AssetId(no - 1),
                    content_type: String::from_utf8_lossy(&rest[..len]).into_owned(),
                    bytes: rest[len..].to_vec(),
                });
            }
        }
        Ok(transcript.map(|t| (t, assets)))
    }

    /// The HTML file of a transcript.
    pub fn render(transcript: &Transcript, assets: &[Asset]) -> String {
        render::render(transcript, assets)
    }
}
