//! Sealed transcripts: one row per closed ticket that has one, and its blobs (the document,
//! then the files it kept). The store sees only sealed bytes.

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
}

impl Store {
    /// Stores a ticket's transcript and its sealed blobs in one transaction, replacing any
    /// earlier one of that ticket.
    pub async fn save_transcript(
        &self,
        row: &TranscriptRow,
        blobs: &[(u32, Vec<u8>)],
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM transcripts WHERE ticket_id = $1")
                .bind(row.ticket_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO transcripts (ticket_id, guild_id, message_count, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(row.ticket_id)
                .bind(sf(row.guild_id))
                .bind(i64::from(row.message_count))
                .bind(row.created_at)
                .bind(row.expires_at)
                .execute(&mut *tx)
                .await?;
            for (blob_no, data) in blobs {
                sqlx::query("INSERT INTO transcript_blobs (ticket_id, blob_no, guild_id, data) VALUES ($1, $2, $3, $4)")
                    .bind(row.ticket_id)
                    .bind(i64::from(*blob_no))
                    .bind(sf(row.guild_id))
                    .bind(data.as_slice())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The transcript of ticket `ticket_id` in server `guild_id`, with its blobs by number.
    pub async fn transcript(
        &self,
        guild_id: u64,
        ticket_id: i64,
    ) -> Result<Option<(TranscriptRow, Vec<(u32, Vec<u8>)>)>, StoreError> {
        on_db!(self, pool => {
            let Some(row) = sqlx::query("SELECT ticket_id, guild_id, message_count, created_at, expires_at FROM transcripts WHERE ticket_id = $1 AND guild_id = $2")
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
            sqlx::query("DELETE FROM transcript_blobs WHERE ticket_id IN (SELECT ticket_id FROM transcripts WHERE expires_at <= $1)")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
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
