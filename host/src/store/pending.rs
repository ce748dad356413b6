//! What a later click needs from an earlier step: uploads awaiting their admin's confirmation
//! and enable prompts awaiting their Enable click. Kept here, not in a process's memory, so
//! the click may reach any process, or the same one after a restart.
//!
//! Every row expires. Taking is one `DELETE … RETURNING`, so two clicks on two processes
//! cannot both take it; a refused take says why ([`Refusal`]). Times are passed in
//! (`now_ms`), so tests move the clock instead of sleeping.

use sqlx::Row;

use super::{on_db, sf, unsf, Store, StoreError};

/// An uploaded plugin shown to its admin and not yet confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The server it was uploaded to; only that server can take it.
    pub guild_id: u64,
    /// sha256 of the file, hex.
    pub sha256: String,
    /// The admin who uploaded it; only they can take it.
    pub uploaded_by: u64,
    /// The component.
    pub wasm: Vec<u8>,
    /// Unix ms after which it is refused.
    pub expires_at: i64,
}

/// An enable prompt an admin was shown: the plugin version they were asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEnable {
    /// The server.
    pub guild_id: u64,
    /// The manifest's id.
    pub plugin_id: String,
    /// The admin who saw the prompt; only their click counts.
    pub user_id: u64,
    /// sha256 of the version shown.
    pub sha256: String,
    /// Unix ms after which it is refused.
    pub expires_at: i64,
}

/// Why a pending step cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nothing waits under this key here: handled already, never shown in this server, or
    /// its server was left.
    #[error("nothing is waiting")]
    Missing,
    /// It waited too long (the row is deleted).
    #[error("it expired")]
    Expired,
    /// Someone else's; it keeps waiting for them.
    #[error("it belongs to another admin")]
    NotYours,
}

/// How much one server may upload: attempts per hour, bytes per day, and uploads held at once
/// (a new one past that replaces the server's oldest; never another server's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadQuota {
    /// Uploads started per hour.
    pub per_hour: u32,
    /// Bytes uploaded per day.
    pub bytes_per_day: u64,
    /// Uploads awaiting confirmation at once.
    pub held: u32,
}

/// Why a server may not upload now; the message completes "You cannot upload now: …".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// Too many uploads in the last hour.
    #[error("this server already started {0} uploads in the last hour")]
    PerHour(u32),
    /// Too many bytes in the last day.
    #[error("this server already uploaded its {} MiB for the day", .0 >> 20)]
    PerDay(u64),
}

const HOUR_MS: i64 = 60 * 60 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

impl Store {
    /// Counts an upload of `bytes` against the server's quota at `now_ms`, or says why not.
    /// Attempts older than a day are forgotten as it goes.
    pub async fn count_upload(
        &self,
        guild_id: u64,
        bytes: u64,
        quota: UploadQuota,
        now_ms: i64,
    ) -> Result<Result<(), UploadRefusal>, StoreError> {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM upload_attempts WHERE guild_id = $1 AND at <= $2")
                .bind(sf(guild_id))
                .bind(now_ms - DAY_MS)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query(
                "SELECT COUNT(CASE WHEN at > $2 THEN 1 END) AS hour, \
                 CAST(COALESCE(SUM(bytes), 0) AS BIGINT) AS day \
                 FROM upload_attempts WHERE guild_id = $1",
            )
            .bind(sf(guild_id))
            .bind(now_ms - HOUR_MS)
            .fetch_one(&mut *tx)
            .await?;
            let hour: i64 = row.try_get("hour")?;
            let day: i64 = row.try_get("day")?;
            if hour >= i64::from(quota.per_hour) {
                return Ok(Err(UploadRefusal::PerHour(quota.per_hour)));
            }
            if u64::try_from(day.saturating_add(bytes)).unwrap_or(u64::MAX) > quota.bytes_per_day {
                return Ok(Err(UploadRefusal::PerDay(quota.bytes_per_day)));
            }
            sqlx::query("INSERT INTO upload_attempts (guild_id, at, bytes) VALUES ($1, $2, $3)")
                .bind(sf(guild_id))
                .bind(now_ms)
                .bind(bytes)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }

    /// Keeps an upload until its admin confirms it (replacing an earlier hold of the same
    /// file in this server), keeps only the server's `held` newest, and deletes every expired
    /// upload.
    pub async fn hold_upload(
        &self,
        pending: &PendingUpload,
        held: u32,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        // Keeps the server's `held` newest (ties are impossible in practice: one per click).
        const OLDEST: &str = "DELETE FROM pending_uploads WHERE guild_id = $1 AND expires_at < \
            (SELECT expires_at FROM pending_uploads WHERE guild_id = $1 \
             ORDER BY expires_at DESC LIMIT 1 OFFSET $2)";
        const SQL: &str = "INSERT INTO pending_uploads (guild_id, sha256, uploaded_by, wasm, expires_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id, sha256) DO UPDATE SET \
            uploaded_by = excluded.uploaded_by, wasm = excluded.wasm, expires_at = excluded.expires_at";
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM pending_uploads WHERE expires_at <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(SQL)
                .bind(sf(pending.guild_id))
                .bind(&pending.sha256)
                .bind(sf(pending.uploaded_by))
                .bind(&pending.wasm)
                .bind(pending.expires_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(OLDEST)
                .bind(sf(pending.guild_id))
                .bind(i64::from(held.max(1)) - 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Takes (removes) the upload `sha256` waiting in `guild_id` for `user_id`. Someone
    /// else's stays waiting; an expired one is deleted and refused.
    pub async fn take_upload(
        &self,
        guild_id: u64,
        sha256: &str,
        user_id: u64,
        now_ms: i64,
    ) -> Result<Result<PendingUpload, Refusal>, StoreError> {
        const TAKE: &str = "DELETE FROM pending_uploads WHERE guild_id = $1 AND sha256 = $2 \
            AND uploaded_by = $3 AND expires_at > $4 RETURNING wasm, expires_at";
        const WHY: &str =
            "SELECT uploaded_by, expires_at FROM pending_uploads WHERE guild_id = $1 AND sha256 = $2";
        const EXPIRED: &str = "DELETE FROM pending_uploads WHERE expires_at <= $1";
        on_db!(self, pool => {
            let taken = sqlx::query(TAKE)
                .bind(sf(guild_id))
                .bind(sha256)
                .bind(sf(user_id))
                .bind(now_ms)
                .fetch_optional(pool)
                .await?;
            if let Some(row) = taken {
                return Ok(Ok(PendingUpload {
                    guild_id,
                    sha256: sha256.to_owned(),
                    uploaded_by: user_id,
                    wasm: row.try_get("wasm")?,
                    expires_at: row.try_get("expires_at")?,
                }));
            }
            let why = sqlx::query(WHY)
                .bind(sf(guild_id))
                .bind(sha256)
                .fetch_optional(pool)
                .await?;
            let refusal = match why {
                None => Refusal::Missing,
                Some(row) if row.try_get::<i64, _>("expires_at")? <= now_ms => Refusal::Expired,
                Some(row) if unsf(row.try_get("uploaded_by")?) != user_id => Refusal::NotYours,
                // Taken by a concurrent click between the two statements.
                Some(_) => Refusal::Missing,
            };
            sqlx::query(EXPIRED).bind(now_ms).execute(pool).await?;
            Ok(Err(refusal))
        })
    }

    /// Remembers the plugin version an admin was asked to enable (replacing their earlier
    /// prompt for it), and deletes every expired prompt.
    pub async fn hold_enable(
        &self,
        pending: &PendingEnable,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "INSERT INTO pending_enables (guild_id, plugin_id, user_id, sha256, expires_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id, plugin_id, user_id) DO UPDATE SET \
            sha256 = excluded.sha256, expires_at = excluded.expires_at";
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM pending_enables WHERE expires_at <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            sqlx::query(SQL)
                .bind(sf(pending.guild_id))
                .bind(&pending.plugin_id)
                .bind(sf(pending.user_id))
                .bind(&pending.sha256)
                .bind(pending.expires_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The prompt `user_id` was shown for `plugin_id` in `guild_id`, left in place (the form
    /// that follows still needs it). An expired one is refused, and deleted by the next take
    /// or hold.
    pub async fn pending_enable(
        &self,
        guild_id: u64,
        plugin_id: &str,
        user_id: u64,
        now_ms: i64,
    ) -> Result<Result<PendingEnable, Refusal>, StoreError> {
        self.enable_step(guild_id, plugin_id, user_id, now_ms, false)
            .await
    }

    /// Takes (removes) the prompt, as [`Store::pending_enable`] reads it: once the plugin is
    /// enabled, the same click or form cannot enable it again. Expired prompts are deleted.
    pub async fn take_enable(
        &self,
        guild_id: u64,
        plugin_id: &str,
        user_id: u64,
        now_ms: i64,
    ) -> Result<Result<PendingEnable, Refusal>, StoreError> {
        self.enable_step(guild_id, plugin_id, user_id, now_ms, true)
            .await
    }

    async fn enable_step(
        &self,
        guild_id: u64,
        plugin_id: &str,
        user_id: u64,
        now_ms: i64,
        take: bool,
    ) -> Result<Result<PendingEnable, Refusal>, StoreError> {
        const PEEK: &str = "SELECT sha256, expires_at FROM pending_enables \
            WHERE guild_id = $1 AND plugin_id = $2 AND user_id = $3";
        const TAKE: &str = "DELETE FROM pending_enables \
            WHERE guild_id = $1 AND plugin_id = $2 AND user_id = $3 AND expires_at > $4 \
            RETURNING sha256, expires_at";
        const EXPIRED: &str = "DELETE FROM pending_enables WHERE expires_at <= $1";
        on_db!(self, pool => {
            let row = if take {
                sqlx::query(TAKE).bind(sf(guild_id)).bind(plugin_id).bind(sf(user_id)).bind(now_ms)
                    .fetch_optional(pool).await?
            } else {
                sqlx::query(PEEK).bind(sf(guild_id)).bind(plugin_id).bind(sf(user_id))
                    .fetch_optional(pool).await?
            };
            let found = match row {
                Some(row) => Some(PendingEnable {
                    guild_id,
                    plugin_id: plugin_id.to_owned(),
                    user_id,
                    sha256: row.try_get("sha256")?,
                    expires_at: row.try_get("expires_at")?,
                }),
                None => None,
            };
            match found {
                Some(p) if p.expires_at > now_ms => Ok(Ok(p)),
                _ => {
                    // Tell an expired prompt from a missing one before cleaning up.
                    let expired = if take {
                        sqlx::query(PEEK).bind(sf(guild_id)).bind(plugin_id).bind(sf(user_id))
                            .fetch_optional(pool).await?.is_some()
                    } else {
                        found.is_some()
                    };
                    // Only taking cleans up: a look (the router deciding whether to show the
                    // form) must leave the refusal for the handler that explains it.
                    if take {
                        sqlx::query(EXPIRED).bind(now_ms).execute(pool).await?;
                    }
                    Ok(Err(if expired { Refusal::Expired } else { Refusal::Missing }))
                }
            }
        })
    }

    /// Deletes every pending step of a server (the bot left it; PRIVACY.md #8).
    pub async fn forget_guild_pending(&self, guild_id: u64) -> Result<(), StoreError> {
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            for sql in [
                "DELETE FROM pending_uploads WHERE guild_id = $1",
                "DELETE FROM pending_enables WHERE guild_id = $1",
                "DELETE FROM upload_attempts WHERE guild_id = $1",
            ] {
                sqlx::query(sql).bind(sf(guild_id)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
