//! Routes each interaction to its handler: acknowledges at once, runs the handler, answers.
//!
//! Every interaction is deferred (ephemeral) before any work, so Discord's 3-second deadline is
//! met however slow the database or Discord is; the handler's [`Reply`] then edits that answer.

use serenity::builder::{
    Builder, CreateAllowedMentions, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, CreateModal, EditInteractionResponse,
};
use serenity::http::Http;
use serenity::model::application::{ComponentInteraction, Interaction};

use crate::bot::Bot;
use crate::commands;
use crate::commands::integrations;
use crate::invocation::Invocation;
use crate::lifecycle;
use crate::reply::{internal_error, AfterReply, Reply};
use crate::store::TicketStatus;

/// The `custom_id`s of Tessera's buttons. They are part of posted messages, so they must stay stable.
pub mod ids {
    /// A panel's "Open ticket" button: `tessera:open:<panel id>`.
    pub const OPEN_PREFIX: &str = "tessera:open:";
    /// A ticket's Close button.
    pub const CLOSE: &str = "tessera:close";
    /// The confirm step of Close: `tessera:close:confirm:<ticket id>`.
    pub const CLOSE_CONFIRM_PREFIX: &str = "tessera:close:confirm:";
    /// The cancel button of the confirm step.
    pub const CLOSE_CANCEL: &str = "tessera:close:cancel";
    /// A ticket's Claim button.
    pub const CLAIM: &str = "tessera:claim";
}

/// Handles one interaction from the gateway.
pub async fn handle(bot: &Bot, http: &Http, interaction: Interaction) {
    match &interaction {
        Interaction::Command(command) => {
            let inv = Invocation::command(command);
            if let Some(plugin) = integrations::config_target(&command.data) {
                if let Some(form) = integrations::modal_first(bot, &inv, &plugin, "config").await {
                    show_form(http, &inv, form).await;
                    return;
                }
            }
            if !acknowledge(http, &inv).await {
                return;
            }
            let reply = match commands::run(bot, http, &inv, &command.data).await {
                Ok(reply) => reply,
                Err(err) => failed(&inv, &err),
            };
            finish(bot, http, &inv, reply).await;
        }
        Interaction::Component(component) => {
            let inv = Invocation::component(component);
            if let Some(plugin) = component
                .data
                .custom_id
                .strip_prefix(integrations::ids::ENABLE_PREFIX)
            {
                if let Some(form) = integrations::modal_first(bot, &inv, plugin, "enable").await {
                    show_form(http, &inv, form).await;
                    return;
                }
            }
            if !acknowledge(http, &inv).await {
                return;
            }
            let reply = match button(bot, http, &inv, component).await {
                Ok(reply) => reply,
                Err(err) => failed(&inv, &err),
            };
            finish(bot, http, &inv, reply).await;
        }
        Interaction::Modal(modal) => {
            let inv = Invocation::modal(modal);
            if !acknowledge(http, &inv).await {
                return;
            }
            let reply = match integrations::submitted(bot, &inv, modal).await {
                Ok(reply) => reply,
                Err(err) => failed(&inv, &err),
            };
            finish(bot, http, &inv, reply).await;
        }
        other => {
            tracing::debug!(kind = ?other.kind(), "ignoring an interaction kind Tessera does not use");
        }
    }
}

fn failed(inv: &Invocation<'_>, err: &anyhow::Error) -> Reply {
    tracing::error!(interaction_id = %inv.id, error = ?err, "interaction handler failed");
    internal_error(inv.id)
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

async fn finish(bot: &Bot, http: &Http, inv: &Invocation<'_>, reply: Reply) {
    let edit = EditInteractionResponse::new()
        .content(reply.content)
        .components(reply.components)
        .allowed_mentions(CreateAllowedMentions::new());
    if let Err(err) = edit.execute(http, inv.token).await {
        tracing::warn!(interaction_id = %inv.id, error = %err, "could not answer an interaction");
    }
    match reply.then {
        None => {}
        Some(AfterReply::DeleteChannel {
            guild_id,
            channel_id,
        }) => {
            if let Some(advice) =
                lifecycle::delete_ticket_channel(bot, http, guild_id, channel_id).await
            {
                let followup = CreateInteractionResponseFollowup::new()
                    .content(advice)
                    .ephemeral(true)
                    .allowed_mentions(CreateAllowedMentions::new());
                if let Err(err) = followup.execute(http, (None, inv.token)).await {
                    tracing::warn!(interaction_id = %inv.id, error = %err, "could not send a follow-up");
                }
            }
        }
    }
}

/// The answer to an interaction from a DM.
pub const OUTSIDE_SERVER: &str =
    "Tessera works inside servers. Use this in a server where Tessera is set up.";
const UNKNOWN_BUTTON: &str =
    "I don't recognise this button; it may belong to an older version of Tessera. \
     Ask the staff to post a new panel.";

async fn button(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    component: &ComponentInteraction,
) -> anyhow::Result<Reply> {
    let Some(guild_id) = inv.guild_id else {
        return Ok(Reply::text(OUTSIDE_SERVER));
    };
    let id = component.data.custom_id.as_str();
    if let Some(panel) = id.strip_prefix(ids::OPEN_PREFIX) {
        let Ok(panel_id) = panel.parse::<i64>() else {
            return Ok(Reply::text(UNKNOWN_BUTTON));
        };
        // A panel whose row is gone still opens tickets: its button is the admins' promise.
        let panel_id = bot
            .store
            .panel_exists(guild_id.get(), panel_id)
            .await?
            .then_some(panel_id);
        return lifecycle::open(bot, http, inv, guild_id, panel_id, None).await;
    }
    if let Some(plugin) = id.strip_prefix(integrations::ids::ENABLE_PREFIX) {
        return integrations::confirm_enable(bot, inv, plugin).await;
    }
    if let Some(sha) = id.strip_prefix(integrations::ids::UPLOAD_PREFIX) {
        return integrations::confirm_upload(bot, inv, sha, true).await;
    }
    if let Some(sha) = id.strip_prefix(integrations::ids::DISCARD_PREFIX) {
        return integrations::confirm_upload(bot, inv, sha, false).await;
    }
    if id == integrations::ids::CANCEL {
        return Ok(Reply::text("Okay, nothing was enabled."));
    }
    if id == ids::CLOSE_CANCEL {
        return Ok(Reply::text("Okay, the ticket stays open."));
    }
    const GONE: &str = "This ticket no longer exists or is already closed.";
    if let Some(ticket_id) = id.strip_prefix(ids::CLOSE_CONFIRM_PREFIX) {
        let Ok(ticket_id) = ticket_id.parse::<i64>() else {
            return Ok(Reply::text(UNKNOWN_BUTTON));
        };
        let Some(ticket) = bot.store.ticket(ticket_id).await? else {
            return Ok(Reply::text(GONE));
        };
        if ticket.guild_id != guild_id.get() || ticket.status != TicketStatus::Open {
            return Ok(Reply::text(GONE));
        }
        let Some(settings) = bot.store.guild_settings(ticket.guild_id).await? else {
            return Ok(Reply::text(GONE));
        };
        return lifecycle::close(bot, http, inv, &ticket, &settings, None).await;
    }
    if id == ids::CLOSE || id == ids::CLAIM {
        let (ticket, settings) = match lifecycle::ticket_here(bot, inv).await? {
            Ok(found) => found,
            Err(_) => return Ok(Reply::text(GONE)),
        };
        return if id == ids::CLOSE {
            Ok(lifecycle::confirm_close(inv, &ticket, &settings))
        } else {
            lifecycle::claim(bot, http, inv, &ticket, &settings).await
        };
    }
    Ok(Reply::text(UNKNOWN_BUTTON))
}
