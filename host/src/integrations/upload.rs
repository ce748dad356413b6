//! Plugins a server's admins upload with `/integrations upload`: fetched from Discord's
//! attachment host only, capped in size, validated like `tessera plugin install`, confirmed by
//! an admin, then available to that server alone.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::plugins::runtime::{LoadError, LoadedPlugin};

/// How long an upload waits for its admin to confirm it.
const PENDING_FOR: Duration = Duration::from_secs(15 * 60);
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

/// Upload settings, the download client and uploads awaiting confirmation.
pub struct Uploads {
    enabled: bool,
    max_bytes: u64,
    cdn_base: String,
    client: reqwest::Client,
    pending: moka::sync::Cache<(u64, String), Pending>,
}

impl Uploads {
    /// From the operator's settings.
    pub fn new(settings: &Settings) -> anyhow::Result<Uploads> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(DOWNLOAD_TIMEOUT)
            .build()?;
        Ok(Uploads {
            enabled: settings.plugins.uploads,
            max_bytes: settings.plugins.upload_max_bytes,
            cdn_base: format!("{}/", settings.discord.cdn_base.trim_end_matches('/')),
            client,
            pending: moka::sync::Cache::builder()
                .max_capacity(256)
                .time_to_live(PENDING_FOR)
                .build(),
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

    /// Keeps a validated upload until its admin confirms it (or 15 minutes pass).
    pub fn hold(&self, guild_id: u64, pending: Pending) {
        let key = (guild_id, pending.plugin.inspection.sha256.clone());
        self.pending.insert(key, pending);
    }

    /// The upload with this sha256 awaiting confirmation in this server, removed.
    pub fn take(&self, guild_id: u64, sha256: &str) -> Option<Pending> {
        self.pending.remove(&(guild_id, sha256.to_owned()))
    }
}
