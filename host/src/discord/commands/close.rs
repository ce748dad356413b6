//! `/close [reason]` and a ticket's Close button with its confirm step.

use serenity::builder::{CreateActionRow, CreateButton, CreateCommand, CreateCommandOption};
use serenity::model::application::{ButtonStyle, CommandOptionType, InteractionContext};
use serenity::model::id::{ChannelId, GuildId};

use super::{Ctx, Here, Options, Result};
use crate::discord::action::Action;
use crate::discord::failure::generic_advice;
use crate::discord::reply::{AfterReply, Reply};
use crate::discord::rest::number;
use crate::tickets::close::CloseOutcome;
use crate::tickets::{DiscordFailure, DiscordPort, PluginPort, Tickets};

/// What this command needs before it runs: used in an open ticket; the ticket service decides who may close it.
pub(super) const NEEDS: super::Needs = super::Needs::Ticket;

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

const CLOSE_DENIED: &str = "Only the person who opened this ticket, or staff, can close it.";

/// Closes the ticket at once: typing the command is the confirmation.
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>, here: &Here) -> Result<Reply> {
    let reason: Option<String> = options
        .string("reason")
        .map(|r| r.chars().take(500).collect());
    close(ctx, here, reason.as_deref()).await
}

/// The Close button: asks for confirmation.
pub fn confirm(ctx: &Ctx<'_>, here: &Here) -> Reply {
    if !ctx.caller.may_close(&here.ticket, &here.settings) {
        return Reply::text(CLOSE_DENIED);
    }
    Reply::text(format!(
        "Close ticket {}? The channel will be deleted.",
        number(here.ticket.number)
    ))
    .with_components(vec![CreateActionRow::Buttons(vec![
        CreateButton::new(
            Action::CloseConfirm {
                ticket_id: here.ticket.id,
            }
            .custom_id(),
        )
        .label("Close ticket")
        .style(ButtonStyle::Danger),
        CreateButton::new(Action::CloseCancel.custom_id())
            .label("Cancel")
            .style(ButtonStyle::Secondary),
    ])])
}

/// Closes the ticket; its channel is deleted once the closer has read the answer.
pub async fn close(ctx: &Ctx<'_>, here: &Here, reason: Option<&str>) -> Result<Reply> {
    let outcome = ctx
        .tickets()
        .close(&ctx.caller, &here.ticket, &here.settings, reason)
        .await?;
    Ok(match outcome {
        CloseOutcome::NotAllowed => Reply::text(CLOSE_DENIED),
        CloseOutcome::AlreadyClosed => Reply::text("This ticket is already closed."),
        CloseOutcome::Closed(closed) => {
            let reply = Reply::text(format!(
                "Ticket {} is closed. This channel will now be deleted.",
                number(closed.number)
            ));
            match closed.channel_id {
                Some(channel) => reply.then(AfterReply::DeleteChannel {
                    guild_id: GuildId::new(closed.guild_id),
                    channel_id: ChannelId::new(channel),
                }),
                None => reply,
            }
        }
    })
}

/// Deletes a closed ticket's channel; the advice for the closer if Discord refused.
pub async fn delete_closed_channel<D: DiscordPort, P: PluginPort>(
    tickets: &Tickets<'_, D, P>,
    guild_id: GuildId,
    channel_id: ChannelId,
) -> Option<String> {
    match tickets
        .delete_channel(guild_id.get(), channel_id.get())
        .await
    {
        Ok(()) => None,
        Err(DiscordFailure::MissingPermissions) => Some(
            "The ticket is closed and recorded, but Tessera isn't allowed to delete this channel: \
             it needs **Manage Channels**. An admin can delete the channel by hand."
                .to_owned(),
        ),
        Err(other) => Some(format!(
            "The ticket is closed and recorded, but deleting this channel failed. {}",
            generic_advice(other)
        )),
    }
}
