//! `/panel`: posts a message with an "Open ticket" button.

use serenity::builder::{
    CreateActionRow, CreateButton, CreateCommand, CreateCommandOption, CreateEmbed, CreateMessage,
};
use serenity::model::application::{ButtonStyle, CommandOptionType, InteractionContext};
use serenity::model::permissions::Permissions;

use super::{Ctx, Options, Result};
use crate::discord::action::Action;
use crate::discord::failure::{classify, generic_advice};
use crate::discord::reply::Reply;
use crate::discord::text::no_pings;
use crate::tickets::{DiscordFailure, Doing};

/// What this command needs before it runs: admins only.
pub(super) const NEEDS: super::Needs = super::Needs::Manager;

const DEFAULT_TITLE: &str = "Need help?";
const DEFAULT_DESCRIPTION: &str =
    "Click the button below to open a private ticket with the staff team.";
const DEFAULT_LABEL: &str = "Open ticket";

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("panel")
        .description("Post a panel with an \"Open ticket\" button in this channel")
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "title", "Panel title")
                .max_length(256),
        )
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "description", "Panel text")
                .max_length(4000),
        )
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "button_label", "Button text")
                .max_length(80),
        )
}

/// Records and posts the panel.
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>) -> Result<Reply> {
    let (bot, inv, guild_id) = (ctx.bot, ctx.inv, ctx.guild_id);
    if bot
        .store
        .guild_settings(guild_id.get())
        .await
        .doing("reading the server's settings")?
        .is_none()
    {
        return Ok(Reply::text(
            "Run `/setup` first: a panel's button needs to know who the staff are.",
        ));
    }
    let title = options.string("title").unwrap_or(DEFAULT_TITLE);
    let description = options.string("description").unwrap_or(DEFAULT_DESCRIPTION);
    let label = options.string("button_label").unwrap_or(DEFAULT_LABEL);
    let panel_id = bot
        .store
        .create_panel(
            guild_id.get(),
            inv.channel_id.get(),
            title,
            description,
            label,
            inv.user.id.get(),
        )
        .await
        .doing("recording the panel")?;
    let message = CreateMessage::new()
        .embed(CreateEmbed::new().title(title).description(description))
        .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
            Action::OpenFromPanel { panel_id }.custom_id(),
        )
        .label(label)
        .style(ButtonStyle::Primary)])])
        .allowed_mentions(no_pings());
    match inv.channel_id.send_message(ctx.http, message).await {
        Ok(posted) => {
            bot.store
                .set_panel_message(panel_id, posted.id.get())
                .await
                .doing("recording the panel's message")?;
            Ok(Reply::text(
                "Panel posted. Members can now open tickets with its button.",
            ))
        }
        Err(err) => {
            bot.store
                .delete_panel(panel_id)
                .await
                .doing("removing a panel that was not posted")?;
            let failure = classify(&err);
            tracing::warn!(error = %err, ?failure, "posting a panel failed");
            Ok(Reply::text(match failure {
                DiscordFailure::MissingPermissions => format!(
                    "I couldn't post the panel here: Tessera needs **View Channel**, **Send Messages** and \
                     **Embed Links** in <#{}>.",
                    inv.channel_id
                ),
                other => format!("I couldn't post the panel. {}", generic_advice(other)),
            }))
        }
    }
}
