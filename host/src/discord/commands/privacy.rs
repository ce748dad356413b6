//! `/privacy integrations`: any member can see which integrations receive their user ID here.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};
use serenity::model::id::GuildId;

use anyhow::Context as _;

use super::{missing_option, Options};
use crate::bot::Bot;
use crate::discord::reply::Reply;
use crate::discord::text::neutralise;
use crate::privacy::disclosure::{self, ForMember};

/// What this command needs before it runs: any member may see what is shared about them.
pub(super) const NEEDS: super::Needs = super::Needs::Server;

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("privacy")
        .description("What Tessera shares about you in this server")
        .contexts(vec![InteractionContext::Guild])
        .add_option(CreateCommandOption::new(
            CommandOptionType::SubCommand,
            "integrations",
            "Which integrations receive your user ID when you open a ticket, and their privacy policies",
        ))
}

/// Runs the chosen subcommand.
pub async fn run(bot: &Bot, guild_id: GuildId, options: &Options<'_>) -> anyhow::Result<Reply> {
    match options.subcommand() {
        Some(("integrations", _)) => integrations(bot, guild_id.get()).await,
        _ => Ok(missing_option("subcommand")),
    }
}

#[tracing::instrument(skip_all, fields(guild_id = guild_id))]
async fn integrations(bot: &Bot, guild_id: u64) -> anyhow::Result<Reply> {
    let rows = bot
        .store
        .guild_integrations(guild_id)
        .await
        .context("reading the server's integrations")?;
    if rows
        .iter()
        .any(|r| r.enabled && !bot.integrations.is_global(&r.plugin_id))
    {
        bot.integrations.sync_uploads(&bot.store, guild_id).await;
    }
    let enabled: Vec<_> = rows
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|row| Some((row, bot.integrations.get(guild_id, &row.plugin_id)?)))
        .collect();
    let entries: Vec<ForMember<'_>> = enabled
        .iter()
        .map(|(row, available)| ForMember {
            manifest: available.manifest(),
            name: neutralise(&available.manifest().name),
            data_use: neutralise(&available.manifest().data_use),
            config: &row.config,
        })
        .collect();
    Ok(Reply::text(disclosure::for_member(&entries)))
}
