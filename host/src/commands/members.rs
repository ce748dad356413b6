//! `/add user` and `/remove user`.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::http::Http;
use serenity::model::application::{CommandOptionType, InteractionContext};

use super::{missing_option, Options};
use crate::bot::Bot;
use crate::invocation::Invocation;
use crate::lifecycle;
use crate::reply::Reply;
use crate::store::{GuildSettings, Ticket};

/// `/add`.
pub fn register_add() -> CreateCommand {
    CreateCommand::new("add")
        .description("Give someone access to this ticket (staff)")
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(CommandOptionType::User, "user", "Who to add").required(true),
        )
}

/// `/remove`.
pub fn register_remove() -> CreateCommand {
    CreateCommand::new("remove")
        .description("Take someone's access to this ticket away (staff)")
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(CommandOptionType::User, "user", "Who to remove")
                .required(true),
        )
}

/// Runs `/add`.
pub async fn run_add(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    options: &Options<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
) -> anyhow::Result<Reply> {
    let Some(user) = options.user("user") else {
        return Ok(missing_option("user"));
    };
    lifecycle::add_member(bot, http, inv, ticket, settings, user).await
}

/// Runs `/remove`.
pub async fn run_remove(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    options: &Options<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
) -> anyhow::Result<Reply> {
    let Some(user) = options.user("user") else {
        return Ok(missing_option("user"));
    };
    lifecycle::remove_member(bot, http, inv, ticket, settings, user).await
}
