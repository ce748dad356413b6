//! `/setup`: the server's ticket settings.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::InteractionContext;
use serenity::model::application::{CommandData, CommandOptionType};
use serenity::model::channel::ChannelType;
use serenity::model::id::ChannelId;
use serenity::model::permissions::Permissions;

use super::{missing_option, Ctx, Options, Result};
use crate::discord::failure::{classify, generic_advice};
use crate::discord::reply::Reply;
use crate::store::{GuildSettings, SettingsUpdate};
use crate::tickets::Doing;

/// What this command needs before it runs: admins only.
pub(super) const NEEDS: super::Needs = super::Needs::Manager;

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("setup")
        .description("Set up tickets in this server")
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Role,
                "staff_role",
                "The role that handles tickets",
            )
            .required(true),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Channel,
                "category",
                "Category for new ticket channels",
            )
            .channel_types(vec![ChannelType::Category]),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Channel,
                "log_channel",
                "Channel for ticket open/close notices",
            )
            .channel_types(vec![ChannelType::Text]),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "max_open",
                "Open tickets allowed per member (1-10, default 1)",
            )
            .min_int_value(1)
            .max_int_value(10),
        )
        .add_option(CreateCommandOption::new(
            CommandOptionType::Boolean,
            "transcripts",
            "Keep each closed ticket's conversation as a transcript (off by default)",
        ))
        .add_option(CreateCommandOption::new(
            CommandOptionType::Boolean,
            "transcript_dm",
            "Also send the ticket's opener its transcript by DM when it closes",
        ))
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "open_cooldown",
                "Seconds a member waits between opening two tickets (0: none)",
            )
            .min_int_value(0)
            .max_int_value(86_400),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "max_open_total",
                "Open tickets the whole server may have at once",
            )
            .min_int_value(1)
            .max_int_value(10_000),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "transcript_days",
                "Days transcripts are kept (at most the bot's limit, 90 by default)",
            )
            .min_int_value(1)
            .max_int_value(3650),
        )
}

/// Saves the settings and shows them.
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>, data: &CommandData) -> Result<Reply> {
    let guild_id = ctx.guild_id;
    let Some(staff_role) = options.role("staff_role") else {
        return Ok(missing_option("staff_role"));
    };
    if staff_role.get() == guild_id.get() {
        return Ok(Reply::text(
            "The staff role can't be @everyone: every member would be staff. Pick a role only staff have.",
        ));
    }
    let max_open = match options.integer("max_open") {
        None => None,
        Some(n @ 1..=10) => Some(n as u8),
        Some(_) => return Ok(Reply::text("`max_open` must be between 1 and 10.")),
    };
    let transcripts = options.boolean("transcripts");
    let ceiling = ctx
        .bot
        .transcripts
        .as_ref()
        .map(|t| t.retention_ceiling_days());
    if transcripts == Some(true) && ceiling.is_none() {
        return Ok(Reply::text(
            "Transcripts can't be turned on: this bot's operator hasn't configured a transcript \
             key (`transcripts.key`), which keeps transcripts encrypted. Ask them to set one; \
             nothing was changed.",
        ));
    }
    let transcript_days = match options.integer("transcript_days") {
        None => None,
        Some(days) => match ceiling {
            Some(ceiling) if (1..=i64::from(ceiling)).contains(&days) => Some(days as u32),
            Some(ceiling) => {
                return Ok(Reply::text(format!(
                    "`transcript_days` must be between 1 and {ceiling} (this bot's limit); nothing was changed."
                )))
            }
            None => {
                return Ok(Reply::text(
                    "This bot keeps no transcripts (its operator hasn't configured a transcript key), so `transcript_days` has nothing to set; nothing was changed.",
                ))
            }
        },
    };
    let category = options.channel("category");
    let log_channel = options.channel("log_channel");
    for (name, channel, kind) in [
        ("category", category, ChannelType::Category),
        ("log_channel", log_channel, ChannelType::Text),
    ] {
        if let Some(channel) = channel {
            if let Some(problem) = check_channel(ctx, data, channel, kind).await {
                return Ok(Reply::text(format!("`{name}`: {problem}")));
            }
        }
    }
    let update = SettingsUpdate {
        staff_role_id: staff_role.get(),
        category_id: category.map(ChannelId::get),
        log_channel_id: log_channel.map(ChannelId::get),
        max_open,
        transcripts,
        transcript_dm: options.boolean("transcript_dm"),
        transcript_retention_days: transcript_days,
        open_cooldown_secs: match options.integer("open_cooldown") {
            None => None,
            Some(n @ 0..=86_400) => Some(n as u32),
            Some(_) => {
                return Ok(Reply::text(
                    "`open_cooldown` must be between 0 and 86400 seconds; nothing was changed.",
                ))
            }
        },
        max_open_total: match options.integer("max_open_total") {
            None => None,
            Some(n @ 1..=10_000) => Some(n as u32),
            Some(_) => {
                return Ok(Reply::text(
                    "`max_open_total` must be between 1 and 10000; nothing was changed.",
                ))
            }
        },
    };
    let settings = ctx
        .bot
        .store
        .save_settings(guild_id.get(), &update)
        .await
        .doing("saving the settings")?;
    let ceiling = ctx
        .bot
        .transcripts
        .as_ref()
        .map(|t| t.retention_ceiling_days());
    Ok(Reply::text(describe(&settings, ceiling)))
}

/// Checks a channel option has the right type, from the interaction's resolved data or Discord.
async fn check_channel(
    ctx: &Ctx<'_>,
    data: &CommandData,
    channel: ChannelId,
    expected: ChannelType,
) -> Option<String> {
    let kind = match data.resolved.channels.get(&channel) {
        Some(partial) => partial.kind,
        None => match ctx.bot.cache.channel(ctx.http, ctx.guild_id, channel).await {
            Ok(Some(found)) => found.kind,
            Ok(None) => return Some("that channel isn't in this server.".into()),
            Err(err) => {
                return Some(format!(
                    "I couldn't look that channel up. {}",
                    generic_advice(classify(&err))
                ))
            }
        },
    };
    (kind != expected).then(|| match expected {
        ChannelType::Category => "pick a category, not a channel.".to_owned(),
        _ => "pick a text channel.".to_owned(),
    })
}

fn describe(s: &GuildSettings, ceiling: Option<u32>) -> String {
    let or_none =
        |c: Option<u64>, none: &str| c.map_or_else(|| none.to_owned(), |c| format!("<#{c}>"));
    let transcripts = match (s.transcripts, ceiling) {
        (true, Some(ceiling)) => format!(
            "on: each closed ticket's messages, with their authors and files, are kept encrypted for {} days and posted to the log channel{}",
            s.transcript_retention_days.unwrap_or(ceiling).min(ceiling),
            if s.transcript_dm { ", and sent to the ticket's opener by DM" } else { "" }
        ),
        (true, None) => "on, but this bot has no transcript key, so none are kept".to_owned(),
        (false, _) => "off (no message text is stored)".to_owned(),
    };
    format!(
        "✅ Tickets are set up.\n\
         • Staff role: <@&{}>\n\
         • Ticket category: {}\n\
         • Log channel: {}\n\
         • Open tickets per member: {}\n\
         • Open cooldown per member: {}\n\
         • Open tickets in the whole server: {}\n\
         • Transcripts: {}\n\
         Post a panel with `/panel`, or members can use `/open`.",
        s.staff_role_id,
        or_none(
            s.category_id,
            "none (tickets are created at the top of the channel list)"
        ),
        or_none(s.log_channel_id, "none"),
        s.max_open,
        s.open_cooldown_secs
            .map_or_else(|| "the bot's default".to_owned(), |n| format!("{n} s")),
        s.max_open_total
            .map_or_else(|| "no limit".to_owned(), |n| format!("at most {n}")),
        transcripts
    )
}
