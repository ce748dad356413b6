//! Installed plugin files.

use sqlx::Row;

use super::{now_ms, on_db, Store, StoreError};

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
