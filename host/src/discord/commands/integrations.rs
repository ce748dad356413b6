//! `/integrations list|enable|disable|config|upload`: the plugins a server's admins turn on,
//! and their own plugins, which only their server sees.
//!
//! Enabling shows exactly what will be shared and with which hosts, asks for confirmation, and
//! then collects the plugin's settings and secrets in a form (a Discord modal). Secrets are
//! sealed before they are stored and never shown back.
//!
//! # Layout
//!
//! - this file — the command's definition and its subcommand dispatch (its buttons and form are
//!   [`crate::discord::action::Action`]s).
//! - [`list`] — `/integrations list`.
//! - [`enable`] — the enable prompt and its Enable button, and `/integrations disable`.
//! - [`pending`] — the enable prompt an admin was shown, kept for their click.
//! - [`form`] — the settings form (shown first for config, after Enable for enable) and its
//!   submission.
//! - [`save`] — checking and storing submitted settings.
//! - [`upload`] — `/integrations upload` and its Add/Discard buttons.

mod enable;
mod form;
mod list;
mod pending;
mod save;
mod upload;

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandData, CommandOptionType, InteractionContext};
use serenity::model::id::GuildId;
use serenity::model::permissions::Permissions;

use super::{missing_option, Options};
use crate::bot::Bot;
use crate::discord::invocation::Invocation;
use crate::discord::reply::Reply;
use crate::integrations::Available;

pub use enable::confirm_enable;
pub use form::{modal_first, submitted};
pub use upload::confirm_upload;

/// What this command needs before it runs: admins only; its buttons and form too (see `Action::needs`).
pub(super) const NEEDS: super::Needs = super::Needs::Manager;

/// The command definition. `name` is typed, not chosen: servers' own uploads differ per server.
pub fn register(_bot: &Bot) -> CreateCommand {
    let name = || {
        CreateCommandOption::new(
            CommandOptionType::String,
            "name",
            "The integration's id (see /integrations list)",
        )
        .required(true)
        .max_length(32)
    };
    let sub = |n: &str, d: &str| CreateCommandOption::new(CommandOptionType::SubCommand, n, d);
    CreateCommand::new("integrations")
        .description("Manage the integrations that receive ticket openers' user IDs")
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .contexts(vec![InteractionContext::Guild])
        .add_option(sub(
            "list",
            "Show the available integrations and what each does with data",
        ))
        .add_option(
            sub(
                "enable",
                "Turn an integration on (shows what it receives first)",
            )
            .add_sub_option(name()),
        )
        .add_option(sub("disable", "Turn an integration off").add_sub_option(name()))
        .add_option(sub("config", "Change an integration's settings").add_sub_option(name()))
        .add_option(
            sub(
                "upload",
                "Add your own integration (a .wasm plugin) to this server only",
            )
            .add_sub_option(
                CreateCommandOption::new(
                    CommandOptionType::Attachment,
                    "file",
                    "The plugin's .wasm file (a wasm32-wasip2 component built with plugin-sdk)",
                )
                .required(true),
            ),
        )
}

/// The answer for a plugin id this server cannot see.
fn unknown(name: &str) -> Reply {
    Reply::text(format!(
        "No integration called `{}` is installed on this bot. `/integrations list` shows those available.",
        name.chars().take(32).collect::<String>()
    ))
}

/// Runs the chosen subcommand (after the interaction was deferred).
#[tracing::instrument(skip_all, fields(guild_id = %guild_id, plugin))]
pub async fn run(
    bot: &Bot,
    inv: &Invocation<'_>,
    guild_id: GuildId,
    options: &Options<'_>,
    data: &CommandData,
) -> anyhow::Result<Reply> {
    let g = guild_id.get();
    // An upload added through another process must be visible here too.
    bot.integrations.sync_uploads(&bot.store, g).await;
    let Some((sub, sub_options)) = options.subcommand() else {
        return Ok(missing_option("subcommand"));
    };
    if sub == "list" {
        return list::list(bot, g).await;
    }
    if sub == "upload" {
        let Some(attachment) = sub_options
            .attachment("file")
            .and_then(|id| data.resolved.attachments.get(&id))
        else {
            return Ok(missing_option("file"));
        };
        return upload::upload(bot, inv, g, attachment).await;
    }
    let Some(name) = sub_options.string("name") else {
        return Ok(missing_option("name"));
    };
    tracing::Span::current().record("plugin", name);
    let Some(available) = bot.integrations.get(g, name) else {
        return Ok(unknown(name));
    };
    let available = &available;
    match sub {
        "enable" => enable::prompt(bot, inv, g, available).await,
        "disable" => enable::disable(bot, inv, g, available).await,
        // Reached only when the form could not be shown first (see `modal_first`).
        _ if form::fields(available).is_empty() => Ok(Reply::text(format!(
            "**{}** has no settings to change.",
            available.manifest().name
        ))),
        _ => Ok(not_enabled_yet(available)),
    }
}

/// The answer for settings of a plugin the server has not enabled.
fn not_enabled_yet(available: &Available) -> Reply {
    let m = available.manifest();
    Reply::text(format!(
        "**{}** is not enabled in this server yet: use `/integrations enable {}` first.",
        m.name, m.id
    ))
}

/// The plugin a slash command's form is for, if it is `/integrations config NAME`.
pub fn config_target(data: &CommandData) -> Option<String> {
    if data.name != "integrations" {
        return None;
    }
    let options = Options::new(&data.options);
    match options.subcommand() {
        Some(("config", sub)) => sub.string("name").map(str::to_owned),
        _ => None,
    }
}

/// The plugin `plugin_id` as this server sees it, its uploads brought up to date first (one
/// may have been added through another process). `Err` is the answer when there is none.
async fn visible(bot: &Bot, guild_id: u64, plugin_id: &str) -> Result<Available, Reply> {
    bot.integrations.sync_uploads(&bot.store, guild_id).await;
    bot.integrations
        .get(guild_id, plugin_id)
        .ok_or_else(|| unknown(plugin_id))
}
