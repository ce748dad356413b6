//! Integrations: which plugins exist for this bot, which a server enabled, and running them
//! when a ticket opens (PRIVACY.md #14–#17).
//!
//! - [`Integrations`] holds the runtime and every available plugin: those shipped in the
//!   binary and those the operator installed (`tessera plugin install`).
//! - [`Integrations::run_at_open`] gives the opener's user ID to each plugin the server enabled,
//!   concurrently and within the event timeout, records each delivery, and disables a plugin
//!   that keeps failing.
//! - [`welcome`] fills the server's welcome template with the plugins' placeholders.

pub mod upload;
pub mod welcome;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::plugins::manifest::Manifest;
use crate::plugins::policy::SandboxPolicy;
use crate::plugins::runtime::{LoadedPlugin, PluginFailure, Runtime};
use crate::secrets::SecretsKey;
use crate::store::{ConsentAction, ConsentRecord, Delivery, GuildIntegration, Store};

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

/// What a plugin with this manifest receives when a ticket opens, for admins and records.
pub fn shares(manifest: &Manifest) -> &'static str {
    if manifest.receives_server_id {
        "user ID, server ID"
    } else {
        "user ID"
    }
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
        let m = self.manifest();
        ConsentRecord {
            guild_id,
            plugin_id: m.id.clone(),
            version: m.version.clone(),
            sha256: self.plugin.inspection.sha256.clone(),
            privacy_policy: m.privacy_policy.clone(),
            data_use: m.data_use.clone(),
            allowed_hosts: m.allowed_hosts.join(", "),
            shares: shares(m).to_owned(),
            action,
            actor_id: actor,
            at: 0,
        }
    }
}

/// A plugin's placeholders, or why there are none.
pub type RunResult = Result<Vec<(String, String)>, PluginFailure>;

/// What one plugin did for one ticket.
#[derive(Debug, Clone)]
pub struct PluginRun {
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's display name.
    pub name: String,
    /// The declared privacy policy.
    pub privacy_policy: String,
    /// Its placeholders, or why there are none.
    pub result: RunResult,
    /// Set when this failure made Tessera disable the plugin for the server.
    pub disabled_now: bool,
}

/// The plugins of this process, and the sandbox that runs them.
pub struct Integrations {
    runtime: Runtime,
    plugins: BTreeMap<String, Available>,
    /// Uploaded plugins, per server: the newest upload of each id.
    uploads: std::sync::RwLock<HashMap<u64, BTreeMap<String, Available>>>,
    /// Upload settings and uploads awaiting confirmation.
    upload: upload::Uploads,
    secrets_key: Option<SecretsKey>,
    disable_after: u32,
    event_timeout: Duration,
}

/// The context sealed secrets are bound to: one server, one plugin.
pub fn secrets_context(guild_id: u64, plugin_id: &str) -> String {
    format!("tessera:secrets:guild:{guild_id}:plugin:{plugin_id}")
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

/// The failures that count toward disabling a plugin: everything except "nothing to show
/// for this member", which is a normal answer.
fn counts_as_failure(failure: &PluginFailure) -> bool {
    !matches!(
        failure,
        PluginFailure::Plugin {
            kind: "not-found",
            ..
        }
    )
}

impl Integrations {
    /// The runtime, the first-party plugins and the operator's installed ones. A plugin that
    /// no longer loads is left out with an error in the log; the bot still starts.
    pub async fn load(settings: &Settings, store: &Store) -> anyhow::Result<Integrations> {
        let runtime = Runtime::new(SandboxPolicy::from_settings(settings))?
            .with_compile_cache(settings.data_dir.join("compile-cache"));
        let event_timeout = runtime.policy().event_timeout;
        let mut integrations = Integrations {
            runtime,
            plugins: BTreeMap::new(),
            uploads: std::sync::RwLock::new(HashMap::new()),
            upload: upload::Uploads::new(settings)?,
            secrets_key: settings.plugins.secrets_key.as_ref().and_then(|key| {
                use secrecy::ExposeSecret;
                // Validated with the settings; a bad key never gets here.
                SecretsKey::parse(key.expose_secret()).ok()
            }),
            disable_after: settings.plugins.disable_after_failures.max(1),
            event_timeout,
        };
        for embedded in crate::plugins::embedded::first_party() {
            match integrations.runtime.load(embedded.bytes) {
                Ok(plugin) => integrations.offer(plugin, Source::FirstParty),
                Err(err) => {
                    tracing::error!(package = embedded.package, error = %err, "a first-party plugin does not load")
                }
            }
        }
        let installed = store.installed_plugins().await?;
        for row in installed {
            let path = installed_path(&settings.data_dir, &row.sha256);
            let loaded = std::fs::read(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|bytes| {
                    let actual = crate::plugins::component::sha256_hex(&bytes);
                    if actual != row.sha256 {
                        return Err(format!(
                            "{} changed since it was installed (sha256 {actual})",
                            path.display()
                        ));
                    }
                    integrations.runtime.load(&bytes).map_err(|e| e.to_string())
                });
            match loaded {
                Ok(plugin) => integrations.offer(plugin, Source::Installed),
                Err(err) => {
                    tracing::error!(plugin = %row.plugin_id, version = %row.version, error = %err, "an installed plugin does not load; it is unavailable")
                }
            }
        }
        for row in store.guild_plugins().await? {
            match integrations.runtime.load(&row.wasm) {
                Ok(plugin) if plugin.inspection.sha256 == row.sha256 => {
                    integrations.add_upload(row.guild_id, plugin)
                }
                Ok(_) => {
                    tracing::error!(guild = row.guild_id, plugin = %row.plugin_id, "an uploaded plugin's bytes no longer match their sha256; it is unavailable")
                }
                Err(err) => {
                    tracing::error!(guild = row.guild_id, plugin = %row.plugin_id, version = %row.version, error = %err, "an uploaded plugin does not load; it is unavailable")
                }
            }
        }
        tracing::info!(plugins = ?integrations.plugins.keys().collect::<Vec<_>>(), "integrations available");
        Ok(integrations)
    }

    /// Makes an uploaded plugin available to its server only; it replaces any earlier upload
    /// with the same id there (the newest upload wins, so admins can also roll back).
    pub fn add_upload(&self, guild_id: u64, plugin: LoadedPlugin) {
        let id = plugin.inspection.manifest.id.clone();
        let mut uploads = self.uploads.write().unwrap_or_else(|e| e.into_inner());
        uploads.entry(guild_id).or_default().insert(
            id,
            Available {
                plugin,
                source: Source::Uploaded,
            },
        );
    }

    /// Upload settings and uploads awaiting confirmation.
    pub fn upload(&self) -> &upload::Uploads {
        &self.upload
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

    /// Checks settings an admin is saving: each URL setting that names where the plugin may
    /// connect (an https URL on port 443 whose host resolves to public addresses only), then
    /// the plugin's own `validate-config`. `Err` is the message for the admin.
    pub async fn validate_settings(
        &self,
        available: &Available,
        guild_id: u64,
        config: &BTreeMap<String, String>,
        secrets: &HashMap<String, String>,
    ) -> Result<(), String> {
        let manifest = available.manifest();
        for host in available
            .plugin
            .inspection
            .manifest
            .hosts()
            .unwrap_or_default()
        {
            let crate::plugins::manifest::AllowedHost::FromConfig(key) = host else {
                continue;
            };
            let Some(value) = config.get(&key) else {
                continue;
            };
            let name = crate::plugins::manifest::url_setting_host(value)
                .map_err(|problem| format!("`{key}` {problem}."))?;
            self.runtime
                .egress()
                .check_destination(&name)
                .await
                .map_err(|problem| {
                    format!("`{key}` cannot be used: {problem}. Integrations may only reach public hosts.")
                })?;
        }
        for spec in manifest.secrets.iter().filter(|s| s.named) {
            if let Some(value) = secrets.get(&spec.name) {
                crate::plugins::egress::secrets::named_secrets(value)
                    .map_err(|problem| format!("`{}` {problem}.", spec.name))?;
            }
        }
        let config = self.plugin_config(manifest, guild_id, config.clone().into_iter());
        self.runtime
            .validate_config(&available.plugin, config, secrets.clone())
            .await
            .map_err(|rejected| rejected.to_string())
    }

    /// The settings a plugin sees: the server's, plus the server's ID if the manifest asks.
    fn plugin_config(
        &self,
        manifest: &Manifest,
        guild_id: u64,
        config: impl Iterator<Item = (String, String)>,
    ) -> HashMap<String, String> {
        let mut config: HashMap<String, String> = config.collect();
        if manifest.receives_server_id {
            config.insert(
                crate::plugins::manifest::SERVER_ID_KEY.to_owned(),
                guild_id.to_string(),
            );
        }
        config
    }

    /// Adds a plugin, keeping the newest version of each id (the operator's on a tie).
    fn offer(&mut self, plugin: LoadedPlugin, source: Source) {
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

    /// The plugins every server sees (first-party and installed), by id.
    pub fn available(&self) -> impl Iterator<Item = &Available> {
        self.plugins.values()
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

    /// The plugin with this id, as server `guild_id` sees it.
    pub fn get(&self, guild_id: u64, plugin_id: &str) -> Option<Available> {
        if let Some(global) = self.plugins.get(plugin_id) {
            return Some(global.clone());
        }
        let uploads = self.uploads.read().unwrap_or_else(|e| e.into_inner());
        uploads.get(&guild_id)?.get(plugin_id).cloned()
    }

    /// The key sealing secrets, if the operator configured one.
    pub fn secrets_key(&self) -> Option<&SecretsKey> {
        self.secrets_key.as_ref()
    }

    /// The runtime (for the CLI and tests).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Gives `user_id` to every plugin `guild_id` enabled, concurrently; returns within the
    /// event timeout whatever the plugins do. Each delivery is recorded; a plugin failing
    /// `disable_after_failures` times in a row is disabled for the server.
    pub async fn run_at_open(
        &self,
        store: &Store,
        guild_id: u64,
        ticket_id: i64,
        user_id: u64,
    ) -> Vec<PluginRun> {
        let configured = match store.guild_integrations(guild_id).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the server's integrations; opening the ticket without them");
                return Vec::new();
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        let mut order = Vec::new();
        for row in configured.into_iter().filter(|r| r.enabled) {
            let Some(available) = self.get(guild_id, &row.plugin_id) else {
                tracing::warn!(plugin = %row.plugin_id, "an enabled integration is no longer installed; skipped");
                continue;
            };
            let secrets = match self.open_secrets(&row) {
                Ok(secrets) => secrets,
                Err(problem) => {
                    tracing::error!(plugin = %row.plugin_id, problem, "skipping an integration whose secrets cannot be opened; the ID was not sent");
                    continue;
                }
            };
            let runtime = self.runtime.clone();
            let plugin = available.plugin.clone();
            let config = self.plugin_config(available.manifest(), guild_id, row.config.into_iter());
            let index = order.len();
            order.push(available);
            tasks.spawn(async move {
                (
                    index,
                    runtime
                        .on_ticket_opened(&plugin, user_id, config, secrets)
                        .await,
                )
            });
        }
        let mut results: Vec<Option<RunResult>> = vec![None; order.len()];
        // The runtime bounds each event already; this bounds the ticket even if that failed.
        let deadline =
            tokio::time::Instant::now() + self.event_timeout + Duration::from_millis(500);
        loop {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(Ok((index, outcome)))) => {
                    for line in &outcome.log {
                        tracing::debug!(plugin = %order[index].manifest().id, line, "plugin log");
                    }
                    results[index] = Some(outcome.result.map_err(PluginFailure::from));
                }
                Ok(Some(Err(err))) => {
                    tracing::error!(error = %err, "a plugin task failed");
                }
                Ok(None) => break,
                Err(_) => {
                    tasks.abort_all();
                    break;
                }
            }
        }
        let now = crate::store::now_ms();
        let mut runs = Vec::with_capacity(order.len());
        let mut deliveries = Vec::with_capacity(order.len());
        for (available, result) in order.iter().zip(results) {
            let m = available.manifest();
            let result = result.unwrap_or(Err(PluginFailure::Timeout(self.event_timeout)));
            deliveries.push(Delivery {
                guild_id,
                ticket_id: Some(ticket_id),
                plugin_id: m.id.clone(),
                version: m.version.clone(),
                sha256: available.plugin.inspection.sha256.clone(),
                user_id,
                at: now,
                outcome: match &result {
                    Ok(_) => "ok".to_owned(),
                    Err(f) => f.kind().to_owned(),
                },
                detail: result
                    .as_ref()
                    .err()
                    .map(|f| f.to_string().chars().take(300).collect()),
            });
            runs.push(PluginRun {
                plugin_id: m.id.clone(),
                name: m.name.clone(),
                privacy_policy: m.privacy_policy.clone(),
                result,
                disabled_now: false,
            });
        }
        if let Err(err) = store.record_deliveries(&deliveries).await {
            tracing::error!(error = %err, "cannot record which integrations received a user ID");
        }
        for (run, available) in runs.iter_mut().zip(&order) {
            let noted = match &run.result {
                Err(failure) if counts_as_failure(failure) => {
                    tracing::warn!(plugin = %run.plugin_id, error = %failure, "an integration failed at ticket open");
                    let consent = available.consent(guild_id, ConsentAction::AutoDisabled, None);
                    store
                        .note_integration_failure(
                            &consent,
                            self.disable_after,
                            &failure.to_string(),
                        )
                        .await
                        .map(|disabled| run.disabled_now = disabled)
                }
                _ => {
                    store
                        .note_integration_success(guild_id, &run.plugin_id)
                        .await
                }
            };
            if let Err(err) = noted {
                tracing::error!(error = %err, "cannot update an integration's failure count");
            }
        }
        runs
    }

    /// The row's secrets, opened.
    fn open_secrets(
        &self,
        row: &GuildIntegration,
    ) -> Result<HashMap<String, String>, &'static str> {
        let Some(sealed) = &row.sealed_secrets else {
            return Ok(HashMap::new());
        };
        let key = self
            .secrets_key
            .as_ref()
            .ok_or("plugins.secrets_key is not configured any more")?;
        let plain = key
            .open(&secrets_context(row.guild_id, &row.plugin_id), sealed)
            .map_err(|_| {
                "the secrets do not open with plugins.secrets_key (was the key changed?)"
            })?;
        serde_json::from_slice(&plain).map_err(|_| "the opened secrets are not a JSON object")
    }

    /// Where a plugin may connect for this server, in words: declared hosts, with a
    /// `{config.KEY}` shown as the host of the URL the server saved (or, before that, as
    /// "the host of the `KEY` URL you enter").
    pub fn describe_hosts(
        available: &Available,
        config: Option<&BTreeMap<String, String>>,
    ) -> Vec<String> {
        use crate::plugins::manifest::{config_template, url_setting_host};
        available
            .manifest()
            .allowed_hosts
            .iter()
            .map(|entry| match config_template(entry) {
                Some(key) => match config.and_then(|c| c.get(key)).map(|v| url_setting_host(v)) {
                    Some(Ok(host)) => format!("`{host}`"),
                    _ => format!("the host of the `{key}` URL you enter"),
                },
                None => format!("`{entry}`"),
            })
            .collect()
    }

    /// The failures in a row after which a plugin is disabled.
    pub fn disable_after(&self) -> u32 {
        self.disable_after
    }
}

/// Why a plugin file could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Not a usable plugin (inspect, compile or link failed).
    #[error(transparent)]
    Invalid(#[from] crate::plugins::runtime::LoadError),
    /// The data directory refused the file.
    #[error("cannot store the plugin in {dir}: {source}")]
    Io {
        /// The plugins folder.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database refused the record.
    #[error("database.url (TESSERA_DATABASE_URL): {0}")]
    Store(#[from] crate::store::StoreError),
}

/// `tessera plugin install`: validates like the bot does (inspect, compile, link), stores the
/// file as `<data_dir>/plugins/<sha256>.wasm` and records it. Returns the loaded plugin and
/// whether it was new.
pub async fn install_file(
    data_dir: &Path,
    store: &Store,
    runtime: &Runtime,
    bytes: &[u8],
) -> Result<(LoadedPlugin, bool), InstallError> {
    let plugin = runtime.load(bytes)?;
    let inspection = &plugin.inspection;
    let manifest = &inspection.manifest;
    let dir = data_dir.join("plugins");
    let target = installed_path(data_dir, &inspection.sha256);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        // Write then rename, so a crash never leaves a half-written plugin under its hash.
        let partial = dir.join(format!("{}.partial", inspection.sha256));
        std::fs::write(&partial, bytes)?;
        std::fs::rename(&partial, &target)
    });
    if let Err(source) = written {
        return Err(InstallError::Io {
            dir: dir.display().to_string(),
            source,
        });
    }
    let record = crate::store::InstalledPlugin {
        plugin_id: manifest.id.clone(),
        version: manifest.version.clone(),
        sha256: inspection.sha256.clone(),
        // Serialising a parsed manifest back to TOML cannot fail; keep the record anyway.
        manifest: toml::to_string(manifest).unwrap_or_default(),
        installed_at: 0,
    };
    let new = store.record_plugin(&record).await?;
    Ok((plugin, new))
}

/// Where an installed plugin's file lives.
pub fn installed_path(data_dir: &Path, sha256: &str) -> std::path::PathBuf {
    data_dir.join("plugins").join(format!("{sha256}.wasm"))
}

/// Shared handle.
pub type SharedIntegrations = Arc<Integrations>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("0.10.0") > version_key("0.9.9"));
        assert!(version_key("1.0.0") > version_key("0.99.0"));
        assert_eq!(version_key("1.2.3-beta+x"), (1, 2, 3));
    }

    #[test]
    fn not_found_is_an_answer_not_a_failure() {
        assert!(!counts_as_failure(&PluginFailure::Plugin {
            kind: "not-found",
            message: String::new()
        }));
        assert!(counts_as_failure(&PluginFailure::Plugin {
            kind: "upstream",
            message: String::new()
        }));
        assert!(counts_as_failure(&PluginFailure::Timeout(
            Duration::from_secs(3)
        )));
    }
}
