//! What the ticket service needs from the outside: Discord (the [`DiscordPort`]) and the plugin
//! runtime (the [`PluginPort`]). The REST adapter implements the first in `discord::rest`; unit
//! tests use an in-memory fake.

use std::future::Future;

use crate::integrations::{AutoDisabled, NeedsAttention, PluginRun};
use crate::store::Store;
use crate::transcripts::{CaptureLimits, Captured};

/// A Discord refusal, sorted by what the member or admin can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscordFailure {
    /// 403: the bot lacks a permission; an admin must grant it.
    MissingPermissions,
    /// 404: the channel, message or role is gone.
    NotFound,
    /// 429: Discord asked us to slow down.
    RateLimited,
    /// 5xx, a timeout or a broken connection: try again later.
    Unavailable,
    /// Anything else (a 400 means a bug on our side, or a full category).
    Other,
}

/// The private channel a new ticket needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRequest {
    /// The server.
    pub guild_id: u64,
    /// The channel's name (`ticket-0001`).
    pub name: String,
    /// The ticket's number, for the topic.
    pub number: i64,
    /// Who may see it besides staff and the bot.
    pub opener_id: u64,
    /// The staff role, which may see and moderate it.
    pub staff_role_id: u64,
    /// The category it goes under, if any.
    pub category_id: Option<u64>,
}

/// The first message of a ticket: the server's template and what fills it.
#[derive(Debug, Clone)]
pub struct Welcome {
    /// The server's template, or `None` for the default.
    pub template: Option<String>,
    /// The opener (the only member the message may ping).
    pub opener_id: u64,
    /// The ticket's number.
    pub number: i64,
    /// The subject the opener typed.
    pub subject: Option<String>,
    /// What each enabled integration returned.
    pub runs: Vec<PluginRun>,
}

/// A notice for the server's log channel.
#[derive(Debug, Clone)]
pub enum LogEvent {
    /// A ticket was opened.
    Opened {
        /// Its number.
        number: i64,
        /// Who opened it.
        opener_id: u64,
        /// Its channel.
        channel_id: u64,
    },
    /// A ticket was closed.
    Closed {
        /// Its number.
        number: i64,
        /// Who opened it.
        opener_id: u64,
        /// Who closed it.
        closer_id: u64,
        /// Why, as the closer wrote it.
        reason: Option<String>,
    },
    /// A closed ticket's channel could not be deleted, even after retrying.
    ChannelNotDeleted {
        /// The channel.
        channel_id: u64,
        /// What Discord answered last.
        failure: DiscordFailure,
    },
    /// A ticket's channel was deleted (by hand, or while the bot was offline): the ticket is
    /// closed.
    ChannelGone {
        /// Its number.
        number: i64,
        /// Who opened it.
        opener_id: u64,
    },
    /// A ticket was closed and its transcript kept (posted with the HTML file attached).
    Transcript {
        /// Its number.
        number: i64,
        /// Who opened it.
        opener_id: u64,
        /// Who closed it.
        closer_id: u64,
        /// Who had claimed it.
        claimed_by: Option<u64>,
        /// Why, as the closer wrote it.
        reason: Option<String>,
        /// Unix ms.
        opened_at: i64,
        /// Unix ms.
        closed_at: i64,
        /// Messages in the transcript.
        messages: usize,
    },
    /// An integration failed too often and Tessera disabled it in this server.
    IntegrationDisabled(AutoDisabled),
    /// An integration cannot run until an admin acts (told once per process).
    IntegrationNeedsAttention(NeedsAttention),
}

/// A message posted in the ticket itself about something that happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A staff member claimed it.
    Claimed {
        /// Who.
        by: u64,
    },
    /// The claim was released.
    Released {
        /// Who released it.
        by: u64,
    },
    /// Someone was given access.
    MemberAdded {
        /// Who was added.
        user_id: u64,
        /// By whom.
        by: u64,
    },
}

/// Why a channel is deleted (for Discord's audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// The ticket was closed.
    Closed,
    /// A ticket could not be finished and is undone.
    Undo,
}

/// What the ticket service asks of Discord. Every method is one REST call (or none).
pub trait DiscordPort: Sync {
    /// Creates the ticket's private channel; returns its id.
    fn create_ticket_channel(
        &self,
        request: &ChannelRequest,
    ) -> impl Future<Output = Result<u64, DiscordFailure>> + Send;

    /// Posts the welcome message (with the ticket's buttons) in the ticket channel.
    fn post_welcome(
        &self,
        channel_id: u64,
        welcome: &Welcome,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;

    /// Posts a notice in the server's log channel. Failing to log never fails the action.
    fn post_log(
        &self,
        log_channel_id: u64,
        event: &LogEvent,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;

    /// Posts a notice in the ticket. Failing to announce never fails the action.
    fn announce(
        &self,
        channel_id: u64,
        notice: &Notice,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;

    /// Deletes a channel.
    fn delete_channel(
        &self,
        guild_id: u64,
        channel_id: u64,
        reason: DeleteReason,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;

    /// Lets `user_id` see and write in the ticket channel.
    fn grant_member(
        &self,
        channel_id: u64,
        user_id: u64,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;

    /// Takes `user_id`'s access to the ticket channel away.
    fn revoke_member(
        &self,
        channel_id: u64,
        user_id: u64,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;

    /// Reads a ticket channel for its transcript: every message (a request per 100), the
    /// people in it, and the files it may keep (downloaded from Discord's CDN).
    fn capture(
        &self,
        guild_id: u64,
        channel_id: u64,
        limits: CaptureLimits,
    ) -> impl Future<Output = Result<Captured, DiscordFailure>> + Send;

    /// The server's name (for a transcript's header); empty if unknown.
    fn guild_name(&self, guild_id: u64) -> impl Future<Output = String> + Send;

    /// Sends the opener their ticket's transcript by DM. A member whose DMs are closed is
    /// not an error anyone is shown (Discord answers 50007); the caller only logs it.
    fn dm_transcript(
        &self,
        user_id: u64,
        number: i64,
        guild_name: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;

    /// Posts a notice in the log channel with a file attached (a transcript).
    fn post_log_file(
        &self,
        log_channel_id: u64,
        event: &LogEvent,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<(), DiscordFailure>> + Send;
}

/// What the ticket service asks of the plugin runtime when a ticket opens.
pub trait PluginPort: Sync {
    /// Gives the opener's user id to every integration the server enabled, within the event
    /// timeout, and records each delivery. Never fails: a failing plugin only loses its values.
    fn run_at_open(
        &self,
        store: &Store,
        guild_id: u64,
        ticket_id: i64,
        opener_id: u64,
    ) -> impl Future<Output = Vec<PluginRun>> + Send;

    /// After how many failures an integration is disabled.
    fn disable_after(&self) -> u32;
}

/// A server with no integrations at all (tests, and tools that open tickets without plugins).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPlugins;

impl PluginPort for NoPlugins {
    async fn run_at_open(&self, _: &Store, _: u64, _: i64, _: u64) -> Vec<PluginRun> {
        Vec::new()
    }

    fn disable_after(&self) -> u32 {
        0
    }
}

impl PluginPort for crate::integrations::Integrations {
    fn run_at_open(
        &self,
        store: &Store,
        guild_id: u64,
        ticket_id: i64,
        opener_id: u64,
    ) -> impl Future<Output = Vec<PluginRun>> + Send {
        crate::integrations::Integrations::run_at_open(self, store, guild_id, ticket_id, opener_id)
    }

    fn disable_after(&self) -> u32 {
        crate::integrations::Integrations::disable_after(self)
    }
}
