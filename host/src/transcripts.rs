//! Transcripts of closed tickets, kept only in servers whose admins turned them on
//! (`/setup transcripts:True`) and only when the operator configured a transcript key.
//!
//! - [`model`] — a transcript as data (versioned).
//! - [`seal`] — compressed, then sealed with AES-256-GCM, bound to server, ticket and blob.
//! - [`render`] — one self-contained, inert HTML file, rendered on demand.
//! - [`storage`] — the one interface sealed transcripts are stored and read through.
//! - [`redact`] — a member's messages replaced by tombstones when they ask for deletion.
//!
//! At close the ticket service captures the channel (the Discord port pages through its
//! history and downloads the files it may keep), stores the transcript sealed, and posts the
//! rendered HTML to the server's log channel. Nothing of the conversation is stored anywhere
//! else, and nothing at all when the server's switch is off.

pub mod model;
pub mod redact;
pub mod render;
pub mod seal;
pub mod storage;

use secrecy::ExposeSecret as _;

use crate::config::Settings;
use crate::store::{ReplaceError, Store, StoreError, Ticket, TranscriptRow};
use model::{Asset, AssetId, Participant, Transcript, FORMAT_VERSION};
use seal::{BlobRef, OpenError, TranscriptKeys};
use storage::TranscriptStorage;

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
    /// It kept being rewritten by others while Tessera tried to change it.
    #[error("the stored transcript kept changing while it was being rewritten")]
    Busy,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored transcript, opened: its row (for [`Transcripts::replace`]), the document and its
/// kept files.
#[derive(Debug)]
pub struct Stored {
    /// The row, with its revision.
    pub row: TranscriptRow,
    /// The document.
    pub transcript: Transcript,
    /// The kept files.
    pub assets: Vec<Asset>,
}

/// What removing a member from stored transcripts did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Transcripts rewritten.
    pub transcripts: usize,
    /// Messages replaced by tombstones.
    pub messages: usize,
    /// Kept files (their attachments and avatar) deleted.
    pub files: usize,
    /// Transcripts that name them but could not be opened with this bot's keys (left as they
    /// are; the log says why).
    pub unreadable: usize,
}

/// Rewrites of one transcript tried before giving up when others keep changing it.
const REPLACE_ATTEMPTS: usize = 5;

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
        store: &impl TranscriptStorage,
        ticket_id: i64,
        transcript: &Transcript,
        assets: &[Asset],
        retention_days: Option<u32>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let days = retention_days
            .unwrap_or(self.retention_days)
            .clamp(1, self.retention_days);
        let row = TranscriptRow {
            ticket_id,
            guild_id: transcript.guild_id,
            message_count: message_count(transcript),
            created_at: now_ms,
            expires_at: now_ms.saturating_add(i64::from(days) * DAY_MS),
            revision: 0,
        };
        let blobs = self.seal_all(ticket_id, transcript, assets);
        store.put(&row, &blobs, &people(transcript)).await
    }

    /// Seals `transcript` again in place of the stored one `row` describes (a member's
    /// deletion changed it), keeping its dates: a rewrite never extends a transcript's
    /// retention. Files not in `assets` are deleted. [`ReplaceError::Stale`] if it changed
    /// since `row` was read.
    pub async fn replace(
        &self,
        store: &impl TranscriptStorage,
        row: &TranscriptRow,
        transcript: &Transcript,
        assets: &[Asset],
    ) -> Result<(), ReplaceError> {
        let row = TranscriptRow {
            message_count: message_count(transcript),
            ..row.clone()
        };
        let blobs = self.seal_all(row.ticket_id, transcript, assets);
        TranscriptStorage::replace(store, &row, &blobs, &people(transcript)).await
    }

    /// The document (blob 0) and each kept file (blob id + 1), sealed for `ticket_id`.
    fn seal_all(
        &self,
        ticket_id: i64,
        transcript: &Transcript,
        assets: &[Asset],
    ) -> Vec<(u32, Vec<u8>)> {
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
        blobs
    }

    /// The stored transcript of ticket `ticket_id` in server `guild_id`, opened and checked.
    pub async fn load(
        &self,
        store: &impl TranscriptStorage,
        guild_id: u64,
        ticket_id: i64,
    ) -> Result<Option<(Transcript, Vec<Asset>)>, LoadError> {
        Ok(self
            .open(store, guild_id, ticket_id)
            .await?
            .map(|s| (s.transcript, s.assets)))
    }

    /// [`Transcripts::load`], with the row it was read at.
    pub async fn open(
        &self,
        store: &impl TranscriptStorage,
        guild_id: u64,
        ticket_id: i64,
    ) -> Result<Option<Stored>, LoadError> {
        let Some((row, blobs)) = store.get(guild_id, ticket_id).await? else {
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
        Ok(transcript.map(|transcript| Stored {
            row,
            transcript,
            assets,
        }))
    }

    /// Records who appears in transcripts stored before that was recorded, opening each once;
    /// how many could not be opened (they stay unrecorded and are tried again next time).
    pub async fn index_older(&self, store: &Store) -> Result<usize, StoreError> {
        let mut unreadable = 0;
        for (guild_id, ticket_id) in store.unindexed_transcripts().await? {
            match self.open(store, guild_id, ticket_id).await {
                Ok(Some(stored)) => {
                    // `false`: rewritten or deleted meanwhile, which records its people anyway.
                    store
                        .index_transcript(&stored.row, &people(&stored.transcript))
                        .await?;
                }
                Ok(None) => {}
                Err(LoadError::Store(err)) => return Err(err),
                Err(err) => {
                    tracing::warn!(guild_id, ticket_id, error = %err, "a stored transcript cannot be opened, so who is in it is unknown");
                    unreadable += 1;
                }
            }
        }
        Ok(unreadable)
    }

    /// Replaces what `user_id` wrote up to `until` (unix ms) in the stored transcript of
    /// `ticket_id` by tombstones (see [`redact::remove_person`]) and seals it again, redoing
    /// the change if the transcript was rewritten meanwhile.
    pub async fn remove_person(
        &self,
        store: &Store,
        guild_id: u64,
        ticket_id: i64,
        user_id: u64,
        until: i64,
    ) -> Result<Removed, LoadError> {
        for _ in 0..REPLACE_ATTEMPTS {
            let Some(mut stored) = self.open(store, guild_id, ticket_id).await? else {
                return Ok(Removed::default());
            };
            let removal =
                redact::remove_person(&mut stored.transcript, &mut stored.assets, user_id, until);
            if !removal.changed() {
                return Ok(Removed::default());
            }
            match self
                .replace(store, &stored.row, &stored.transcript, &stored.assets)
                .await
            {
                Ok(()) => {
                    return Ok(Removed {
                        transcripts: 1,
                        messages: removal.messages,
                        files: removal.files,
                        unreadable: 0,
                    })
                }
                Err(ReplaceError::Stale) => continue,
                Err(ReplaceError::Store(err)) => return Err(err.into()),
            }
        }
        Err(LoadError::Busy)
    }

    /// The HTML file of a transcript.
    pub fn render(transcript: &Transcript, assets: &[Asset]) -> String {
        render::render(transcript, assets)
    }
}

/// Messages in a transcript, as stored in its row.
fn message_count(transcript: &Transcript) -> u32 {
    transcript.messages.len().min(u32::MAX as usize) as u32
}

/// Everyone a transcript names: its participants and the authors of its messages, each once.
pub fn people(transcript: &Transcript) -> Vec<u64> {
    let mut ids: Vec<u64> = transcript
        .participants
        .iter()
        .map(|p| p.id)
        .chain(transcript.messages.iter().map(|m| m.author_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
