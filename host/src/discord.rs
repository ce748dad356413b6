//! The Discord adapter: the only code that knows serenity. It turns gateway events and
//! interactions into calls on the domain services, and their outcomes into words.
//!
//! - [`handler`] — gateway events (READY, interactions, leaving a server).
//! - [`router`] — acknowledges each interaction, dispatches it, answers it.
//! - [`action`] — every button and form `custom_id`, parsed once.
//! - [`invocation`] — the parts of an interaction handlers need; the [`crate::tickets::Caller`].
//! - [`commands`] — one file per command: checks, the service call, the outcome in words.
//! - [`rest`] — the ticket service's Discord port over REST.
//! - [`text`] — Discord's text rules (length, mentions, escaping).
//! - [`welcome`] — the welcome template's tokens, filled with the plugins' placeholders.
//! - [`reply`] — what the caller sees; [`failure`] — what a Discord refusal means for them.

use secrecy::ExposeSecret;
pub mod action;
pub mod capture;
pub mod commands;
pub mod failure;
pub mod handler;
pub mod invocation;
pub mod reply;
pub mod rest;
pub mod router;
pub mod text;
pub mod welcome;

use serenity::all::GatewayIntents;
use serenity::http::{Http, HttpBuilder};

use crate::config::Settings;

pub use handler::Handler;

/// Builds the REST client. A custom `discord.api_base` (a REST proxy, or the test emulator) is used
/// as a proxy; serenity ignores the proxy unless its own rate limiter is off, so it is turned off
/// there: the proxy in front of Discord owns rate limiting.
pub fn http_client(settings: &Settings, token: &secrecy::SecretString) -> Http {
    let builder = HttpBuilder::new(token.expose_secret());
    if settings.uses_custom_api_base() {
        builder
            .proxy(settings.discord.api_base.trim_end_matches('/'))
            .ratelimiter_disabled(true)
            .build()
    } else {
        builder.build()
    }
}

/// Gateway intents: guild create/delete only (interactions need no intent), plus the privileged
/// MESSAGE_CONTENT intent when transcripts can be kept: without it, Discord hides the text of
/// the messages the bot reads for a transcript.
pub fn intents(transcripts: bool) -> GatewayIntents {
    if transcripts {
        return GatewayIntents::GUILDS | GatewayIntents::MESSAGE_CONTENT;
    }
    GatewayIntents::GUILDS
}
