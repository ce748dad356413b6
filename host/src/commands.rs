//! Slash commands: one file per command, each with `register()` (its Discord definition) and `run()`.
//!
//! Command names and option names are part of the product: admins and docs rely on them.

mod blacklist;
mod claim;
mod close;
pub mod integrations;
mod members;
mod open;
mod options;
mod panel;
mod privacy;
mod setup;
mod welcome;

use serenity::builder::CreateCommand;
use serenity::http::Http;
use serenity::model::application::CommandData;
use serenity::model::id::GuildId;

use crate::bot::Bot;
use crate::invocation::Invocation;
use crate::lifecycle;
use crate::reply::Reply;
use crate::router::OUTSIDE_SERVER;
use crate::store::{GuildSettings, Ticket};

pub use options::Options;

/// Every global command, for the bulk overwrite at start.
pub fn all(bot: &Bot) -> Vec<CreateCommand> {
    vec![
        setup::register(),
        panel::register(),
        open::register(),
        close::register(),
        claim::register_claim(),
        claim::register_unclaim(),
        members::register_add(),
        members::register_remove(),
        blacklist::register(),
        integrations::register(bot),
        welcome::register(),
        privacy::register(),
    ]
}

/// Runs the command named in `data`.
#[tracing::instrument(skip_all, fields(command = %data.name, interaction_id = %inv.id, guild_id))]
pub async fn run(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    data: &CommandData,
) -> anyhow::Result<Reply> {
    let Some(guild_id) = inv.guild_id else {
        return Ok(Reply::text(OUTSIDE_SERVER));
    };
    tracing::Span::current().record("guild_id", guild_id.get());
    let options = Options::new(&data.options);
    match data.name.as_str() {
        "setup" => setup::run(bot, http, inv, guild_id, &options, data).await,
        "panel" => panel::run(bot, http, inv, guild_id, &options).await,
        "open" => open::run(bot, http, inv, guild_id, &options).await,
        "blacklist" => blacklist::run(bot, inv, guild_id, &options).await,
        "integrations" => integrations::run(bot, inv, guild_id, &options, data).await,
        "welcome" => welcome::run(bot, inv, guild_id, &options).await,
        "privacy" => privacy::run(bot, guild_id, &options).await,
        "close" | "claim" | "unclaim" | "add" | "remove" => {
            let (ticket, settings) = match lifecycle::ticket_here(bot, inv).await? {
                Ok(found) => found,
                Err(reply) => return Ok(reply),
            };
            in_ticket(
                bot, http, inv, guild_id, &data.name, &options, &ticket, &settings,
            )
            .await
        }
        other => {
            tracing::warn!(command = other, "unknown command");
            Ok(Reply::text(
                "I don't know that command; Discord may be showing an outdated list. Try again in a minute.",
            ))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn in_ticket(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    guild_id: GuildId,
    name: &str,
    options: &Options<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
) -> anyhow::Result<Reply> {
    if ticket.guild_id != guild_id.get() {
        return Ok(Reply::text(
            "This only works inside an open ticket channel.",
        ));
    }
    match name {
        "close" => close::run(bot, http, inv, options, ticket, settings).await,
        "claim" => lifecycle::claim(bot, http, inv, ticket, settings).await,
        "unclaim" => lifecycle::unclaim(bot, http, inv, ticket, settings).await,
        "add" => members::run_add(bot, http, inv, options, ticket, settings).await,
        _ => members::run_remove(bot, http, inv, options, ticket, settings).await,
    }
}

/// The answer when Discord sent a command without an option it requires.
pub fn missing_option(name: &str) -> Reply {
    Reply::text(format!(
        "That command arrived without its `{name}` option. Discord may be showing an outdated version \
         of the command; try again in a minute."
    ))
}

/// The answer to a non-manager using an admin command.
pub const MANAGERS_ONLY: &str = "Only members with the **Manage Server** permission can do this.";
