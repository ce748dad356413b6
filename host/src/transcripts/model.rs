//! A transcript as data: what was said in a ticket, by whom, with what attached. Stored sealed
//! (see `seal`), rendered to HTML on demand (see `render`). The format is versioned: a stored
//! transcript says which [`FORMAT_VERSION`] wrote it, and readers refuse versions they do not know.

use serde::{Deserialize, Serialize};

/// The version of this format; bump it (and keep reading older ones) when fields change meaning.
pub const FORMAT_VERSION: u32 = 1;

/// One closed ticket's conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// [`FORMAT_VERSION`] when written.
    pub version: u32,
    /// The server.
    pub guild_id: u64,
    /// The server's name when the ticket closed.
    pub guild_name: String,
    /// The ticket.
    pub ticket: TicketInfo,
    /// Everyone who wrote a message or was mentioned, once each.
    pub participants: Vec<Participant>,
    /// Every message of the ticket channel, oldest first.
    pub messages: Vec<Message>,
}

/// The ticket a transcript belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketInfo {
    /// Its number in the server.
    pub number: i64,
    /// Who opened it.
    pub opener_id: u64,
    /// The subject the opener gave.
    pub subject: Option<String>,
    /// Unix ms.
    pub opened_at: i64,
    /// Unix ms.
    pub closed_at: i64,
    /// Who closed it.
    pub closed_by: u64,
    /// Why, as the closer wrote it.
    pub close_reason: Option<String>,
    /// The staff member who had claimed it.
    pub claimed_by: Option<u64>,
}

/// Someone who appears in the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Their user ID.
    pub id: u64,
    /// Their username.
    pub username: String,
    /// Their display name (server nickname or global name), if different.
    pub display_name: Option<String>,
    /// Their avatar, if it was kept.
    pub avatar: Option<AssetId>,
    /// Whether they are a bot.
    pub bot: bool,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Discord's message ID.
    pub id: u64,
    /// Who wrote it (a [`Participant`]).
    pub author_id: u64,
    /// Its text as Discord markdown, exactly as written (rendering makes it inert).
    pub content: String,
    /// Unix ms.
    pub sent_at: i64,
    /// Unix ms of the last edit, if it was edited.
    pub edited_at: Option<i64>,
    /// The message it replies to, if any (may be outside the transcript).
    pub reply_to: Option<u64>,
    /// Its embeds (what a bot or a link preview showed).
    pub embeds: Vec<Embed>,
    /// Its attachments.
    pub attachments: Vec<Attachment>,
    /// Users, roles and channels it mentions, resolved to names: `<@id>` shows as `@name`.
    pub mentions: Vec<Mention>,
    /// Set when its author asked for their data to be deleted: `content`, `embeds` and
    /// `attachments` are then empty, and the transcript shows that a message was removed.
    pub removed: bool,
}

/// The parts of an embed a transcript shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Embed {
    /// Title.
    pub title: Option<String>,
    /// Description (markdown).
    pub description: Option<String>,
    /// The link the title points to.
    pub url: Option<String>,
    /// Fields: name and value (markdown).
    pub fields: Vec<(String, String)>,
    /// Footer text.
    pub footer: Option<String>,
}

/// An attachment, and whether its bytes were kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file's name.
    pub filename: String,
    /// Its size, bytes, as Discord reported it.
    pub size: u64,
    /// Its MIME type, as Discord reported it.
    pub content_type: Option<String>,
    /// The kept file, or why it was not kept.
    pub kept: Kept,
}

/// Whether a file was kept with the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kept {
    /// Kept as this asset.
    Yes {
        /// The asset.
        asset: AssetId,
    },
    /// Larger than the per-file cap.
    TooLarge {
        /// The cap, bytes.
        limit: u64,
    },
    /// The transcript's total cap was reached.
    TranscriptFull {
        /// The cap, bytes.
        limit: u64,
    },
    /// It could not be downloaded (gone, refused, or not on Discord's CDN).
    Unavailable,
}

/// A user, role or channel mention and the name it showed as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// What kind of mention.
    pub kind: MentionKind,
    /// The mentioned ID.
    pub id: u64,
    /// The name shown for it.
    pub name: String,
}

/// What a mention points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MentionKind {
    /// `<@id>` or `<@!id>`.
    User,
    /// `<@&id>`.
    Role,
    /// `<#id>`.
    Channel,
}

/// The number of a kept file (an avatar or an attachment) within its transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AssetId(pub u32);

/// A kept file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// Its number.
    pub id: AssetId,
    /// Its MIME type (`image/png`, ...), as served.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}
