//! Integrations a server enabled, and the privacy records of sharing user IDs with them.
//! (The uploaded plugin files themselves are in `plugins.rs`.)

use std::collections::BTreeMap;

use sqlx::Row;

use super::{now_ms, on_db, sf, unsf, Store, StoreError};

/// A plugin as a server configured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildIntegration {
    /// The server.
    pub guild_id: u64,
    /// The manifest's id.
    pub plugin_id: String,
    /// Whether it runs at ticket open.
    pub enabled: bool,
    /// Non-secret settings.
    pub config: BTreeMap<String, String>,
    /// The secrets, sealed (see [`crate::secrets`]); `None` if it has none.
    pub sealed_secrets: Option<String>,
    /// Counted failures in the current failure window (see [`FailureWindow`]).
    pub recent_failures: u32,
    /// Successes in the current failure window.
    pub recent_successes: u32,
    /// Unix ms when the current failure window opened (0: none is open).
    pub failing_since: i64,
    /// Why Tessera turned it off, when it did.
    pub disabled_reason: Option<String>,
    /// The admin who last changed it.
    pub updated_by: u64,
    /// Unix ms.
    pub updated_at: i64,
}

/// How an integration's failures are weighed: a window opens at the first counted failure
/// and lasts `window_ms`; within it, an integration that failed at least `threshold` times and
/// more often than it worked is disabled. A burst of failures that its successes outweigh, or
/// failures spread thinner than `threshold` per window, never disable it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    /// Failures within one window that disable (at least 1).
    pub threshold: u32,
    /// How long a window stays open, in ms.
    pub window_ms: i64,
}

impl FailureWindow {
    /// A window that opened after this instant is still open at `now`.
    /// (Never before 0, so that `failing_since = 0` always means "no window".)
    fn opened_after(self, now: i64) -> i64 {
        now.saturating_sub(self.window_ms).max(0)
    }
}

/// What happened to an integration in a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAction {
    /// An admin enabled it (or re-enabled, or changed the version it runs).
    Enabled,
    /// An admin disabled it.
    Disabled,
    /// Tessera disabled it after repeated failures.
    AutoDisabled,
    /// An admin uploaded this version to the server (`/integrations upload`).
    Uploaded,
}

impl ConsentAction {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentAction::Enabled => "enabled",
            ConsentAction::Disabled => "disabled",
            ConsentAction::AutoDisabled => "auto-disabled",
            ConsentAction::Uploaded => "uploaded",
        }
    }

    fn parse(s: &str) -> ConsentAction {
        match s {
            "enabled" => ConsentAction::Enabled,
            "disabled" => ConsentAction::Disabled,
            "uploaded" => ConsentAction::Uploaded,
            _ => ConsentAction::AutoDisabled,
        }
    }
}

/// Who turned which plugin version on or off, and what it declared then (PRIVACY.md #14, #16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The server.
    pub guild_id: u64,
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's version.
    pub version: String,
    /// sha256 of the component.
    pub sha256: String,
    /// The declared privacy policy URL.
    pub privacy_policy: String,
    /// The declared data use.
    pub data_use: String,
    /// The declared hosts, comma-separated.
    pub allowed_hosts: String,
    /// What the plugin receives: `user ID`, or `user ID, server ID`.
    pub shares: String,
    /// What happened.
    pub action: ConsentAction,
    /// The admin; `None` when Tessera acted.
    pub actor_id: Option<u64>,
    /// Unix ms (set by the store when recording).
    pub at: i64,
}

/// One plugin receiving one user ID (PRIVACY.md #17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The server.
    pub guild_id: u64,
    /// The ticket being opened.
    pub ticket_id: Option<i64>,
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's version.
    pub version: String,
    /// sha256 of the component.
    pub sha256: String,
    /// Whose ID it received.
    pub user_id: u64,
    /// Unix ms.
    pub at: i64,
    /// `ok`, or the failure's kind.
    pub outcome: String,
    /// The failure's message, short.
    pub detail: Option<String>,
}

/// Inserts `consent` (at `now`) on `executor`.
macro_rules! insert_consent {
    ($executor:expr, $consent:expr, $now:expr) => {{
        let c = $consent;
        sqlx::query($crate::store::integrations::INSERT_CONSENT)
            .bind(sf(c.guild_id))
            .bind(&c.plugin_id)
            .bind(&c.version)
            .bind(&c.sha256)
            .bind(&c.privacy_policy)
            .bind(&c.data_use)
            .bind(&c.allowed_hosts)
            .bind(c.action.as_str())
            .bind(c.actor_id.map(sf))
            .bind($now)
            .bind(&c.shares)
            .execute($executor)
            .await?;
    }};
}

pub(super) use insert_consent;

macro_rules! delivery_from_row {
    ($row:expr) => {{
        let row = $row;
        Delivery {
            guild_id: unsf(row.try_get("guild_id")?),
            ticket_id: row.try_get("ticket_id")?,
            plugin_id: row.try_get("plugin_id")?,
            version: row.try_get("version")?,
            sha256: row.try_get("sha256")?,
            user_id: unsf(row.try_get("user_id")?),
            at: row.try_get("at")?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
        }
    }};
}

macro_rules! integration_from_row {
    ($row:expr) => {{
        let row = $row;
        let config: String = row.try_get("config")?;
        GuildIntegration {
            guild_id: unsf(row.try_get("guild_id")?),
            plugin_id: row.try_get("plugin_id")?,
            enabled: row.try_get("enabled")?,
            // Written only by us from a map; an unreadable value is treated as empty.
            config: serde_json::from_str(&config).unwrap_or_default(),
            sealed_secrets: row.try_get("secrets")?,
            recent_failures: row.try_get::<i64, _>("recent_failures")?.max(0) as u32,
            recent_successes: row.try_get::<i64, _>("recent_successes")?.max(0) as u32,
            failing_since: row.try_get("failing_since")?,
            disabled_reason: row.try_get("disabled_reason")?,
            updated_by: unsf(row.try_get("updated_by")?),
            updated_at: row.try_get("updated_at")?,
        }
    }};
}

const INTEGRATION_COLUMNS: &str = "guild_id, plugin_id, enabled, config, secrets, \
    recent_failures, recent_successes, failing_since, disabled_reason, updated_by, updated_at";

/// The consent insert, for [`insert_consent!`] wherever it is used.
pub(super) const INSERT_CONSENT: &str =
    "INSERT INTO integration_consents (guild_id, plugin_id, version, sha256, \
    privacy_policy, data_use, allowed_hosts, action, actor_id, at, shares) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

fn config_json(config: &BTreeMap<String, String>) -> String {
    serde_json::to_string(config).unwrap_or_else(|_| "{}".to_owned())
}

impl Store {
    /// Every integration the server has configured, enabled or not, by plugin id.
    pub async fn guild_integrations(
        &self,
        guild_id: u64,
    ) -> Result<Vec<GuildIntegration>, StoreError> {
        let sql = format!(
            "SELECT {INTEGRATION_COLUMNS} FROM guild_integrations WHERE guild_id = $1 ORDER BY plugin_id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(sf(guild_id)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(integration_from_row!(row));
            }
            Ok(out)
        })
    }

    /// One integration of the server.
    pub async fn guild_integration(
        &self,
        guild_id: u64,
        plugin_id: &str,
    ) -> Result<Option<GuildIntegration>, StoreError> {
        let sql = format!(
            "SELECT {INTEGRATION_COLUMNS} FROM guild_integrations WHERE guild_id = $1 AND plugin_id = $2"
        );
        on_db!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(sf(guild_id))
                .bind(plugin_id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(Some(integration_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    /// Every server's integrations whose secrets were sealed before secrets were bound to
    /// hosts (stored as a bare sealed value, not a JSON object), to be sealed again.
    pub async fn integrations_with_legacy_secrets(
        &self,
    ) -> Result<Vec<GuildIntegration>, StoreError> {
        let sql = format!(
            "SELECT {INTEGRATION_COLUMNS} FROM guild_integrations \
             WHERE secrets IS NOT NULL AND secrets NOT LIKE '{{%'"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(integration_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Enables an integration with these settings and records the consent, in one transaction.
    /// `sealed_secrets: None` keeps secrets already stored.
    pub async fn enable_integration(
        &self,
        guild_id: u64,
        plugin_id: &str,
        config: &BTreeMap<String, String>,
        sealed_secrets: Option<&str>,
        consent: &ConsentRecord,
    ) -> Result<(), StoreError> {
        const UPSERT: &str = "INSERT INTO guild_integrations (guild_id, plugin_id, enabled, config, \
            secrets, recent_failures, recent_successes, failing_since, disabled_reason, updated_by, \
            updated_at) VALUES ($1, $2, $3, $4, $5, 0, 0, 0, NULL, $6, $7) \
            ON CONFLICT (guild_id, plugin_id) DO UPDATE SET enabled = excluded.enabled, \
              config = excluded.config, secrets = COALESCE(excluded.secrets, guild_integrations.secrets), \
              recent_failures = 0, recent_successes = 0, failing_since = 0, disabled_reason = NULL, \
              updated_by = excluded.updated_by, updated_at = excluded.updated_at";
        let now = now_ms();
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(UPSERT)
                .bind(sf(guild_id))
                .bind(plugin_id)
                .bind(true)
                .bind(config_json(config))
                .bind(sealed_secrets)
                .bind(sf(consent.actor_id.unwrap_or_default()))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            insert_consent!(&mut *tx, consent, now);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Changes the settings of a configured integration; `false` if the server has none.
    /// `sealed_secrets: None` keeps the stored secrets.
    pub async fn update_integration_config(
        &self,
        guild_id: u64,
        plugin_id: &str,
        config: &BTreeMap<String, String>,
        sealed_secrets: Option<&str>,
        by: u64,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE guild_integrations SET config = $3, \
            secrets = COALESCE($4, secrets), updated_by = $5, updated_at = $6 \
            WHERE guild_id = $1 AND plugin_id = $2";
        on_db!(self, pool => {
            let done = sqlx::query(SQL)
                .bind(sf(guild_id))
                .bind(plugin_id)
                .bind(config_json(config))
                .bind(sealed_secrets)
                .bind(sf(by))
                .bind(now_ms())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Turns an enabled integration off and records who did; `false` if it was not enabled.
    pub async fn disable_integration(&self, consent: &ConsentRecord) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE guild_integrations SET enabled = $3, disabled_reason = NULL, \
            updated_by = $4, updated_at = $5 \
            WHERE guild_id = $1 AND plugin_id = $2 AND enabled = $6";
        let now = now_ms();
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(SQL)
                .bind(sf(consent.guild_id))
                .bind(&consent.plugin_id)
                .bind(false)
                .bind(sf(consent.actor_id.unwrap_or_default()))
                .bind(now)
                .bind(true)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            insert_consent!(&mut *tx, consent, now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records that plugins received a user ID. A server whose data was deleted meanwhile (the
    /// bot left it while its plugins ran) gets nothing written back.
    pub async fn record_deliveries(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO integration_deliveries (guild_id, ticket_id, plugin_id, \
            version, sha256, user_id, at, outcome, detail) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
            WHERE EXISTS (SELECT 1 FROM guild_settings WHERE guild_id = $1)";
        if deliveries.is_empty() {
            return Ok(());
        }
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            for d in deliveries {
                sqlx::query(SQL)
                    .bind(sf(d.guild_id))
                    .bind(d.ticket_id)
                    .bind(&d.plugin_id)
                    .bind(&d.version)
                    .bind(&d.sha256)
                    .bind(sf(d.user_id))
                    .bind(d.at)
                    .bind(&d.outcome)
                    .bind(&d.detail)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// A run went well: counted while a failure window is open (outside one there is nothing
    /// to weigh it against, and nothing is written).
    pub async fn note_integration_success(
        &self,
        guild_id: u64,
        plugin_id: &str,
        window: FailureWindow,
        now: i64,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE guild_integrations SET recent_successes = recent_successes + 1 \
            WHERE guild_id = $1 AND plugin_id = $2 AND failing_since > $3";
        on_db!(self, pool => {
            sqlx::query(SQL)
                .bind(sf(guild_id))
                .bind(plugin_id)
                .bind(window.opened_after(now))
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// A run failed through the plugin's or its settings' fault. The first such failure opens
    /// a window; within it, once the integration has failed `window.threshold` times and more
    /// often than it worked, it is disabled and the consent record says so. `true` only for
    /// the one call that disabled it, so its admins are told once however many tickets were
    /// opening at the time.
    pub async fn note_integration_failure(
        &self,
        consent: &ConsentRecord,
        window: FailureWindow,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Every `CASE` reads the row as it was before the update.
        const BUMP: &str = "UPDATE guild_integrations SET \
            recent_failures = CASE WHEN failing_since > $4 THEN recent_failures + 1 ELSE 1 END, \
            recent_successes = CASE WHEN failing_since > $4 THEN recent_successes ELSE 0 END, \
            failing_since = CASE WHEN failing_since > $4 THEN failing_since ELSE $5 END \
            WHERE guild_id = $1 AND plugin_id = $2 AND enabled = $3 \
            RETURNING recent_failures, recent_successes";
        const DISABLE: &str = "UPDATE guild_integrations SET enabled = $3, disabled_reason = $4, \
            updated_at = $5 WHERE guild_id = $1 AND plugin_id = $2 AND enabled = $6";
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(BUMP)
                .bind(sf(consent.guild_id))
                .bind(&consent.plugin_id)
                .bind(true)
                .bind(window.opened_after(now))
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Ok(false);
            };
            let failures: i64 = row.try_get(0)?;
            let successes: i64 = row.try_get(1)?;
            if failures < i64::from(window.threshold) || failures <= successes {
                tx.commit().await?;
                return Ok(false);
            }
            let done = sqlx::query(DISABLE)
                .bind(sf(consent.guild_id))
                .bind(&consent.plugin_id)
                .bind(false)
                .bind(reason)
                .bind(now)
                .bind(true)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                insert_consent!(&mut *tx, consent, now);
            }
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The server's consent records, oldest first.
    pub async fn integration_consents(
        &self,
        guild_id: u64,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        self.consents_where("guild_id", guild_id).await
    }

    /// The consent records `actor_id` made as an admin, in any server, oldest first.
    pub async fn consents_by(&self, actor_id: u64) -> Result<Vec<ConsentRecord>, StoreError> {
        self.consents_where("actor_id", actor_id).await
    }

    /// Consent records whose `column` (`guild_id` or `actor_id`) is `id`, oldest first.
    async fn consents_where(
        &self,
        column: &'static str,
        id: u64,
    ) -> Result<Vec<ConsentRecord>, StoreError> {
        // `column` is one of two names written above, never input.
        let sql = format!(
            "SELECT guild_id, plugin_id, version, sha256, privacy_policy, data_use, \
            allowed_hosts, action, actor_id, at, shares FROM integration_consents WHERE {column} = $1 ORDER BY id"
        );
        on_db!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(sf(id)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let action: String = row.try_get("action")?;
                out.push(ConsentRecord {
                    guild_id: unsf(row.try_get("guild_id")?),
                    plugin_id: row.try_get("plugin_id")?,
                    version: row.try_get("version")?,
                    sha256: row.try_get("sha256")?,
                    privacy_policy: row.try_get("privacy_policy")?,
                    data_use: row.try_get("data_use")?,
                    allowed_hosts: row.try_get("allowed_hosts")?,
                    shares: row.try_get("shares")?,
                    action: ConsentAction::parse(&action),
                    actor_id: row.try_get::<Option<i64>, _>("actor_id")?.map(unsf),
                    at: row.try_get("at")?,
                });
            }
            Ok(out)
        })
    }

    /// Records a consent event on its own (an upload).
    pub async fn record_consent(&self, consent: &ConsentRecord) -> Result<(), StoreError> {
        let now = now_ms();
        on_db!(self, pool => {
            insert_consent!(pool, consent, now);
            Ok(())
        })
    }

    /// The latest delivery of one plugin in a server: how its last ticket went.
    pub async fn last_delivery(
        &self,
        guild_id: u64,
        plugin_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        const SQL: &str = "SELECT guild_id, ticket_id, plugin_id, version, sha256, user_id, at, \
            outcome, detail FROM integration_deliveries WHERE guild_id = $1 AND plugin_id = $2 \
            ORDER BY id DESC LIMIT 1";
        on_db!(self, pool => {
            let row = sqlx::query(SQL).bind(sf(guild_id)).bind(plugin_id).fetch_optional(pool).await?;
            match row {
                None => Ok(None),
                Some(row) => Ok(Some(delivery_from_row!(&row))),
            }
        })
    }

    /// Every record of a plugin receiving this user's ID, in any server, oldest first.
    pub async fn deliveries_for_user(&self, user_id: u64) -> Result<Vec<Delivery>, StoreError> {
        const SQL: &str = "SELECT guild_id, ticket_id, plugin_id, version, sha256, user_id, at, \
            outcome, detail FROM integration_deliveries WHERE user_id = $1 ORDER BY at, id";
        on_db!(self, pool => {
            let rows = sqlx::query(SQL).bind(sf(user_id)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(delivery_from_row!(row));
            }
            Ok(out)
        })
    }
}
