//! The bot's shared state, handed to every event handler.

use std::sync::OnceLock;

use serenity::model::id::UserId;
use tokio_util::task::TaskTracker;

use crate::cache::DiscordCache;
use crate::store::Store;

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
}

impl Bot {
    /// Fresh state around an open store.
    pub fn new(store: Store) -> Bot {
        Bot {
            store,
            cache: DiscordCache::new(CACHE_CAPACITY),
            inflight: TaskTracker::new(),
            user_id: OnceLock::new(),
        }
    }
}
