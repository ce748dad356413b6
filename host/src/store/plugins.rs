//! Plugin files: those the operator installed, and those a server's admins uploaded, which
//! every process finds here (only that server sees them).

use sqlx::Row;

use super::integrations::insert_consent;
use super::{now_ms, on_db, sf, unsf, ConsentRecord, Store, StoreError};

/// One installed plugin version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPlugin {
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's version.
    pub version: String,
    /// sha256 of the file, hex; also its file name.
    pub sha256: String,
    /// The manifest as embedded (TOML).
    pub manifest: String,
    /// Unix ms.
    pub installed_at: i64,
}

impl Store {
    /// Records an installed file; `false` if a file with this sha256 was already installed.
    pub async fn record_plugin(&self, plugin: &InstalledPlugin) -> Result<bool, StoreError> {
        const SQL: &str =
            "INSERT INTO plugins (plugin_id, version, sha256, manifest, guild_id, installed_at) \
                           VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT (sha256) DO NOTHING";
        on_db!(self, pool => {
            let done = sqlx::query(SQL)
                .bind(&plugin.plugin_id)
                .bind(&plugin.version)
                .bind(&plugin.sha256)
                .bind(&plugin.manifest)
                .bind(now_ms())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Every plugin installed by the operator, by id and install time.
    pub async fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>, StoreError> {
        const SQL: &str = "SELECT plugin_id, version, sha256, manifest, installed_at FROM plugins \
                           WHERE guild_id IS NULL ORDER BY plugin_id, installed_at";
        on_db!(self, pool => {
            let rows = sqlx::query(SQL).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(InstalledPlugin {
                    plugin_id: row.try_get("plugin_id")?,
                    version: row.try_get("version")?,
                    sha256: row.try_get("sha256")?,
                    manifest: row.try_get("manifest")?,
                    installed_at: row.try_get("installed_at")?,
                });
            }
            Ok(out)
        })
    }
}

/// A [`GuildPlugin`] from a row of `guild_plugins` (any backend's row type).
macro_rules! guild_plugin_from_row {
    ($row:expr) => {{
        let row = $row;
        GuildPlugin {
            guild_id: unsf(row.try_get("guild_id")?),
            sha256: row.try_get("sha256")?,
            plugin_id: row.try_get("plugin_id")?,
            version: row.try_get("version")?,
            manifest: row.try_get("manifest")?,
            wasm: row.try_get("wasm")?,
            uploaded_by: unsf(row.try_get("uploaded_by")?),
            uploaded_at: row.try_get("uploaded_at")?,
        }
    }};
}

/// A plugin a server's admins uploaded; only that server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildPlugin {
    /// The server.
    pub guild_id: u64,
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's version.
    pub version: String,
    /// sha256 of the file, hex.
    pub sha256: String,
    /// The manifest as embedded (TOML).
    pub manifest: String,
    /// The component.
    pub wasm: Vec<u8>,
    /// The admin who uploaded it.
    pub uploaded_by: u64,
    /// Unix ms.
    pub uploaded_at: i64,
}

impl Store {
    /// Makes this file the server's current version of its plugin, with the uploader's
    /// consent record, in one transaction; any other version of that plugin in the server is
    /// deleted (only the current one is kept and loaded). `false` when it was the current
    /// version already (nothing changes, nothing is recorded); re-uploading an older version
    /// makes it current again, with a new consent record.
    pub async fn add_guild_plugin(
        &self,
        plugin: &GuildPlugin,
        consent: &ConsentRecord,
    ) -> Result<bool, StoreError> {
        const CURRENT: &str =
            "SELECT sha256 FROM guild_plugins WHERE guild_id = $1 AND plugin_id = $2 \
            ORDER BY uploaded_at DESC LIMIT 1";
        const OTHERS: &str =
            "DELETE FROM guild_plugins WHERE guild_id = $1 AND (plugin_id = $2 OR sha256 = $3)";
        const SQL: &str = "INSERT INTO guild_plugins (guild_id, sha256, plugin_id, version, \
            manifest, wasm, uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let now = now_ms();
        on_db!(self, pool => {
            let mut tx = pool.begin().await?;
            let current: Option<String> = sqlx::query(CURRENT)
                .bind(sf(plugin.guild_id))
                .bind(&plugin.plugin_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            if current.as_deref() == Some(plugin.sha256.as_str()) {
                return Ok(false);
            }
            sqlx::query(OTHERS)
                .bind(sf(plugin.guild_id))
                .bind(&plugin.plugin_id)
                .bind(&plugin.sha256)
                .execute(&mut *tx)
                .await?;
            sqlx::query(SQL)
                .bind(sf(plugin.guild_id))
                .bind(&plugin.sha256)
                .bind(&plugin.plugin_id)
                .bind(&plugin.version)
                .bind(&plugin.manifest)
                .bind(&plugin.wasm)
                .bind(sf(plugin.uploaded_by))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            insert_consent!(&mut *tx, consent, now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Each uploaded plugin of one server with the bytes its files take.
    pub async fn guild_upload_sizes(
        &self,
        guild_id: u64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        const SQL: &str = "SELECT plugin_id, CAST(SUM(LENGTH(wasm)) AS BIGINT) AS bytes \
            FROM guild_plugins WHERE guild_id = $1 GROUP BY plugin_id ORDER BY plugin_id";
        on_db!(self, pool => {
            let rows = sqlx::query(SQL).bind(sf(guild_id)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let bytes: i64 = row.try_get("bytes")?;
                out.push((row.try_get("plugin_id")?, u64::try_from(bytes).unwrap_or(0)));
            }
            Ok(out)
        })
    }

    /// Every plugin uploaded to any server, oldest first (loaded at start).
    pub async fn guild_plugins(&self) -> Result<Vec<GuildPlugin>, StoreError> {
        const SQL: &str = "SELECT guild_id, sha256, plugin_id, version, manifest, wasm, \
            uploaded_by, uploaded_at FROM guild_plugins ORDER BY guild_id, uploaded_at";
        on_db!(self, pool => {
            let rows = sqlx::query(SQL).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(guild_plugin_from_row!(row));
            }
            Ok(out)
        })
    }
}

/// The upload of one plugin id a server runs: the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadHead {
    /// The manifest's id.
    pub plugin_id: String,
    /// sha256 of the newest upload with that id, hex.
    pub sha256: String,
}

impl Store {
    /// The newest upload of each plugin id in a server, by id: what every process must run
    /// for it, whichever process took the upload.
    pub async fn guild_upload_heads(&self, guild_id: u64) -> Result<Vec<UploadHead>, StoreError> {
        // Oldest first, so the last row of each id wins, as when the bot loads them at start.
        const SQL: &str = "SELECT plugin_id, sha256 FROM guild_plugins WHERE guild_id = $1 \
                           ORDER BY plugin_id, uploaded_at";
        on_db!(self, pool => {
            let rows = sqlx::query(SQL).bind(sf(guild_id)).fetch_all(pool).await?;
            let mut out: Vec<UploadHead> = Vec::new();
            for row in &rows {
                let head = UploadHead {
                    plugin_id: row.try_get("plugin_id")?,
                    sha256: row.try_get("sha256")?,
                };
                match out.last_mut() {
                    Some(last) if last.plugin_id == head.plugin_id => *last = head,
                    _ => out.push(head),
                }
            }
            Ok(out)
        })
    }

    /// One uploaded file of a server.
    pub async fn guild_plugin(
        &self,
        guild_id: u64,
        sha256: &str,
    ) -> Result<Option<GuildPlugin>, StoreError> {
        const SQL: &str = "SELECT guild_id, sha256, plugin_id, version, manifest, wasm, \
            uploaded_by, uploaded_at FROM guild_plugins WHERE guild_id = $1 AND sha256 = $2";
        on_db!(self, pool => {
            let row = sqlx::query(SQL).bind(sf(guild_id)).bind(sha256).fetch_optional(pool).await?;
            match row {
                Some(row) => Ok(Some(guild_plugin_from_row!(&row))),
                None => Ok(None),
            }
        })
    }
}
