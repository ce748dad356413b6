//! Plugins a server's admins upload with `/integrations upload`: fetched from Discord's
//! attachment host only, capped in size, validated like `tessera plugin install`, confirmed by
//! an admin, then available to that server alone.
//!
//! Between the upload and the admin's click the file waits in the database
//! ([`Uploads::hold`], [`Uploads::take`]), so the click may reach another process or this one
//! after a restart.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Settings;
use crate::plugins::runtime::{LoadError, LoadedPlugin, Runtime};
use crate::store::{PendingUpload, Refusal, Store, StoreError};

/// How long an upload waits for its admin to confirm it.
pub const PENDING_FOR: Duration = Duration::from_secs(15 * 60);
/// Time allowed to download one file.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// An upload shown to an admin and not yet confirmed.
#[derive(Clone)]
pub struct Pending {
    /// Validated and compiled.
    pub plugin: LoadedPlugin,
    /// The file.
    pub bytes: Arc<Vec<u8>>,
    /// Who uploaded it; only they may confirm it.
    pub uploaded_by: u64,
}

/// Why an upload was refused; each message is for the admin who uploaded it.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The operator turned uploads off.
    #[error("This bot's operator has turned off uploading integrations. Ask them to install it with `tessera plugin install` instead.")]
    Disabled,
    /// Bigger than the operator's cap.
    #[error("That file is {size} bytes; this bot accepts integrations of at most {max} bytes. Build it in release mode (and strip it) to make it smaller.")]
    TooLarge {
        /// The file's size (or what had arrived when the cap was passed).
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Not a `.wasm` file by name.
    #[error("Upload the plugin's `.wasm` file (a WebAssembly component built for wasm32-wasip2).")]
    NotWasm,
    /// The attachment is not on Discord's attachment host.
    #[error("That attachment does not come from Discord's attachment host, so I did not download it. Attach the file to the command directly.")]
    ForeignHost,
    /// The download failed.
    #[error("I could not download the file from Discord ({0}). Try again in a minute.")]
    Download(String),
    /// Not a usable plugin.
    #[error("That file is not a usable Tessera integration: {0}")]
    Invalid(#[from] LoadError),
    /// The id belongs to a plugin every server sees.
    #[error("The id `{0}` belongs to an integration this bot already offers to every server; give your plugin another `id` in its manifest.")]
    ReservedId(String),
}

/// Why a held upload cannot be added or discarded; each message is for the admin clicking.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    /// Handled already, never held in this server, or its server was left.
    #[error("This upload is no longer waiting (it was handled already, or 15 minutes passed). Upload the file again with `/integrations upload`.")]
    Missing,
    /// It waited too long; it is deleted now.
    #[error("This upload waited more than 15 minutes, so it was discarded and nothing was stored. Upload the file again with `/integrations upload`.")]
    Expired,
    /// Another admin's upload; it keeps waiting for them.
    #[error("Only the admin who uploaded this file can add or discard it.")]
    NotYours,
    /// The held file no longer loads here (e.g. another Tessera version serves the click).
    #[error("That file is not a usable Tessera integration any more: {0}")]
    Invalid(#[from] LoadError),
    /// The database or the runtime failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Upload settings and the download client.
pub struct Uploads {
    enabled: bool,
    max_bytes: u64,
    cdn_base: String,
    client: reqwest::Client,
}

impl Uploads {
    /// From the operator's settings.
    pub fn new(settings: &Settings) -> anyhow::Result<Uploads> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DOWNLOAD_TIMEOUT)
            .build()
            .context("building the attachment download client")?;
        Ok(Uploads {
            enabled: settings.plugins.uploads,
            max_bytes: settings.plugins.upload_max_bytes,
            cdn_base: format!("{}/", settings.discord.cdn_base.trim_end_matches('/')),
            client,
        })
    }

    /// Whether uploads are on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The size cap, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Checks what Discord says about the attachment, then downloads it (never more than the
    /// cap, whatever the attachment claimed).
    pub async fn download(
        &self,
        filename: &str,
        url: &str,
        declared_size: u64,
    ) -> Result<Vec<u8>, UploadError> {
        if !self.enabled {
            return Err(UploadError::Disabled);
        }
        if !filename.to_ascii_lowercase().ends_with(".wasm") {
            return Err(UploadError::NotWasm);
        }
        if declared_size > self.max_bytes {
            return Err(UploadError::TooLarge {
                size: declared_size,
                max: self.max_bytes,
            });
        }
        // Compare parsed origins, so `https://cdn.discordapp.com.evil.example/` cannot pass.
        let parsed = url::Url::parse(url).map_err(|_| UploadError::ForeignHost)?;
        let base = url::Url::parse(&self.cdn_base).map_err(|_| UploadError::ForeignHost)?;
        if parsed.origin() != base.origin() || !parsed.path().starts_with(base.path()) {
            return Err(UploadError::ForeignHost);
        }
        let mut response = self
            .client
            .get(parsed)
            .send()
            .await
            .map_err(|e| UploadError::Download(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(UploadError::Download(format!(
                "HTTP {}",
                response.status().as_u16()
            )));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| UploadError::Download(e.without_url().to_string()))?
        {
            if (bytes.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(UploadError::TooLarge {
                    size: (bytes.len() + chunk.len()) as u64,
                    max: self.max_bytes,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Compiles a downloaded or held file off the async workers (compiling is CPU work).
    /// Outer error: the check itself broke; inner: the file is not a usable plugin.
    pub async fn compile(
        runtime: &Runtime,
        bytes: Arc<Vec<u8>>,
    ) -> anyhow::Result<Result<LoadedPlugin, LoadError>> {
        let runtime = runtime.clone();
        tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .context("the plugin check was interrupted")
    }

    /// Keeps a validated upload in the database until its admin confirms it (or
    /// [`PENDING_FOR`] passes).
    pub async fn hold(
        &self,
        store: &Store,
        guild_id: u64,
        pending: &Pending,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let row = PendingUpload {
            guild_id,
            sha256: pending.plugin.inspection.sha256.clone(),
            uploaded_by: pending.uploaded_by,
            wasm: pending.bytes.as_ref().clone(),
            expires_at: now_ms.saturating_add(PENDING_FOR.as_millis() as i64),
        };
        store.hold_upload(&row, now_ms).await
    }

    /// Takes the upload with this sha256 held in this server for `user_id`, compiled again
    /// (the click may reach a process that never saw the file). Someone else's stays held.
    pub async fn take(
        &self,
        store: &Store,
        runtime: &Runtime,
        guild_id: u64,
        sha256: &str,
        user_id: u64,
        now_ms: i64,
    ) -> Result<Pending, TakeError> {
        let held = store
            .take_upload(guild_id, sha256, user_id, now_ms)
            .await
            .context("taking a held upload")?;
        let held = match held {
            Ok(held) => held,
            Err(Refusal::Missing) => return Err(TakeError::Missing),
            Err(Refusal::Expired) => return Err(TakeError::Expired),
            Err(Refusal::NotYours) => return Err(TakeError::NotYours),
        };
        let bytes = Arc::new(held.wasm);
        let plugin = Self::compile(runtime, bytes.clone()).await??;
        if plugin.inspection.sha256 != held.sha256 {
            // The row's key is the file's hash; a mismatch means the row was altered.
            return Err(TakeError::Missing);
        }
        Ok(Pending {
            plugin,
            bytes,
            uploaded_by: held.uploaded_by,
        })
    }

    /// Discards the upload held in this server for `user_id`, without compiling it.
    pub async fn discard(
        &self,
        store: &Store,
        guild_id: u64,
        sha256: &str,
        user_id: u64,
        now_ms: i64,
    ) -> Result<(), TakeError> {
        match store
            .take_upload(guild_id, sha256, user_id, now_ms)
            .await
            .context("discarding a held upload")?
        {
            Ok(_) => Ok(()),
            Err(Refusal::Missing) => Err(TakeError::Missing),
            Err(Refusal::Expired) => Err(TakeError::Expired),
            Err(Refusal::NotYours) => Err(TakeError::NotYours),
        }
    }
}
