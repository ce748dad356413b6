//! Right of access and portability (PRIVACY.md #10, #17): everything Tessera stores about one
//! member, in every server, as one JSON document a program can read.
//!
//! The format is versioned by [`SCHEMA`] and documented field by field on the types below
//! (and summarised in the README): a change that renames, removes or changes the meaning of a
//! field gets a new schema name; new fields may be added within one. Times are RFC 3339 in
//! UTC, snowflakes are strings (as in Discord's own JSON: they do not fit a JavaScript number).
//!
//! Only what is about the member is included: their tickets, their own messages (never anyone
//! else's), the records of their ID being shared, the blacklist entries about them, and what
//! they did as an admin. The IDs of staff who acted on their tickets (claimed, closed, added
//! them) are included, as the member saw them act; other members' IDs are not.

use serde::Serialize;
use serenity::model::Timestamp;

use crate::store::{Store, StoreError, TicketStatus};
use crate::transcripts::model::{Embed, Kept};
use crate::transcripts::{LoadError, Transcripts};

/// The name and version of the format; it changes when a field is renamed, removed or changes
/// meaning.
pub const SCHEMA: &str = "tessera-export/1";

/// A member's export, `tessera-export/1`.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The member's Discord user ID: whose data this is.
    pub user_id: String,
    /// When the export was made.
    pub generated_at: String,
    /// Every ticket they opened in any server where Tessera still keeps it.
    pub tickets_opened: Vec<OpenedTicket>,
    /// Tickets staff added them to.
    pub tickets_added_to: Vec<AddedTo>,
    /// The audit entries that name them: what they did to tickets, and when they were added
    /// to or removed from one.
    pub ticket_events: Vec<Event>,
    /// Their messages in stored transcripts, per transcript.
    pub transcripts: Vec<TranscriptPart>,
    /// Stored transcripts this bot cannot open (no transcript key, or sealed with a key it is
    /// no longer configured with) that name them, or that may (stored before Tessera recorded
    /// who is in each): their messages there, if any, are not in this export.
    pub transcripts_not_readable: usize,
    /// Every time an integration received their user ID (PRIVACY.md #17).
    pub integration_deliveries: Vec<Delivery>,
    /// Servers' blacklist entries about them. The reason is the server staff's note about
    /// *them*, which is why it is theirs to see; who added it is not said (that is the
    /// moderator's data, and naming them invites retaliation).
    pub blacklist: Vec<Blacklisted>,
    /// Integration consent records they made as a server's admin (enable, disable, upload).
    pub consent_records: Vec<Consent>,
    /// Other records of what they did as a server's admin: panels posted, integration settings
    /// changed, plugins uploaded, confirmations awaiting their click.
    pub admin_records: Vec<AdminRecord>,
    /// When they asked for their data to be deleted, while that request still applies to
    /// tickets that were open at the time (`null` otherwise).
    pub deletion_requested_at: Option<String>,
}

/// A ticket the member opened.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedTicket {
    /// The server.
    pub server_id: String,
    /// Its number in that server (`ticket-0001` is 1).
    pub number: i64,
    /// The subject they typed with `/open` (`null`: none, or removed at their request).
    pub subject: Option<String>,
    /// `open` or `closed`.
    pub status: &'static str,
    /// When it was opened.
    pub opened_at: String,
    /// When it was closed (`null` while open).
    pub closed_at: Option<String>,
    /// Who closed it: their own ID or a staff member's.
    pub closed_by: Option<String>,
    /// The reason given when closing, as the closer wrote it.
    pub close_reason: Option<String>,
    /// The staff member who claimed it.
    pub claimed_by: Option<String>,
}

/// A ticket the member was added to.
#[derive(Debug, Clone, Serialize)]
pub struct AddedTo {
    /// The server.
    pub server_id: String,
    /// The ticket's number in it.
    pub ticket_number: i64,
    /// `open` or `closed`.
    pub status: &'static str,
    /// The staff member who added them.
    pub added_by: String,
    /// When.
    pub added_at: String,
}

/// An audit entry naming the member.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The server.
    pub server_id: String,
    /// The ticket's number (`null` if the ticket itself is no longer stored).
    pub ticket_number: Option<i64>,
    /// `opened`, `claimed`, `unclaimed`, `member_added`, `member_removed` or `closed`.
    pub action: String,
    /// Whether they did it (`false`: staff added or removed them).
    pub by_you: bool,
    /// Who did it, when it was not them.
    pub actor_id: Option<String>,
    /// What they wrote with it: the subject of `opened`, the reason of `closed`.
    pub text: Option<String>,
    /// When.
    pub at: String,
}

/// The member's part of one stored transcript.
#[derive(Debug, Clone, Serialize)]
pub struct TranscriptPart {
    /// The server.
    pub server_id: String,
    /// The server's name when the ticket closed.
    pub server_name: String,
    /// The ticket's number.
    pub ticket_number: i64,
    /// How the transcript shows them, if it does.
    pub appears_as: Option<AppearsAs>,
    /// Their messages, oldest first (others' messages are never included).
    pub messages: Vec<OwnMessage>,
}

/// A member as a transcript shows them.
#[derive(Debug, Clone, Serialize)]
pub struct AppearsAs {
    /// Their username then.
    pub username: String,
    /// Their display name then, if different.
    pub display_name: Option<String>,
    /// Whether their avatar image was kept with the transcript.
    pub avatar_kept: bool,
}

/// One of the member's messages in a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct OwnMessage {
    /// Discord's message ID.
    pub id: String,
    /// When it was sent.
    pub sent_at: String,
    /// When it was last edited.
    pub edited_at: Option<String>,
    /// The message it replied to.
    pub reply_to: Option<String>,
    /// Its text (Discord markdown, as written; empty once removed).
    pub content: String,
    /// Its embeds (link previews).
    pub embeds: Vec<Embed>,
    /// Its attachments: names and whether a copy was kept, never the files themselves.
    pub attachments: Vec<AttachmentInfo>,
    /// `true` once they asked for deletion: only the ID and times remain.
    pub removed: bool,
}

/// An attachment of the member's message.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentInfo {
    /// The file's name.
    pub filename: String,
    /// Its size, bytes.
    pub size: u64,
    /// Its MIME type.
    pub content_type: Option<String>,
    /// Whether a copy is kept with the transcript.
    pub kept: bool,
}

/// An integration receiving the member's user ID.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The server whose admins enabled it.
    pub server_id: String,
    /// The ticket being opened, by number (`null` if no longer stored).
    pub ticket_number: Option<i64>,
    /// The plugin's id.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The sha256 of the exact plugin file that ran.
    pub sha256: String,
    /// When it received the ID.
    pub at: String,
    /// `ok`, or the class of failure (`timeout`, `denied`, ...).
    pub outcome: String,
    /// Tessera's sentence for a failure.
    pub detail: Option<String>,
}

/// A blacklist entry about the member.
#[derive(Debug, Clone, Serialize)]
pub struct Blacklisted {
    /// The server.
    pub server_id: String,
    /// Why, as the server's staff wrote it.
    pub reason: Option<String>,
    /// When.
    pub added_at: String,
}

/// A consent record the member made as an admin.
#[derive(Debug, Clone, Serialize)]
pub struct Consent {
    /// The server.
    pub server_id: String,
    /// The plugin's id.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// Its sha256.
    pub sha256: String,
    /// `enabled`, `disabled` or `uploaded`.
    pub action: &'static str,
    /// What it receives: `user ID`, or `user ID, server ID`.
    pub shares: String,
    /// The privacy policy it declared then.
    pub privacy_policy: String,
    /// When.
    pub at: String,
}

/// Another record of an admin's action.
#[derive(Debug, Clone, Serialize)]
pub struct AdminRecord {
    /// `panel`, `integration_settings`, `plugin_upload`, `pending_enable` or `pending_upload`.
    pub kind: &'static str,
    /// The server.
    pub server_id: String,
    /// What it is about: the panel's channel ID, the plugin's id, the upload's sha256.
    pub about: String,
    /// When it was done (for a pending confirmation: when it expires).
    pub at: String,
}

/// Collects everything stored about `user_id`, decrypting their messages with `transcripts`
/// (without a key, stored transcripts that name them count as not readable).
#[tracing::instrument(skip_all)]
pub async fn export(
    store: &Store,
    transcripts: Option<&Transcripts>,
    user_id: u64,
    now_ms: i64,
) -> Result<Export, StoreError> {
    let records = store.records_about(user_id).await?;
    let deliveries = store.deliveries_for_user(user_id).await?;
    let (parts, not_readable) = transcript_parts(store, transcripts, user_id).await?;
    let number_of = |ticket_id: Option<i64>| {
        records
            .tickets_opened
            .iter()
            .find(|t| Some(t.id) == ticket_id)
            .map(|t| t.number)
    };
    Ok(Export {
        schema: SCHEMA,
        user_id: user_id.to_string(),
        generated_at: time(now_ms),
        tickets_opened: records
            .tickets_opened
            .iter()
            .map(|t| OpenedTicket {
                server_id: t.guild_id.to_string(),
                number: t.number,
                subject: t.subject.clone(),
                status: status(t.status),
                opened_at: time(t.opened_at),
                closed_at: t.closed_at.map(time),
                closed_by: t.closed_by.map(|id| id.to_string()),
                close_reason: t.close_reason.clone(),
                claimed_by: t.claimed_by.map(|id| id.to_string()),
            })
            .collect(),
        tickets_added_to: records
            .memberships
            .iter()
            .map(|m| AddedTo {
                server_id: m.guild_id.to_string(),
                ticket_number: m.ticket_number,
                status: status(m.status),
                added_by: m.added_by.to_string(),
                added_at: time(m.added_at),
            })
            .collect(),
        ticket_events: records
            .events
            .iter()
            .map(|e| {
                let by_you = e.actor_id == user_id;
                Event {
                    server_id: e.guild_id.to_string(),
                    ticket_number: e.ticket_number,
                    action: e.action.clone(),
                    by_you,
                    actor_id: (!by_you).then(|| e.actor_id.to_string()),
                    // The other details are user IDs: theirs (implied by the action) or
                    // another member's (not theirs to get).
                    text: (by_you && matches!(e.action.as_str(), "opened" | "closed"))
                        .then(|| e.detail.clone())
                        .flatten(),
                    at: time(e.at),
                }
            })
            .collect(),
        transcripts: parts,
        transcripts_not_readable: not_readable,
        integration_deliveries: deliveries
            .iter()
            .map(|d| Delivery {
                server_id: d.guild_id.to_string(),
                ticket_number: number_of(d.ticket_id),
                plugin: d.plugin_id.clone(),
                version: d.version.clone(),
                sha256: d.sha256.clone(),
                at: time(d.at),
                outcome: d.outcome.clone(),
                detail: d.detail.clone(),
            })
            .collect(),
        blacklist: records
            .blacklisted
            .iter()
            .map(|b| Blacklisted {
                server_id: b.guild_id.to_string(),
                reason: b.reason.clone(),
                added_at: time(b.added_at),
            })
            .collect(),
        consent_records: records
            .consents
            .iter()
            .map(|c| Consent {
                server_id: c.guild_id.to_string(),
                plugin: c.plugin_id.clone(),
                version: c.version.clone(),
                sha256: c.sha256.clone(),
                action: c.action.as_str(),
                shares: c.shares.clone(),
                privacy_policy: c.privacy_policy.clone(),
                at: time(c.at),
            })
            .collect(),
        admin_records: records
            .admin
            .iter()
            .map(|a| AdminRecord {
                kind: a.kind,
                server_id: a.guild_id.to_string(),
                about: a.what.clone(),
                at: time(a.at),
            })
            .collect(),
        deletion_requested_at: records.erased_at.map(time),
    })
}

/// The export as pretty-printed JSON.
pub fn to_json(export: &Export) -> Vec<u8> {
    // Serializing these plain types cannot fail.
    serde_json::to_vec_pretty(export).unwrap_or_default()
}

/// The member's messages in every stored transcript that names them, and how many such
/// transcripts could not be opened.
async fn transcript_parts(
    store: &Store,
    transcripts: Option<&Transcripts>,
    user_id: u64,
) -> Result<(Vec<TranscriptPart>, usize), StoreError> {
    let Some(transcripts) = transcripts else {
        let named = store.transcripts_with_person(user_id).await?.len();
        let unknown = store.unindexed_transcripts().await?.len();
        return Ok((Vec::new(), named + unknown));
    };
    let mut not_readable = transcripts.index_older(store).await?;
    let mut parts = Vec::new();
    for (guild_id, ticket_id) in store.transcripts_with_person(user_id).await? {
        let t = match transcripts.load(store, guild_id, ticket_id).await {
            Ok(Some((t, _))) => t,
            Ok(None) => continue,
            Err(LoadError::Store(err)) => return Err(err),
            Err(err) => {
                tracing::warn!(guild_id, ticket_id, error = %err, "a transcript naming the member cannot be opened for their export");
                not_readable += 1;
                continue;
            }
        };
        let appears_as = t
            .participants
            .iter()
            .find(|p| p.id == user_id)
            .map(|p| AppearsAs {
                username: p.username.clone(),
                display_name: p.display_name.clone(),
                avatar_kept: p.avatar.is_some(),
            });
        let messages: Vec<OwnMessage> = t
            .messages
            .iter()
            // Only their own: never what anyone else wrote, even in their own ticket.
            .filter(|m| m.author_id == user_id)
            .map(|m| OwnMessage {
                id: m.id.to_string(),
                sent_at: time(m.sent_at),
                edited_at: m.edited_at.map(time),
                reply_to: m.reply_to.map(|id| id.to_string()),
                content: m.content.clone(),
                embeds: m.embeds.clone(),
                attachments: m
                    .attachments
                    .iter()
                    .map(|a| AttachmentInfo {
                        filename: a.filename.clone(),
                        size: a.size,
                        content_type: a.content_type.clone(),
                        kept: matches!(a.kept, Kept::Yes { .. }),
                    })
                    .collect(),
                removed: m.removed,
            })
            .collect();
        parts.push(TranscriptPart {
            server_id: guild_id.to_string(),
            server_name: t.guild_name.clone(),
            ticket_number: t.ticket.number,
            appears_as,
            messages,
        });
    }
    Ok((parts, not_readable))
}

fn status(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Open => "open",
        TicketStatus::Closed => "closed",
    }
}

/// Unix ms as RFC 3339 (UTC); a time outside the calendar's range as its number.
fn time(unix_ms: i64) -> String {
    Timestamp::from_millis(unix_ms)
        .ok()
        .and_then(|t| t.to_rfc3339())
        .unwrap_or_else(|| unix_ms.to_string())
}
