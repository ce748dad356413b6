//! Which plugins exist: those shipped in the binary, those the operator installed, and those a
//! server's admins uploaded (seen by that server only). Uploaded plugins live in the database;
//! this is each process's loaded copy of them, brought up to date per server by
//! [`Integrations::sync_uploads`] (an upload may have been added by another process).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

use crate::integrations::Integrations;
use crate::plugins::manifest::Manifest;
use crate::plugins::runtime::LoadedPlugin;
use crate::privacy::records;
use crate::store::{ConsentAction, ConsentRecord, Store};

/// Where an available plugin came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Built from `plugins/` and shipped inside the binary.
    FirstParty,
    /// Installed by the operator with `tessera plugin install`.
    Installed,
    /// Uploaded by a server's admins; only that server sees it.
    Uploaded,
}

/// A plugin this bot can run.
#[derive(Clone)]
pub struct Available {
    /// Compiled, linked, with what it was granted.
    pub plugin: LoadedPlugin,
    /// Where it came from.
    pub source: Source,
}

impl Available {
    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.plugin.inspection.manifest
    }

    /// The consent record of `action` on this version, by `actor`.
    pub fn consent(
        &self,
        guild_id: u64,
        action: ConsentAction,
        actor: Option<u64>,
    ) -> ConsentRecord {
        records::consent(&self.plugin.inspection, guild_id, action, actor)
    }
}

/// The plugins this process has loaded.
#[derive(Default)]
pub struct Catalog {
    /// First-party and installed: every server sees them.
    plugins: BTreeMap<String, Available>,
    /// Uploaded plugins, per server: the newest upload of each id.
    uploads: RwLock<HashMap<u64, BTreeMap<String, Available>>>,
}

/// Compares two `x.y.z` versions numerically (pre-release and build parts ignored).
fn version_key(version: &str) -> (u64, u64, u64) {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let mut parts = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

impl Catalog {
    /// Adds a plugin every server sees, keeping the newest version of each id (the
    /// operator's on a tie).
    pub fn offer(&mut self, plugin: LoadedPlugin, source: Source) {
        let id = plugin.inspection.manifest.id.clone();
        let newer = match self.plugins.get(&id) {
            None => true,
            Some(current) => {
                let (new, old) = (
                    version_key(&plugin.inspection.manifest.version),
                    version_key(&current.manifest().version),
                );
                new > old || (new == old && source == Source::Installed)
            }
        };
        if newer {
            self.plugins.insert(id, Available { plugin, source });
        }
    }

    /// Makes an uploaded plugin available to its server only; it replaces any earlier upload
    /// with the same id there (the newest upload wins, so admins can also roll back).
    pub fn add_upload(&self, guild_id: u64, plugin: LoadedPlugin) {
        let id = plugin.inspection.manifest.id.clone();
        // A panic elsewhere while holding the lock leaves the map whole: keep using it.
        let mut uploads = self.uploads.write().unwrap_or_else(|e| e.into_inner());
        uploads.entry(guild_id).or_default().insert(
            id,
            Available {
                plugin,
                source: Source::Uploaded,
            },
        );
    }

    /// Forgets a server's uploads (the bot left it; its rows are deleted with its data).
    pub fn forget_guild(&self, guild_id: u64) {
        let mut uploads = self.uploads.write().unwrap_or_else(|e| e.into_inner());
        uploads.remove(&guild_id);
    }

    /// Whether a plugin id belongs to a plugin every server sees (first-party or installed);
    /// uploads may not take those ids.
    pub fn is_global(&self, plugin_id: &str) -> bool {
        self.plugins.contains_key(plugin_id)
    }

    /// The plugins every server sees, by id.
    pub fn global(&self) -> impl Iterator<Item = &Available> {
        self.plugins.values()
    }

    /// The ids of every plugin every server sees.
    pub fn global_ids(&self) -> Vec<&String> {
        self.plugins.keys().collect()
    }

    /// The sha256 of every plugin file this catalog holds (every server's uploads included).
    pub fn loaded_shas(&self) -> std::collections::HashSet<String> {
        let mut shas: std::collections::HashSet<String> = self
            .plugins
            .values()
            .map(|a| a.plugin.inspection.sha256.clone())
            .collect();
        let uploads = self.uploads.read().unwrap_or_else(|e| e.into_inner());
        for own in uploads.values() {
            shas.extend(own.values().map(|a| a.plugin.inspection.sha256.clone()));
        }
        shas
    }

    /// The plugins one server may use: every server's, then its own uploads, by id.
    pub fn available_in(&self, guild_id: u64) -> Vec<Available> {
        let mut out: Vec<Available> = self.plugins.values().cloned().collect();
        let uploads = self.uploads.read().unwrap_or_else(|e| e.into_inner());
        if let Some(own) = uploads.get(&guild_id) {
            out.extend(
                own.values()
                    .filter(|a| !self.is_global(&a.manifest().id))
                    .cloned(),
            );
        }
        out
    }

    /// The sha256 of the upload with this id this process runs for a server.
    fn upload_sha(&self, guild_id: u64, plugin_id: &str) -> Option<String> {
        let uploads = self.uploads.read().unwrap_or_else(|e| e.into_inner());
        let own = uploads.get(&guild_id)?.get(plugin_id)?;
        Some(own.plugin.inspection.sha256.clone())
    }

    /// The plugin with this id, as server `guild_id` sees it.
    pub fn get(&self, guild_id: u64, plugin_id: &str) -> Option<Available> {
        if let Some(global) = self.plugins.get(plugin_id) {
            return Some(global.clone());
        }
        let uploads = self.uploads.read().unwrap_or_else(|e| e.into_inner());
        uploads.get(&guild_id)?.get(plugin_id).cloned()
    }
}

impl Integrations {
    /// Brings this process's copy of a server's uploads up to date with the database: an
    /// upload confirmed on another process (or a newer version of one) is loaded here too.
    /// Best effort: a failure is logged and leaves the copy as it was.
    pub async fn sync_uploads(&self, store: &Store, guild_id: u64) {
        if let Err(err) = self.try_sync_uploads(store, guild_id).await {
            tracing::warn!(guild_id, error = ?err, "cannot bring the server's uploaded plugins up to date");
        }
    }

    async fn try_sync_uploads(&self, store: &Store, guild_id: u64) -> anyhow::Result<()> {
        let heads = store
            .guild_upload_heads(guild_id)
            .await
            .context("reading the server's uploads")?;
        for head in heads {
            if self.catalog.is_global(&head.plugin_id)
                || self
                    .catalog
                    .upload_sha(guild_id, &head.plugin_id)
                    .as_deref()
                    == Some(head.sha256.as_str())
            {
                continue;
            }
            let Some(row) = store
                .guild_plugin(guild_id, &head.sha256)
                .await
                .context("reading an uploaded plugin")?
            else {
                continue;
            };
            // A ticket waits for this no longer than for its plugins: a compile that takes
            // longer goes on in the background and fills the compile cache, and a later ticket
            // loads the plugin from there.
            let compiling = self.upload().compile(self.runtime(), Arc::new(row.wasm));
            let Ok(compiled) = tokio::time::timeout(self.event_timeout(), compiling).await else {
                tracing::info!(guild_id, plugin = %row.plugin_id, "an upload added on another process is still compiling; this ticket opens without it");
                continue;
            };
            match compiled {
                Ok(plugin) if plugin.inspection.sha256 == row.sha256 => {
                    self.catalog.add_upload(guild_id, plugin)
                }
                Ok(_) => {
                    tracing::error!(guild_id, plugin = %row.plugin_id, "an uploaded plugin's bytes no longer match their sha256; it is unavailable")
                }
                Err(err) => {
                    tracing::error!(guild_id, plugin = %row.plugin_id, version = %row.version, error = %err, "an uploaded plugin does not load; it is unavailable")
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("0.10.0") > version_key("0.9.9"));
        assert!(version_key("1.0.0") > version_key("0.99.0"));
        assert_eq!(version_key("1.2.3-beta+x"), (1, 2, 3));
    }
}
