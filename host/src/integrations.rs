//! Integrations: which plugins exist for this bot, which a server enabled, and running them
//! when a ticket opens (PRIVACY.md #14–#17).
//!
//! # Layout
//!
//! - [`catalog`] — which plugins exist: shipped in the binary, installed by the operator,
//!   uploaded by a server's admins ([`Available`], [`Source`]).
//! - [`dispatch`] — running them at ticket open ([`Integrations::run_at_open`]).
//! - [`settings`] — checking a server's settings, and its sealed secrets (opened in one place).
//! - [`install`] — `tessera plugin install`, and loading installed files at start.
//! - [`upload`] — `/integrations upload`: download, checks, and uploads awaiting confirmation.
//! - [`health`] — failure counting and auto-disable, as [`AutoDisabled`] events.
//!
//! [`Integrations`] ties them together for one process.

pub mod catalog;
pub mod dispatch;
pub mod health;
pub mod install;
pub mod settings;
pub mod upload;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Settings;
use crate::plugins::compile_cache::CacheLocation;
use crate::plugins::compiler::CompileWorker;
use crate::plugins::policy::SandboxPolicy;
use crate::plugins::runtime::{LoadedPlugin, Runtime};
use crate::secrets::SecretsKey;
use crate::store::Store;

pub use catalog::{Available, Source};
pub use dispatch::{NeedsAttention, PluginRun, RunResult};
pub use health::AutoDisabled;
pub use install::{install_file, installed_path, InstallError};
pub use settings::secrets_context;

/// The plugins of this process, and the sandbox that runs them.
pub struct Integrations {
    runtime: Runtime,
    catalog: catalog::Catalog,
    upload: upload::Uploads,
    secrets: settings::Secrets,
    health: health::Health,
    event_timeout: Duration,
    max_enabled: u32,
}

impl Integrations {
    /// The runtime, the first-party plugins, the operator's installed ones and every server's
    /// uploads. A plugin that no longer loads is left out with an error in the log; the bot
    /// still starts.
    pub async fn load(settings: &Settings, store: &Store) -> anyhow::Result<Integrations> {
        let policy = SandboxPolicy::from_settings(settings);
        // Servers' uploads compile in a worker process: this binary unless the operator names one.
        let worker = match &settings.plugins.compile_worker {
            Some(program) => CompileWorker::new(program.clone(), policy.compile.clone()),
            None => CompileWorker::this_binary(policy.compile.clone())?,
        };
        let runtime = Runtime::new(policy)
            .context("creating the plugin runtime")?
            .with_compile_cache(CacheLocation::in_data_dir(&settings.data_dir))
            .with_compile_worker(worker);
        let secrets_key = settings.plugins.secrets_key.as_ref().and_then(|key| {
            use secrecy::ExposeSecret;
            // Validated with the settings; a bad key never gets here.
            SecretsKey::parse(key.expose_secret()).ok()
        });
        let mut catalog = catalog::Catalog::default();
        for embedded in crate::plugins::embedded::first_party() {
            match runtime.load(embedded.bytes) {
                Ok(plugin) => catalog.offer(plugin, Source::FirstParty),
                Err(err) => {
                    tracing::error!(package = embedded.package, error = %err, "a first-party plugin does not load")
                }
            }
        }
        let installed = store
            .installed_plugins()
            .await
            .context("reading the installed plugins")?;
        for row in installed {
            match install::load_installed(&runtime, &settings.data_dir, &row) {
                Ok(plugin) => catalog.offer(plugin, Source::Installed),
                Err(err) => {
                    tracing::error!(plugin = %row.plugin_id, version = %row.version, error = %err, "an installed plugin does not load; it is unavailable")
                }
            }
        }
        let uploaded = store
            .guild_plugins()
            .await
            .context("reading the servers' uploaded plugins")?;
        // Only each server's current version of each plugin (the last uploaded) is compiled;
        // older rows (kept by earlier Tessera versions) are never loaded.
        let mut current: std::collections::BTreeMap<(u64, String), crate::store::GuildPlugin> =
            std::collections::BTreeMap::new();
        for row in uploaded {
            current.insert((row.guild_id, row.plugin_id.clone()), row);
        }
        for row in current.into_values() {
            match runtime.load_upload(&row.wasm) {
                Ok(plugin) if plugin.inspection.sha256 == row.sha256 => {
                    catalog.add_upload(row.guild_id, plugin)
                }
                Ok(_) => {
                    tracing::error!(guild = row.guild_id, plugin = %row.plugin_id, "an uploaded plugin's bytes no longer match their sha256; it is unavailable")
                }
                Err(err) => {
                    tracing::error!(guild = row.guild_id, plugin = %row.plugin_id, version = %row.version, error = %err, "an uploaded plugin does not load; it is unavailable")
                }
            }
        }
        tracing::info!(plugins = ?catalog.global_ids(), "integrations available");
        // Compiled code of plugins no longer loaded (older uploads, removed files) goes.
        let pruned = runtime.prune_compile_cache(&catalog.loaded_shas());
        if pruned > 0 {
            tracing::info!(entries = pruned, "pruned the compile cache");
        }
        let secrets = settings::Secrets::new(secrets_key);
        reseal_legacy_secrets(store, &catalog, &secrets).await;
        let event_timeout = runtime.policy().event_timeout;
        Ok(Integrations {
            runtime,
            catalog,
            upload: upload::Uploads::new(settings)?,
            secrets,
            health: health::Health::new(
                settings.plugins.disable_after_failures,
                Duration::from_secs(u64::from(settings.plugins.failure_window_mins) * 60),
            ),
            event_timeout,
            max_enabled: settings.plugins.max_enabled_per_server,
        })
    }

    /// Makes an uploaded plugin available to its server only (see [`catalog::Catalog::add_upload`]).
    pub fn add_upload(&self, guild_id: u64, plugin: LoadedPlugin) {
        self.catalog.add_upload(guild_id, plugin)
    }

    /// Upload settings and the download client.
    pub fn upload(&self) -> &upload::Uploads {
        &self.upload
    }

    /// Forgets a server's uploads (the bot left it; its rows are deleted with its data).
    pub fn forget_guild(&self, guild_id: u64) {
        self.catalog.forget_guild(guild_id);
        self.health.forget_guild(guild_id);
        // The server's compiled uploads go from the compile cache now, not at the next start.
        self.runtime
            .prune_compile_cache(&self.catalog.loaded_shas());
    }

    /// Whether a plugin id belongs to a plugin every server sees (first-party or installed);
    /// uploads may not take those ids.
    pub fn is_global(&self, plugin_id: &str) -> bool {
        self.catalog.is_global(plugin_id)
    }

    /// The plugins every server sees (first-party and installed), by id.
    pub fn available(&self) -> impl Iterator<Item = &Available> {
        self.catalog.global()
    }

    /// The plugins one server may use: every server's, then its own uploads, by id.
    pub fn available_in(&self, guild_id: u64) -> Vec<Available> {
        self.catalog.available_in(guild_id)
    }

    /// The plugin with this id, as server `guild_id` sees it.
    pub fn get(&self, guild_id: u64, plugin_id: &str) -> Option<Available> {
        self.catalog.get(guild_id, plugin_id)
    }

    /// The key sealing secrets, if the operator configured one.
    pub fn secrets_key(&self) -> Option<&SecretsKey> {
        self.secrets.key()
    }

    /// Sealing and opening servers' secrets.
    pub fn secrets(&self) -> &settings::Secrets {
        &self.secrets
    }

    /// The runtime (for the CLI and tests).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Failure counting and auto-disable.
    pub fn health(&self) -> &health::Health {
        &self.health
    }

    /// The counted failures within the failure window after which a plugin is disabled.
    pub fn disable_after(&self) -> u32 {
        self.health.disable_after()
    }

    /// The most integrations one server may have enabled at once.
    pub fn max_enabled(&self) -> u32 {
        self.max_enabled
    }

    /// The wall-clock limit of one plugin event.
    pub fn event_timeout(&self) -> Duration {
        self.event_timeout
    }
}

/// Seals again, for the settings they have now, the secrets stored before secrets were bound
/// to hosts, so that from this start on each goes only to the host it is set up for. A row
/// that cannot be re-sealed (no key, or the key changed) is left as it is: it shows as needing
/// attention until an admin enters its secrets again.
async fn reseal_legacy_secrets(
    store: &Store,
    catalog: &catalog::Catalog,
    secrets: &settings::Secrets,
) {
    let rows = match store.integrations_with_legacy_secrets().await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::error!(error = %err, "cannot read stored secrets to seal them again");
            return;
        }
    };
    for row in rows {
        let Some(available) = catalog.get(row.guild_id, &row.plugin_id) else {
            continue;
        };
        let to = settings::Destination::of(&available, row.guild_id, &row.config);
        match secrets.reseal_legacy(&row, &to) {
            Some(Ok(sealed)) => {
                if let Err(err) = store
                    .update_integration_config(
                        row.guild_id,
                        &row.plugin_id,
                        &row.config,
                        Some(&sealed),
                        row.updated_by,
                    )
                    .await
                {
                    tracing::error!(guild = row.guild_id, plugin = %row.plugin_id, error = %err, "cannot store re-sealed secrets");
                }
            }
            Some(Err(problem)) => {
                tracing::warn!(guild = row.guild_id, plugin = %row.plugin_id, %problem, "stored secrets cannot be sealed again; its admins must enter them again");
            }
            None => {}
        }
    }
}

/// Shared handle.
pub type SharedIntegrations = Arc<Integrations>;
