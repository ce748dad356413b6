//! `/open [subject]`: opens a ticket without a panel.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::http::Http;
use serenity::model::application::{CommandOptionType, InteractionContext};
use serenity::model::id::GuildId;

use super::Options;
use crate::bot::Bot;
use crate::invocation::Invocation;
use crate::lifecycle;
use crate::reply::Reply;

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("open")
        .description("Open a private ticket with the staff")
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::String,
                "subject",
                "What the ticket is about",
            )
            .max_length(100),
        )
}

/// Opens the ticket.
pub async fn run(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    guild_id: GuildId,
    options: &Options<'_>,
) -> anyhow::Result<Reply> {
    let subject = options
        .string("subject")
        .map(|s| s.chars().take(100).collect());
    lifecycle::open(bot, http, inv, guild_id, None, subject).await
}
