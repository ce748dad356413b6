//! Plugins a server's admins upload with `/integrations upload`: fetched from Discord's
//! attachment host only, capped in size, validated like `tessera plugin install`, confirmed by
//! an admin, then available to that server alone.
//!
//! Between the upload and the admin's click the file waits in the database
//! ([`Uploads::hold`], [`Uploads::take`]), so the click may reach another process or this one
//! after a restart.
//!
//! Uploads are free to anyone who invites the bot, so each server uploads within quotas of
//! its own ([`UploadQuota`]: files per hour, bytes per day, a few awaiting confirmation,
//! [`MAX_UPLOADED`] plugins and [`STORED_UPLOADS`] times the file cap stored). An upload is
//! checked like `tessera plugin install` checks a file ([`Uploads::check`]: compiled and
//! dropped) and compiled into the compile cache only once its admin adds it. Every compile runs
//! in a worker process stopped at the sandbox's compile limits (CPU, memory, time), and goes
//! through one slot for the whole process ([`Uploads::compile`]), so no server can keep the CPU
//! compiling, exhaust the bot's memory, or fill the compile cache with files nobody added.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Settings;
use crate::plugins::compiler::CompileFailure;
use crate::plugins::component::{inspect, InspectError, Inspection};
use crate::plugins::runtime::{Granted, LoadError, LoadedPlugin, Runtime};
use crate::store::{PendingUpload, Refusal, Store, StoreError, UploadQuota, UploadRefusal};

/// Bytes one server may upload per day, in files of the operator's cap.
const DAILY_UPLOADS: u64 = 10;
/// Uploads one server may have awaiting confirmation at once.
pub const HELD_AT_ONCE: u32 = 3;
/// Different plugins one server may have uploaded.
pub const MAX_UPLOADED: usize = 10;
/// Bytes one server's uploaded plugins may take, in files of the operator's cap.
pub const STORED_UPLOADS: u64 = 5;
/// How long an admin's click waits for the compiler before being told to try again.
const COMPILE_WAIT: Duration = Duration::from_secs(20);
/// How long past the policy's compile deadline a compile is waited for (the worker is killed
/// at the deadline; this bounds a compile in this process, with no worker).
const COMPILE_GRACE: Duration = Duration::from_secs(1);

/// How long an upload waits for its admin to confirm it.
pub const PENDING_FOR: Duration = Duration::from_secs(15 * 60);
/// Time allowed to download one file.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// An upload shown to an admin and not yet confirmed: inspected, not compiled.
#[derive(Clone)]
pub struct Pending {
    /// What the file says about itself.
    pub inspection: Arc<Inspection>,
    /// What the sandbox would grant it.
    pub granted: Granted,
    /// The file.
    pub bytes: Arc<Vec<u8>>,
    /// Who uploaded it; only they may confirm it.
    pub uploaded_by: u64,
}

/// An upload its admin added: compiled and ready to run.
#[derive(Clone)]
pub struct Added {
    /// Compiled, linked.
    pub plugin: LoadedPlugin,
    /// The file.
    pub bytes: Arc<Vec<u8>>,
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
    Invalid(#[from] InspectError),
    /// The server used its upload quota.
    #[error("You cannot upload now: {0}. Try again later.")]
    Quota(UploadRefusal),
    /// It does not compile or link, or could not be checked now.
    #[error(transparent)]
    Check(TakeError),
    /// The id belongs to a plugin every server sees.
    #[error("The id `{0}` belongs to an integration this bot already offers to every server; give your plugin another `id` in its manifest.")]
    ReservedId(String),
}

/// Why a fresh upload cannot be shown for confirmation.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file says something wrong about itself.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// It does not compile or link, or the compiler was busy or too slow.
    #[error(transparent)]
    Compile(TakeError),
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
    /// The file does not compile or link here.
    #[error("That file is not a usable Tessera integration: {0}")]
    Invalid(#[from] LoadError),
    /// Every compiler slot stayed busy.
    #[error("The bot is busy checking other uploads; press the button again in a minute (the upload keeps waiting until it expires).")]
    Busy,
    /// Compiling it took too long.
    #[error("That file took too long to compile, so it was not added. Make it smaller (build in release mode, strip it).")]
    TooSlow,
    /// Compiling it needed more memory than the bot allows.
    #[error("Compiling that file needs more memory than this bot allows ({0} MiB), so it was not added. Make it smaller (build in release mode, strip it).")]
    TooMuchMemory(usize),
    /// The server has as many uploaded plugins, or bytes of them, as it may.
    #[error("This server has {0}, so this upload was not added. A new version of an integration already uploaded replaces it; for more room, ask the bot's operator.")]
    Full(String),
    /// The database or the runtime failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Upload settings, quotas, the download client and the compiler slot.
pub struct Uploads {
    enabled: bool,
    max_bytes: u64,
    per_hour: u32,
    cdn_base: String,
    client: reqwest::Client,
    compiles: Arc<tokio::sync::Semaphore>,
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
            per_hour: settings.plugins.uploads_per_hour,
            cdn_base: format!("{}/", settings.discord.cdn_base.trim_end_matches('/')),
            client,
            compiles: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// One server's upload quota.
    pub fn quota(&self) -> UploadQuota {
        UploadQuota {
            per_hour: self.per_hour,
            bytes_per_day: self.max_bytes.saturating_mul(DAILY_UPLOADS),
            held: HELD_AT_ONCE,
        }
    }

    /// The bytes one server's uploaded plugins may take together.
    pub fn stored_bytes(&self) -> u64 {
        self.max_bytes.saturating_mul(STORED_UPLOADS)
    }

    /// Counts an upload of (at most) `bytes` against the server's quota, before anything is
    /// downloaded.
    pub async fn count(
        &self,
        store: &Store,
        guild_id: u64,
        bytes: u64,
        now_ms: i64,
    ) -> Result<Result<(), UploadError>, StoreError> {
        Ok(store
            .count_upload(guild_id, bytes.min(self.max_bytes), self.quota(), now_ms)
            .await?
            .map_err(UploadError::Quota))
    }

    /// Whether uploads are on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The size cap, bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// What can be refused from what Discord says about the attachment, before it counts
    /// against the server's quota or anything is downloaded; returns the URL to fetch.
    pub fn precheck(
        &self,
        filename: &str,
        url: &str,
        declared_size: u64,
    ) -> Result<url::Url, UploadError> {
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
        Ok(parsed)
    }

    /// Checks what Discord says about the attachment, then downloads it (never more than the
    /// cap, whatever the attachment claimed).
    pub async fn download(
        &self,
        filename: &str,
        url: &str,
        declared_size: u64,
    ) -> Result<Vec<u8>, UploadError> {
        let parsed = self.precheck(filename, url, declared_size)?;
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

    /// What an admin is shown before adding a file: every check `tessera plugin install`
    /// makes (manifest, imports, compiling, linking, the handler's types), through the one
    /// compile slot, with nothing kept: the compiled code is dropped, and nothing is written
    /// to the compile cache until the admin adds the file.
    pub async fn check(
        &self,
        runtime: &Runtime,
        bytes: Arc<Vec<u8>>,
        uploaded_by: u64,
    ) -> Result<Pending, CheckError> {
        let inspection = inspect(&bytes)?;
        inspection.manifest.hosts().map_err(InspectError::from)?;
        self.compiling(runtime, bytes.clone(), false)
            .await
            .map_err(CheckError::Compile)?;
        let granted = runtime.policy().grant(&inspection.manifest.limits);
        Ok(Pending {
            inspection: Arc::new(inspection),
            granted,
            bytes,
            uploaded_by,
        })
    }

    /// Compiles an added file in the runtime's compile worker (a process of its own, stopped
    /// at the policy's CPU, memory and time limits), one compile at a time for the whole
    /// process: a click waits [`COMPILE_WAIT`] for the compiler, and a compile past the
    /// policy's deadline is refused (its thread keeps the compiler until it ends, so slow
    /// compiles never pile up).
    pub async fn compile(
        &self,
        runtime: &Runtime,
        bytes: Arc<Vec<u8>>,
    ) -> Result<LoadedPlugin, TakeError> {
        self.compiling(runtime, bytes, true).await
    }

    async fn compiling(
        &self,
        runtime: &Runtime,
        bytes: Arc<Vec<u8>>,
        cached: bool,
    ) -> Result<LoadedPlugin, TakeError> {
        let permit = tokio::time::timeout(COMPILE_WAIT, self.compiles.clone().acquire_owned())
            .await
            .map_err(|_| TakeError::Busy)?
            .map_err(|_| TakeError::Busy)?;
        let deadline = runtime.policy().compile.wall + COMPILE_GRACE;
        let runtime = runtime.clone();
        let compiling = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if cached {
                runtime.load_upload(&bytes)
            } else {
                runtime.check_upload(&bytes)
            }
        });
        match tokio::time::timeout(deadline, compiling).await {
            Err(_) => Err(TakeError::TooSlow),
            Ok(Err(join)) => Err(TakeError::Unexpected(
                anyhow::Error::new(join).context("the plugin check was interrupted"),
            )),
            Ok(Ok(Ok(loaded))) => Ok(loaded),
            Ok(Ok(Err(LoadError::Worker(failure)))) => Err(match failure {
                CompileFailure::TooSlow { .. } => TakeError::TooSlow,
                CompileFailure::OutOfMemory { mib } => TakeError::TooMuchMemory(mib),
                CompileFailure::Worker(e) => {
                    TakeError::Unexpected(e.context("compiling an upload in the compile worker"))
                }
                invalid @ CompileFailure::Invalid(_) => {
                    TakeError::Invalid(LoadError::Worker(invalid))
                }
            }),
            Ok(Ok(Err(e))) => Err(TakeError::Invalid(e)),
        }
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
            sha256: pending.inspection.sha256.clone(),
            uploaded_by: pending.uploaded_by,
            wasm: pending.bytes.as_ref().clone(),
            expires_at: now_ms.saturating_add(PENDING_FOR.as_millis() as i64),
        };
        store.hold_upload(&row, HELD_AT_ONCE, now_ms).await
    }

    /// Takes the upload with this sha256 held in this server for `user_id`, and compiles it
    /// (the first time anything compiles it). Someone else's stays held.
    pub async fn take(
        &self,
        store: &Store,
        runtime: &Runtime,
        guild_id: u64,
        sha256: &str,
        user_id: u64,
        now_ms: i64,
    ) -> Result<Added, TakeError> {
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
        if crate::plugins::component::sha256_hex(&bytes) != held.sha256 {
            // The row's key is the file's hash; a mismatch means the row was altered.
            return Err(TakeError::Missing);
        }
        let plugin = self.compile(runtime, bytes.clone()).await?;
        Ok(Added { plugin, bytes })
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

impl From<CheckError> for UploadError {
    fn from(err: CheckError) -> UploadError {
        match err {
            CheckError::Inspect(e) => UploadError::Invalid(e),
            CheckError::Compile(e) => UploadError::Check(e),
        }
    }
}
