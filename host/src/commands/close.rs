//! `/close [reason]`: closes the ticket this is used in.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::http::Http;
use serenity::model::application::{CommandOptionType, InteractionContext};

use super::Options;
use crate::bot::Bot;
use crate::invocation::Invocation;
use crate::lifecycle;
use crate::reply::Reply;
use crate::store::{GuildSettings, Ticket};

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("close")
        .description("Close this ticket")
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "reason", "Why it is closed")
                .max_length(500),
        )
}

/// Closes the ticket at once: typing the command is the confirmation.
pub async fn run(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    options: &Options<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
) -> anyhow::Result<Reply> {
    let reason: Option<String> = options
        .string("reason")
        .map(|r| r.chars().take(500).collect());
    lifecycle::close(bot, http, inv, ticket, settings, reason.as_deref()).await
}
