//! `/privacy integrations`: any member can see which integrations receive their user ID here.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};
use serenity::model::id::GuildId;

use super::{missing_option, Options};
use crate::bot::Bot;
use crate::discord::reply::Reply;
use crate::integrations::welcome::neutralise;

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

async fn integrations(bot: &Bot, guild_id: u64) -> anyhow::Result<Reply> {
    let rows = bot.store.guild_integrations(guild_id).await?;
    let mut lines = Vec::new();
    for row in rows.iter().filter(|r| r.enabled) {
        let Some(available) = bot.integrations.get(guild_id, &row.plugin_id) else {
            continue;
        };
        let m = available.manifest();
        let hosts =
            crate::integrations::Integrations::describe_hosts(&available, Some(&row.config));
        let hosts = if hosts.is_empty() {
            "no network access".to_owned()
        } else {
            format!("may contact {}", hosts.join(", "))
        };
        let also = if m.receives_server_id {
            "; also receives this server's ID"
        } else {
            ""
        };
        lines.push(format!(
            "**{}** ({}; {}{also}): {}\nPrivacy policy: <{}>",
            neutralise(&m.name),
            m.version,
            hosts,
            neutralise(&m.data_use),
            m.privacy_policy
        ));
    }
    if lines.is_empty() {
        return Ok(Reply::text(
            "This server has no integrations enabled: when you open a ticket, Tessera shares your user ID with no one.",
        ));
    }
    let mut text = format!(
        "When you open a ticket here, Tessera gives **your Discord user ID** (and nothing else about you) to {} \
         enabled by this server's admins:\n\n{}",
        if lines.len() == 1 { "this integration" } else { "these integrations" },
        lines.join("\n\n")
    );
    if text.chars().count() > 2000 {
        text = text.chars().take(1999).collect::<String>() + "…";
    }
    Ok(Reply::text(text))
}
