//! Plugins the operator installs (`tessera plugin install`): validated like the bot loads
//! them, kept as `<data_dir>/plugins/<sha256>.wasm`, recorded in the database, and loaded
//! again at every start.

use std::path::{Path, PathBuf};

use crate::plugins::runtime::{LoadError, LoadedPlugin, Runtime};
use crate::store::{InstalledPlugin, Store, StoreError};

/// Why a plugin file could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Not a usable plugin (inspect, compile or link failed).
    #[error(transparent)]
    Invalid(#[from] LoadError),
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
    Store(#[from] StoreError),
}

/// Why an installed plugin does not load any more; it is left out, the bot still starts.
#[derive(Debug, thiserror::Error)]
pub enum InstalledError {
    /// The file is gone or unreadable.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not the one installed.
    #[error("{path} changed since it was installed (sha256 {actual})")]
    Changed {
        /// The file.
        path: String,
        /// Its sha256 now.
        actual: String,
    },
    /// It no longer compiles or links (e.g. after an upgrade of Tessera).
    #[error(transparent)]
    Invalid(#[from] LoadError),
}

/// Where an installed plugin's file lives.
pub fn installed_path(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("plugins").join(format!("{sha256}.wasm"))
}

/// `tessera plugin install`: validates like the bot does (inspect, compile, link), stores the
/// file as `<data_dir>/plugins/<sha256>.wasm` and records it. Returns the loaded plugin and
/// whether it was new.
#[tracing::instrument(skip_all, fields(plugin))]
pub async fn install_file(
    data_dir: &Path,
    store: &Store,
    runtime: &Runtime,
    bytes: &[u8],
) -> Result<(LoadedPlugin, bool), InstallError> {
    let plugin = runtime.load(bytes)?;
    let inspection = &plugin.inspection;
    let manifest = &inspection.manifest;
    tracing::Span::current().record("plugin", manifest.id.as_str());
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
    let record = InstalledPlugin {
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

/// Loads an installed plugin's file again, checking it is still the file installed.
pub fn load_installed(
    runtime: &Runtime,
    data_dir: &Path,
    row: &InstalledPlugin,
) -> Result<LoadedPlugin, InstalledError> {
    let path = installed_path(data_dir, &row.sha256);
    let bytes = std::fs::read(&path).map_err(|source| InstalledError::Unreadable {
        path: path.display().to_string(),
        source,
    })?;
    let actual = crate::plugins::component::sha256_hex(&bytes);
    if actual != row.sha256 {
        return Err(InstalledError::Changed {
            path: path.display().to_string(),
            actual,
        });
    }
    Ok(runtime.load(&bytes)?)
}
