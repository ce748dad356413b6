//! The bot's shared state, handed to every event handler.

use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;

use serenity::model::id::{ApplicationId, UserId};
use tokio_util::task::TaskTracker;

use crate::cache::DiscordCache;
use crate::discord::capture::Cdn;
use crate::integrations::Integrations;
use crate::store::Store;
use crate::transcripts::Transcripts;

/// Entries per cache kind; enough for a busy process, small enough to bound memory.
pub const CACHE_CAPACITY: u64 = 10_000;

/// Everything handlers share.
pub struct Bot {
    /// The database.
    pub store: Store,
    /// Fetched Discord objects, bounded and short-lived.
    pub cache: DiscordCache,
    /// Interactions being handled; shutdown waits for them.
    pub inflight: TaskTracker,
    /// The bot's own user, learned from READY.
    pub user_id: OnceLock<UserId>,
    /// Whether this process has registered the slash commands.
    pub commands_registered: AtomicBool,
    /// The plugins this process can run.
    pub integrations: std::sync::Arc<Integrations>,
    /// Transcripts, if the operator configured a transcript key.
    pub transcripts: Option<std::sync::Arc<Transcripts>>,
    /// Downloads from Discord's CDN (transcripts keep attachments and avatars).
    pub cdn: Cdn,
    /// How long after connecting servers missing from READY are checked again.
    pub removal_grace: std::time::Duration,
    /// Work in flight per server; leaving a server waits for it.
    pub guild_work: std::sync::Arc<crate::guild_work::GuildWork>,
    /// The operator's default open cooldown, seconds.
    pub open_cooldown_secs: u32,
}

impl Bot {
    /// The bot's own user id: from READY, or else its application's id (they are equal for bots).
    pub fn me(&self, application_id: ApplicationId) -> UserId {
        self.user_id
            .get()
            .copied()
            .unwrap_or_else(|| UserId::new(application_id.get()))
    }

    /// Fresh state around an open store.
    pub fn new(
        store: Store,
        integrations: std::sync::Arc<Integrations>,
        transcripts: Option<Transcripts>,
        cdn: Cdn,
    ) -> Bot {
        Bot {
            transcripts: transcripts.map(std::sync::Arc::new),
            cdn,
            removal_grace: std::time::Duration::from_secs(600),
            guild_work: Default::default(),
            open_cooldown_secs: 0,
            store,
            cache: DiscordCache::new(CACHE_CAPACITY),
            inflight: TaskTracker::new(),
            user_id: OnceLock::new(),
            commands_registered: AtomicBool::new(false),
            integrations,
        }
    }
}
