//! Right of deletion (PRIVACY.md #11, #20): a member's data goes at once, in every server.
//!
//! What goes: their messages in every stored transcript (tombstones keep each message's place,
//! so the conversation still reads; the files they posted and their avatar are deleted, and the
//! transcript is sealed again), their name in those transcripts, the subjects of their tickets
//! and the close reasons they wrote on them, every record of an integration receiving their ID,
//! and confirmations awaiting their click. In tickets still open, what they wrote until now is
//! left out of the transcript when the ticket closes, and the subject of their own open ticket
//! is deleted then (the transcript needs it to clear it from the welcome message).
//!
//! What stays, because it is the server's record rather than only theirs: that their tickets
//! existed (number, times, who claimed and closed them), ticket membership and the audit log,
//! blacklist entries (a server's moderation decision), what they did as an admin (consent
//! records above all: they prove who agreed to share members' IDs), close reasons staff wrote,
//! and everyone else's messages. The README's "Your data" section says the same for members.

use crate::store::{Erased, Store, StoreError, TicketStatus};
use crate::transcripts::{LoadError, Removed, Transcripts};

/// What a deletion did, and what it kept, for the member's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The database records deleted or blanked.
    pub erased: Erased,
    /// What changed in stored transcripts.
    pub removed: Removed,
    /// Transcripts that kept changing while being rewritten: running the deletion again
    /// finishes them.
    pub retry: usize,
    /// Tickets they opened, kept as the servers' records.
    pub tickets_kept: usize,
    /// Of those, the ones still open.
    pub open_tickets: usize,
    /// Servers whose blacklist names them.
    pub blacklisted_in: usize,
    /// Records of what they did as an admin (consents, panels, settings, uploads).
    pub admin_records: usize,
}

/// Deletes what is only about `user_id` (see the module docs), at `now_ms`.
#[tracing::instrument(skip_all)]
pub async fn erase(
    store: &Store,
    transcripts: Option<&Transcripts>,
    user_id: u64,
    now_ms: i64,
) -> Result<Outcome, StoreError> {
    let records = store.records_about(user_id).await?;
    // Recorded before looking for transcripts: a ticket closing meanwhile either sees the
    // record or has stored its transcript by the time we look (see `tickets::close`).
    let erased = store.erase_person(user_id, now_ms).await?;
    let mut outcome = Outcome {
        erased,
        tickets_kept: records.tickets_opened.len(),
        open_tickets: records
            .tickets_opened
            .iter()
            .filter(|t| t.status == TicketStatus::Open)
            .count(),
        blacklisted_in: records.blacklisted.len(),
        admin_records: records.consents.len()
            + records
                .admin
                .iter()
                .filter(|a| !a.kind.starts_with("pending"))
                .count(),
        ..Outcome::default()
    };
    let Some(transcripts) = transcripts else {
        outcome.removed.unreadable = store.transcripts_with_person(user_id).await?.len()
            + store.unindexed_transcripts().await?.len();
        if outcome.removed.unreadable > 0 {
            tracing::warn!(
                transcripts = outcome.removed.unreadable,
                "a member's deletion cannot reach stored transcripts: no transcript key is configured"
            );
        }
        return Ok(outcome);
    };
    outcome.removed.unreadable = transcripts.index_older(store).await?;
    for (guild_id, ticket_id) in store.transcripts_with_person(user_id).await? {
        match transcripts
            .remove_person(store, guild_id, ticket_id, user_id, now_ms)
            .await
        {
            Ok(done) => {
                let r = &mut outcome.removed;
                r.transcripts += done.transcripts;
                r.messages += done.messages;
                r.files += done.files;
            }
            Err(LoadError::Store(err)) => return Err(err),
            Err(LoadError::Busy) => outcome.retry += 1,
            Err(err) => {
                tracing::warn!(guild_id, ticket_id, error = %err, "a member's deletion cannot reach a stored transcript");
                outcome.removed.unreadable += 1;
            }
        }
    }
    tracing::info!(
        transcripts = outcome.removed.transcripts,
        messages = outcome.removed.messages,
        deliveries = outcome.erased.deliveries,
        "a member's data was deleted at their request"
    );
    Ok(outcome)
}
