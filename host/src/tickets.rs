//! The ticket service: opening, closing, claiming and membership of tickets, with their rules.
//!
//! It knows nothing of interactions: whoever asks (a slash command, a button, later a web page or
//! a scheduled job) passes a [`Caller`], and the service talks to Discord only through the
//! [`DiscordPort`] and to integrations only through the [`PluginPort`]. It returns typed
//! outcomes with no user-facing text; the adapters turn them into words.
//!
//! - [`caller`] — who is asking, and the permission rules that follow from it.
//! - [`port`] — what the service needs from Discord and from the plugin runtime.
//! - [`open`], [`close`], [`claim`], [`members`] — one flow each, with its outcome type.
//! - [`lookup`] — finding the open ticket an action is about.

pub mod caller;
pub mod claim;
pub mod close;
pub mod lookup;
pub mod members;
pub mod open;
pub mod port;
pub mod vanished;

#[cfg(test)]
mod fake;

pub use caller::Caller;
pub use port::{
    ChannelRequest, DiscordFailure, DiscordPort, LogEvent, NoPlugins, Notice, PluginPort, Welcome,
};

use crate::store::{Store, StoreError};

/// A failure the caller cannot do anything about: the database failed.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// A query failed while `doing` something; the ticket's state is as the store left it.
    #[error("{doing}: {source}")]
    Store {
        /// What the service was doing, for the log.
        doing: &'static str,
        /// The database's error.
        #[source]
        source: StoreError,
    },
}

/// `.doing("…")` on a store result: the typed counterpart of anyhow's `.context`.
pub trait Doing<T> {
    /// Names what was being done when the store failed.
    fn doing(self, what: &'static str) -> Result<T, TicketError>;
}

impl<T> Doing<T> for Result<T, StoreError> {
    fn doing(self, what: &'static str) -> Result<T, TicketError> {
        self.map_err(|source| TicketError::Store {
            doing: what,
            source,
        })
    }
}

/// The ticket service for one request: the database, the two ports, and the bot's own user id.
pub struct Tickets<'a, D, P> {
    /// The database.
    pub store: &'a Store,
    /// Discord.
    pub discord: &'a D,
    /// The server's integrations.
    pub plugins: &'a P,
    /// The bot's user id (it is never added to or removed from a ticket, and records undo work).
    pub bot_id: u64,
    /// Transcripts, when the operator configured a key.
    pub transcripts: Option<&'a crate::transcripts::Transcripts>,
    /// Seconds between two opens by one member, unless the server set its own.
    pub open_cooldown_secs: u32,
}

impl<'a, D: DiscordPort, P: PluginPort> Tickets<'a, D, P> {
    /// The service over these ports.
    pub fn new(store: &'a Store, discord: &'a D, plugins: &'a P, bot_id: u64) -> Self {
        Tickets {
            store,
            discord,
            plugins,
            bot_id,
            transcripts: None,
            open_cooldown_secs: 0,
        }
    }

    /// The service with the operator's default open cooldown.
    pub fn with_open_cooldown(mut self, secs: u32) -> Self {
        self.open_cooldown_secs = secs;
        self
    }

    /// The service keeping transcripts where servers turned them on.
    pub fn with_transcripts(
        mut self,
        transcripts: Option<&'a crate::transcripts::Transcripts>,
    ) -> Self {
        self.transcripts = transcripts;
        self
    }
}
