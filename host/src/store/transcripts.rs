//! Sealed transcripts: one row per closed ticket that has one, and its blobs (the document,
//! then the files it kept), and who appears in each. The store sees only sealed bytes and user
//! IDs.

use sqlx::Row;

use super::{on_db, sf, unsf, Store, StoreError};

/// A stored transcript's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptRow {
    /// The ticket.
    pub ticket_id: i64,
    /// The server.
    pub guild_id: u64,
    /// Messages in it.
    pub message_count: u32,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which the purge deletes it.
    pub expires_at: i64,
    /// How often it was rewritten (a member's deletion re-seals it); see
    /// [`Store::replace_transcript`].
    pub revision: i64,
}

/// Why a transcript was not rewritten.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// It changed (or was deleted) since it was read: read it again and redo the change.
    #[error("the transcript changed since it was read")]
    Stale,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReplaceError {
    fn from(err: sqlx::Error) -> Self {
        ReplaceError::Store(StoreError::Query(err))
    }
}

/// Inserts a transcript's blobs, in the caller's transaction.
macro_rules! insert_blobs {
    ($tx:expr, $ticket_id:expr, $guild_id:expr, $blobs:expr) => {{
        for (blob_no, data) in $blobs {
            sqlx::query("INSERT INTO transcript_blobs (ticket_id, blob_no, guild_id, data) VALUES ($1, $2, $3, $4)")
                .bind($ticket_id)
                .bind(i64::from(*blob_no))
                .bind(sf($guild_id))
                .bind(data.as_slice())
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Records who appears in a transcript, in the caller's transaction.
macro_rules! insert_people {
    ($tx:expr, $ticket_id:expr, $guild_id:expr, $people:expr) => {{
        for user_id in $people {
            sqlx::query("INSERT INTO transcript_people (ticket_id, guild_id, user_id) VALUES ($1, $2, $3) ON CONFLICT (ticket_id, user_id) DO NOTHING")
                .bind($ticket_id)
                .bind(sf($guild_id))
                .bind(sf(*user_id))
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

impl Store {
    /// Stores a ticket's transcript, its sealed blobs and the user IDs of everyone in it
    /// (`people`) in one transaction, replacing any earlier one of that ticket.
    pub async fn save_transcript(
        &self,
        row: &TranscriptRow,
        blobs: &[(u32, Vec<u8>)],
        people: &[u64],
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM transcripts WHERE ticket_id = $1")
                .bind(row.ticket_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO transcripts (ticket_id, guild_id, message_count, created_at, expires_at, revision, indexed) VALUES ($1, $2, $3, $4, $5, 0, $6)")
                .bind(row.ticket_id)
                .bind(sf(row.guild_id))
                .bind(i64::from(row.message_count))
                .bind(row.created_at)
                .bind(row.expires_at)
                .bind(true)
                .execute(&mut *tx)
                .await?;
            insert_blobs!(tx, row.ticket_id, row.guild_id, blobs);
            insert_people!(tx, row.ticket_id, row.guild_id, people);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Rewrites a stored transcript (its message count, blobs and people) if it is still at
    /// `row.revision`; its dates stay as they were, so a rewrite never extends its retention.
    /// Blobs not in `blobs` (files dropped from it) are deleted.
    pub async fn replace_transcript(
        &self,
        row: &TranscriptRow,
        blobs: &[(u32, Vec<u8>)],
        people: &[u64],
    ) -> Result<(), ReplaceError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            // The compare-and-set writes first: PostgreSQL locks the row (a concurrent rewrite
            // waits, then finds the new revision and is refused), SQLite takes its write lock.
            let done = sqlx::query("UPDATE transcripts SET revision = revision + 1, message_count = $1, indexed = $2 WHERE ticket_id = $3 AND guild_id = $4 AND revision = $5")
                .bind(i64::from(row.message_count))
                .bind(true)
                .bind(row.ticket_id)
                .bind(sf(row.guild_id))
                .bind(row.revision)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(ReplaceError::Stale);
            }
            for sql in [
                "DELETE FROM transcript_blobs WHERE ticket_id = $1",
                "DELETE FROM transcript_people WHERE ticket_id = $1",
            ] {
                sqlx::query(sql).bind(row.ticket_id).execute(&mut *tx).await?;
            }
            insert_blobs!(tx, row.ticket_id, row.guild_id, blobs);
            insert_people!(tx, row.ticket_id, row.guild_id, people);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Records who appears in a transcript stored before that was recorded (see
    /// [`Store::unindexed_transcripts`]), if it is still at `row.revision`; `false` otherwise.
    pub async fn index_transcript(
        &self,
        row: &TranscriptRow,
        people: &[u64],
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("UPDATE transcripts SET indexed = $1 WHERE ticket_id = $2 AND guild_id = $3 AND revision = $4 AND indexed = $5")
                .bind(true)
                .bind(row.ticket_id)
                .bind(sf(row.guild_id))
                .bind(row.revision)
                .bind(false)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            insert_people!(tx, row.ticket_id, row.guild_id, people);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Transcripts whose people are not recorded yet (stored before that was recorded):
    /// server and ticket.
    pub async fn unindexed_transcripts(&self) -> Result<Vec<(u64, i64)>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT guild_id, ticket_id FROM transcripts WHERE indexed = $1 ORDER BY ticket_id")
                .bind(false)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((unsf(r.try_get("guild_id")?), r.try_get("ticket_id")?));
            }
            Ok(out)
        })
    }

    /// The transcripts `user_id` appears in (wrote or was mentioned), in any server: server
    /// and ticket, oldest ticket first.
    pub async fn transcripts_with_person(
        &self,
        user_id: u64,
    ) -> Result<Vec<(u64, i64)>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT guild_id, ticket_id FROM transcript_people WHERE user_id = $1 ORDER BY ticket_id")
                .bind(sf(user_id))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((unsf(r.try_get("guild_id")?), r.try_get("ticket_id")?));
            }
            Ok(out)
        })
    }

    /// The transcript of ticket `ticket_id` in server `guild_id`, with its blobs by number.
    pub async fn transcript(
        &self,
        guild_id: u64,
        ticket_id: i64,
    ) -> Result<Option<(TranscriptRow, Vec<(u32, Vec<u8>)>)>, StoreError> {
        on_db!(self, pool => {
            let Some(row) = sqlx::query("SELECT ticket_id, guild_id, message_count, created_at, expires_at, revision FROM transcripts WHERE ticket_id = $1 AND guild_id = $2")
                .bind(ticket_id)
                .bind(sf(guild_id))
                .fetch_optional(pool)
                .await?
            else {
                return Ok(None);
            };
            let found = TranscriptRow {
                ticket_id: row.try_get("ticket_id")?,
                guild_id: unsf(row.try_get("guild_id")?),
                message_count: row.try_get::<i64, _>("message_count")?.clamp(0, i64::from(u32::MAX)) as u32,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revision: row.try_get("revision")?,
            };
            let rows = sqlx::query("SELECT blob_no, data FROM transcript_blobs WHERE ticket_id = $1 AND guild_id = $2 ORDER BY blob_no")
                .bind(ticket_id)
                .bind(sf(guild_id))
                .fetch_all(pool)
                .await?;
            let mut blobs = Vec::with_capacity(rows.len());
            for r in rows {
                let no: i64 = r.try_get("blob_no")?;
                blobs.push((no.clamp(0, i64::from(u32::MAX)) as u32, r.try_get::<Vec<u8>, _>("data")?));
            }
            Ok(Some((found, blobs)))
        })
    }

    /// Deletes every transcript (and its blobs) that expired at or before `now_ms`; how many.
    pub async fn purge_expired_transcripts(&self, now_ms: i64) -> Result<u64, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            for sql in [
                "DELETE FROM transcript_blobs WHERE ticket_id IN (SELECT ticket_id FROM transcripts WHERE expires_at <= $1)",
                "DELETE FROM transcript_people WHERE ticket_id IN (SELECT ticket_id FROM transcripts WHERE expires_at <= $1)",
            ] {
                sqlx::query(sql).bind(now_ms).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM transcripts WHERE expires_at <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }

    /// Deletes every ticket closed before `closed_before_ms`, with its members, audit entries
    /// and transcript; how many tickets. Open tickets are never deleted.
    pub async fn purge_closed_tickets(&self, closed_before_ms: i64) -> Result<u64, StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            for sql in [
                "DELETE FROM transcript_blobs WHERE ticket_id IN (SELECT id FROM tickets WHERE status = 'closed' AND closed_at < $1)",
                "DELETE FROM transcript_people WHERE ticket_id IN (SELECT id FROM tickets WHERE status = 'closed' AND closed_at < $1)",
                "DELETE FROM transcripts WHERE ticket_id IN (SELECT id FROM tickets WHERE status = 'closed' AND closed_at < $1)",
                "DELETE FROM ticket_members WHERE ticket_id IN (SELECT id FROM tickets WHERE status = 'closed' AND closed_at < $1)",
                "DELETE FROM audit_log WHERE ticket_id IN (SELECT id FROM tickets WHERE status = 'closed' AND closed_at < $1)",
            ] {
                sqlx::query(sql).bind(closed_before_ms).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM tickets WHERE status = 'closed' AND closed_at < $1")
                .bind(closed_before_ms)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }
}
