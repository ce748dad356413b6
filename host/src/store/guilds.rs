//! Per-server settings, panels and the blacklist.

use sqlx::Row;

use super::{now_ms, on_db, sf, unsf, Store, StoreError};

/// A server's ticket settings, as written by `/setup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildSettings {
    /// The server.
    pub guild_id: u64,
    /// Members with this role are staff.
    pub staff_role_id: u64,
    /// Category new ticket channels go under; none means top level.
    pub category_id: Option<u64>,
    /// Where open/close notices go.
    pub log_channel_id: Option<u64>,
    /// How many tickets one member may have open at once (1–10).
    pub max_open: u8,
    /// The welcome message template (`/welcome set`); `None` means the default text.
    pub welcome_template: Option<String>,
    /// Whether closed tickets' conversations are kept as transcripts (off by default).
    pub transcripts: bool,
    /// Whether the opener also gets the transcript by DM.
    pub transcript_dm: bool,
    /// Days a transcript is kept, if shorter than the operator's ceiling.
    pub transcript_retention_days: Option<u32>,
    /// Seconds a member waits between opening two tickets; `None`: the operator's default.
    pub open_cooldown_secs: Option<u32>,
    /// Open tickets the whole server may have at once; `None`: no cap.
    pub max_open_total: Option<u32>,
}

/// What `/setup` sets; `None` keeps a field as it was (or its default on first setup).
#[derive(Debug, Clone, Default)]
pub struct SettingsUpdate {
    /// Required on every `/setup`.
    pub staff_role_id: u64,
    /// New category, if given.
    pub category_id: Option<u64>,
    /// New log channel, if given.
    pub log_channel_id: Option<u64>,
    /// New limit, if given.
    pub max_open: Option<u8>,
    /// Transcripts on or off, if given.
    pub transcripts: Option<bool>,
    /// Transcripts by DM on or off, if given.
    pub transcript_dm: Option<bool>,
    /// New retention in days, if given.
    pub transcript_retention_days: Option<u32>,
    /// New open cooldown, seconds, if given.
    pub open_cooldown_secs: Option<u32>,
    /// New server-wide cap on open tickets, if given.
    pub max_open_total: Option<u32>,
}

/// One blacklisted member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlacklistEntry {
    /// The member.
    pub user_id: u64,
    /// Why, as the admin wrote it.
    pub reason: Option<String>,
    /// The admin who added them.
    pub added_by: u64,
    /// When, unix ms.
    pub added_at: i64,
}

pub(super) fn settings_from_row<R>(row: &R) -> Result<GuildSettings, sqlx::Error>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(GuildSettings {
        guild_id: unsf(row.try_get("guild_id")?),
        staff_role_id: unsf(row.try_get("staff_role_id")?),
        category_id: row.try_get::<Option<i64>, _>("category_id")?.map(unsf),
        log_channel_id: row.try_get::<Option<i64>, _>("log_channel_id")?.map(unsf),
        max_open: row.try_get::<i64, _>("max_open")?.clamp(1, 10) as u8,
        welcome_template: row.try_get("welcome_template")?,
        transcripts: row.try_get("transcripts")?,
        transcript_dm: row.try_get("transcript_dm")?,
        transcript_retention_days: row
            .try_get::<Option<i64>, _>("transcript_retention_days")?
            .map(|d| d.clamp(1, i64::from(u32::MAX)) as u32),
        open_cooldown_secs: row
            .try_get::<Option<i64>, _>("open_cooldown_secs")?
            .map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
        max_open_total: row
            .try_get::<Option<i64>, _>("max_open_total")?
            .map(|d| d.clamp(1, i64::from(u32::MAX)) as u32),
    })
}

macro_rules! settings_columns {
    () => {
        "guild_id, staff_role_id, category_id, log_channel_id, max_open, welcome_template, transcripts, transcript_dm, transcript_retention_days, open_cooldown_secs, max_open_total"
    };
}

impl Store {
    /// The server's settings, or `None` before `/setup`.
    pub async fn guild_settings(&self, guild_id: u64) -> Result<Option<GuildSettings>, StoreError> {
        let sql = concat!(
            "SELECT ",
            settings_columns!(),
            " FROM guild_settings WHERE guild_id = $1"
        );
        on_db!(self, pool => {
            let row = sqlx::query(sql).bind(sf(guild_id)).fetch_optional(pool).await?;
            Ok(row.as_ref().map(settings_from_row).transpose()?)
        })
    }

    /// Creates or updates the server's settings and returns them as they now are.
    pub async fn save_settings(
        &self,
        guild_id: u64,
        update: &SettingsUpdate,
    ) -> Result<GuildSettings, StoreError> {
        let sql = concat!("INSERT INTO guild_settings (guild_id, staff_role_id, category_id, log_channel_id, max_open, transcripts, transcript_dm, transcript_retention_days, open_cooldown_secs, max_open_total, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, COALESCE($5, 1), COALESCE($7, FALSE), COALESCE($8, FALSE), $9, $10, $11, $6, $6) \
             ON CONFLICT (guild_id) DO UPDATE SET \
               staff_role_id = excluded.staff_role_id, \
               category_id = COALESCE(excluded.category_id, guild_settings.category_id), \
               log_channel_id = COALESCE(excluded.log_channel_id, guild_settings.log_channel_id), \
               max_open = COALESCE($5, guild_settings.max_open), \
               transcripts = COALESCE($7, guild_settings.transcripts), \
               transcript_dm = COALESCE($8, guild_settings.transcript_dm), \
               transcript_retention_days = COALESCE($9, guild_settings.transcript_retention_days), \
               open_cooldown_secs = COALESCE($10, guild_settings.open_cooldown_secs), \
               max_open_total = COALESCE($11, guild_settings.max_open_total), \
               updated_at = excluded.updated_at \
             RETURNING ", settings_columns!(), "");
        on_db!(self, pool => {
            let row = sqlx::query(sql)
                .bind(sf(guild_id))
                .bind(sf(update.staff_role_id))
                .bind(update.category_id.map(sf))
                .bind(update.log_channel_id.map(sf))
                .bind(update.max_open.map(i64::from))
                .bind(now_ms())
                .bind(update.transcripts)
                .bind(update.transcript_dm)
                .bind(update.transcript_retention_days.map(i64::from))
                .bind(update.open_cooldown_secs.map(i64::from))
                .bind(update.max_open_total.map(i64::from))
                .fetch_one(pool)
                .await?;
            Ok(settings_from_row(&row)?)
        })
    }

    /// Sets (or with `None`, resets) the welcome template; `false` if the server is not set up.
    pub async fn set_welcome_template(
        &self,
        guild_id: u64,
        template: Option<&str>,
    ) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE guild_settings SET welcome_template = $2, updated_at = $3 WHERE guild_id = $1";
        on_db!(self, pool => {
            let done = sqlx::query(SQL)
                .bind(sf(guild_id))
                .bind(template)
                .bind(now_ms())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Records a new panel (before its message is posted) and returns its id.
    pub async fn create_panel(
        &self,
        guild_id: u64,
        channel_id: u64,
        title: &str,
        description: &str,
        button_label: &str,
        created_by: u64,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO panels (guild_id, channel_id, title, description, button_label, created_by, created_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        on_db!(self, pool => {
            let id: i64 = sqlx::query_scalar(SQL)
                .bind(sf(guild_id))
                .bind(sf(channel_id))
                .bind(title)
                .bind(description)
                .bind(button_label)
                .bind(sf(created_by))
                .bind(now_ms())
                .fetch_one(pool)
                .await?;
            Ok(id)
        })
    }

    /// Remembers which message shows the panel.
    pub async fn set_panel_message(
        &self,
        panel_id: i64,
        message_id: u64,
    ) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query("UPDATE panels SET message_id = $1 WHERE id = $2")
                .bind(sf(message_id))
                .bind(panel_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Forgets a panel whose message could not be posted.
    pub async fn delete_panel(&self, panel_id: i64) -> Result<(), StoreError> {
        on_db!(self, pool => {
            sqlx::query("DELETE FROM panels WHERE id = $1").bind(panel_id).execute(pool).await?;
        });
        Ok(())
    }

    /// Whether a panel with this id exists in this server.
    pub async fn panel_exists(&self, guild_id: u64, panel_id: i64) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM panels WHERE id = $1 AND guild_id = $2")
                .bind(panel_id)
                .bind(sf(guild_id))
                .fetch_optional(pool)
                .await?;
            Ok(found.is_some())
        })
    }

    /// Blacklists a member; returns `false` if they already were.
    pub async fn blacklist_add(
        &self,
        guild_id: u64,
        user_id: u64,
        reason: Option<&str>,
        added_by: u64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO blacklist (guild_id, user_id, reason, added_by, added_at) VALUES ($1, $2, $3, $4, $5) \
                           ON CONFLICT (guild_id, user_id) DO NOTHING";
        on_db!(self, pool => {
            let done = sqlx::query(SQL)
                .bind(sf(guild_id))
                .bind(sf(user_id))
                .bind(reason)
                .bind(sf(added_by))
                .bind(now_ms())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Lifts a blacklisting; returns `false` if the member was not blacklisted.
    pub async fn blacklist_remove(&self, guild_id: u64, user_id: u64) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let done = sqlx::query("DELETE FROM blacklist WHERE guild_id = $1 AND user_id = $2")
                .bind(sf(guild_id))
                .bind(sf(user_id))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The server's blacklist, oldest first.
    pub async fn blacklist(&self, guild_id: u64) -> Result<Vec<BlacklistEntry>, StoreError> {
        const SQL: &str = "SELECT user_id, reason, added_by, added_at FROM blacklist WHERE guild_id = $1 ORDER BY added_at, user_id";
        on_db!(self, pool => {
            let rows = sqlx::query(SQL).bind(sf(guild_id)).fetch_all(pool).await?;
            let mut entries = Vec::with_capacity(rows.len());
            for row in &rows {
                entries.push(BlacklistEntry {
                    user_id: unsf(row.try_get("user_id")?),
                    reason: row.try_get("reason")?,
                    added_by: unsf(row.try_get("added_by")?),
                    added_at: row.try_get("added_at")?,
                });
            }
            Ok(entries)
        })
    }

    /// Blacklists a role: its members cannot open tickets. `false` if it already was.
    pub async fn blacklist_role_add(
        &self,
        guild_id: u64,
        role_id: u64,
        reason: Option<&str>,
        added_by: u64,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let done = sqlx::query("INSERT INTO blacklist_roles (guild_id, role_id, reason, added_by, added_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (guild_id, role_id) DO NOTHING")
                .bind(sf(guild_id))
                .bind(sf(role_id))
                .bind(reason)
                .bind(sf(added_by))
                .bind(now_ms())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Lifts a role's blacklisting; `false` if it was not blacklisted.
    pub async fn blacklist_role_remove(
        &self,
        guild_id: u64,
        role_id: u64,
    ) -> Result<bool, StoreError> {
        on_db!(self, pool => {
            let done = sqlx::query("DELETE FROM blacklist_roles WHERE guild_id = $1 AND role_id = $2")
                .bind(sf(guild_id))
                .bind(sf(role_id))
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The server's blacklisted roles and why.
    pub async fn blacklisted_roles(
        &self,
        guild_id: u64,
    ) -> Result<Vec<(u64, Option<String>)>, StoreError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT role_id, reason FROM blacklist_roles WHERE guild_id = $1 ORDER BY added_at, role_id")
                .bind(sf(guild_id))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push((unsf(row.try_get("role_id")?), row.try_get("reason")?));
            }
            Ok(out)
        })
    }
}
