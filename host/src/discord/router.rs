//! Routes each interaction: acknowledges at once, dispatches it, answers. Nothing else.
//!
//! Every interaction is deferred (ephemeral) before any work, so Discord's 3-second deadline is
//! met however slow the database or Discord is; the handler's [`Reply`] then edits that answer.
//! The one exception is a settings form, which must be the interaction's first answer. Each
//! command used in a server is counted for the server's statistics.

use serenity::builder::{
    Builder, CreateAttachment, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateModal, EditInteractionResponse,
};
use serenity::http::Http;
use serenity::model::application::Interaction;

use super::action::{Action, FormMode};
use super::commands::{self, integrations};
use super::invocation::Invocation;
use super::reply::{internal_error, AfterReply, Reply};
use super::rest::Rest;
use super::text::no_pings;
use crate::bot::Bot;
use crate::tickets::Tickets;

/// Handles one interaction from the gateway.
#[tracing::instrument(skip_all, fields(interaction_id = %interaction.id(), kind = ?interaction.kind()))]
pub async fn handle(bot: &Bot, http: &Http, interaction: Interaction) {
    // Work for a server is tracked until it ends, so that leaving the server waits for it; a
    // server the bot is leaving gets no new work.
    let guild_id = match &interaction {
        Interaction::Command(i) | Interaction::Autocomplete(i) => i.guild_id,
        Interaction::Component(i) => i.guild_id,
        Interaction::Modal(i) => i.guild_id,
        _ => None,
    };
    let _working = match guild_id {
        Some(g) => match bot.guild_work.enter(g.get()) {
            Some(working) => Some(working),
            None => return,
        },
        None => None,
    };
    match &interaction {
        Interaction::Command(command) => {
            let inv = Invocation::command(command);
            let counted = commands::counted_as(&command.data.name);
            if let Some(plugin) = integrations::config_target(&command.data) {
                if let Some(form) =
                    integrations::modal_first(bot, &inv, &plugin, FormMode::Config).await
                {
                    show_form(http, &inv, form).await;
                    return count(bot, &inv, counted).await;
                }
            }
            if acknowledge(http, &inv).await {
                count(bot, &inv, counted).await;
                let reply = commands::run(bot, http, &inv, &command.data).await;
                finish(bot, http, &inv, reply).await;
            }
        }
        Interaction::Component(component) => {
            let inv = Invocation::component(component);
            let action = Action::parse(&component.data.custom_id);
            if let Some(Action::IntegrationEnable { plugin }) = &action {
                if let Some(form) =
                    integrations::modal_first(bot, &inv, plugin, FormMode::Enable).await
                {
                    return show_form(http, &inv, form).await;
                }
            }
            if acknowledge(http, &inv).await {
                count(bot, &inv, action.as_ref().and_then(Action::counted_as)).await;
                let reply = commands::press(bot, http, &inv, action).await;
                finish(bot, http, &inv, reply).await;
            }
        }
        Interaction::Modal(modal) => {
            let inv = Invocation::modal(modal);
            if acknowledge(http, &inv).await {
                let reply = commands::submit(bot, http, &inv, modal).await;
                finish(bot, http, &inv, reply).await;
            }
        }
        other => {
            tracing::debug!(kind = ?other.kind(), "ignoring an interaction kind Tessera does not use");
        }
    }
}

/// Counts a command used in a server for its statistics (PRIVACY.md #13: the command's name and
/// the day, nothing about who used it). After the acknowledgement, so Discord's deadline never
/// waits for it, and before the command runs, so its answer already includes it.
async fn count(bot: &Bot, inv: &Invocation<'_>, command: Option<&'static str>) {
    if let (Some(guild_id), Some(command)) = (inv.guild_id, command) {
        crate::stats::command_used(&bot.store, guild_id.get(), command, crate::store::now_ms())
            .await;
    }
}

/// Answers with a form (a modal must be an interaction's first answer).
async fn show_form(http: &Http, inv: &Invocation<'_>, form: CreateModal) {
    if let Err(err) = CreateInteractionResponse::Modal(form)
        .execute(http, (inv.id, inv.token))
        .await
    {
        tracing::warn!(interaction_id = %inv.id, error = %err, "could not show a form");
    }
}

/// Defers the answer (ephemeral). `false` if Discord would not take it: nothing more can be sent.
async fn acknowledge(http: &Http, inv: &Invocation<'_>) -> bool {
    let defer =
        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true));
    match defer.execute(http, (inv.id, inv.token)).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(interaction_id = %inv.id, error = %err, "could not acknowledge an interaction");
            false
        }
    }
}

/// Edits the deferred answer into the reply, then does what had to wait for it.
async fn finish(bot: &Bot, http: &Http, inv: &Invocation<'_>, reply: anyhow::Result<Reply>) {
    let reply = reply.unwrap_or_else(|err| {
        // The member gets a reference; the details stay in the log.
        tracing::error!(interaction_id = %inv.id, error = ?err, "interaction handler failed");
        internal_error(inv.id)
    });
    let mut edit = EditInteractionResponse::new()
        .content(reply.content)
        .components(reply.components)
        .allowed_mentions(no_pings());
    for file in reply.files {
        edit = edit.new_attachment(CreateAttachment::bytes(file.bytes, file.name));
    }
    if let Err(err) = edit.execute(http, inv.token).await {
        tracing::warn!(interaction_id = %inv.id, error = %err, "could not answer an interaction");
    }
    match reply.then {
        None => {}
        Some(AfterReply::DeleteChannel {
            guild_id,
            channel_id,
        }) => {
            let bot_id = bot.me(inv.application_id);
            let rest = Rest::new(http, &bot.cache, &bot.cdn, bot_id);
            let tickets = Tickets::new(&bot.store, &rest, &*bot.integrations, bot_id.get());
            if let Some(advice) =
                commands::delete_closed_channel(&tickets, guild_id, channel_id).await
            {
                let followup = CreateInteractionResponseFollowup::new()
                    .content(advice)
                    .ephemeral(true)
                    .allowed_mentions(no_pings());
                if let Err(err) = followup.execute(http, (None, inv.token)).await {
                    tracing::warn!(interaction_id = %inv.id, error = %err, "could not send a follow-up");
                }
            }
        }
    }
}
