//! `/add user` and `/remove user`.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};

use super::{missing_option, Ctx, Here, Options, Result};
use crate::discord::failure::generic_advice;
use crate::discord::reply::Reply;
use crate::tickets::members::MemberChange;
use crate::tickets::DiscordFailure;

/// What this command needs before it runs: used in an open ticket; the ticket service checks for staff.
pub(super) const NEEDS: super::Needs = super::Needs::Ticket;

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
pub async fn run_add(ctx: &Ctx<'_>, options: &Options<'_>, here: &Here) -> Result<Reply> {
    let Some(user) = options.user("user") else {
        return Ok(missing_option("user"));
    };
    let change = ctx
        .tickets()
        .add_member(&ctx.caller, &here.ticket, &here.settings, user.get())
        .await?;
    Ok(Reply::text(match change {
        MemberChange::Done => format!("<@{user}> can now see this ticket."),
        MemberChange::NotStaff => "Only staff can add people to a ticket.".into(),
        MemberChange::IsTheBot => "Tessera is already in every ticket it manages.".into(),
        other => common(other, "add"),
    }))
}

/// Runs `/remove`.
pub async fn run_remove(ctx: &Ctx<'_>, options: &Options<'_>, here: &Here) -> Result<Reply> {
    let Some(user) = options.user("user") else {
        return Ok(missing_option("user"));
    };
    let change = ctx
        .tickets()
        .remove_member(&ctx.caller, &here.ticket, &here.settings, user.get())
        .await?;
    Ok(Reply::text(match change {
        MemberChange::Done => format!("<@{user}> can no longer see this ticket."),
        MemberChange::NotStaff => "Only staff can remove people from a ticket.".into(),
        MemberChange::IsTheBot => {
            "Tessera can't be removed from a ticket: it needs access to close it. \
             Close the ticket instead."
                .into()
        }
        MemberChange::IsTheOpener => "That's the person who opened this ticket. \
             Close the ticket instead of removing them."
            .into(),
        other => common(other, "remove"),
    }))
}

fn common(change: MemberChange, verb: &str) -> String {
    match change {
        MemberChange::Refused(DiscordFailure::MissingPermissions) => format!(
            "I couldn't {verb} them: Tessera needs **Manage Roles** (Manage Permissions) on this channel. \
             Ask an admin to grant it."
        ),
        MemberChange::Refused(other) => {
            format!("I couldn't {verb} them. {}", generic_advice(other))
        }
        _ => "This ticket has no channel yet; try again in a moment.".into(),
    }
}
