//! `/claim`, `/unclaim` and a ticket's Claim button.

use serenity::builder::CreateCommand;
use serenity::model::application::InteractionContext;

use super::{Ctx, Here, Result};
use crate::discord::reply::Reply;
use crate::discord::rest::number;
use crate::tickets::claim::{Claimed, Released};

/// What this command needs before it runs: used in an open ticket; the ticket service checks for staff.
pub(super) const NEEDS: super::Needs = super::Needs::Ticket;

/// `/claim`.
pub fn register_claim() -> CreateCommand {
    CreateCommand::new("claim")
        .description("Claim this ticket (staff)")
        .contexts(vec![InteractionContext::Guild])
}

/// `/unclaim`.
pub fn register_unclaim() -> CreateCommand {
    CreateCommand::new("unclaim")
        .description("Release your claim on this ticket (staff)")
        .contexts(vec![InteractionContext::Guild])
}

/// Claims the ticket for the caller.
pub async fn claim(ctx: &Ctx<'_>, here: &Here) -> Result<Reply> {
    let outcome = ctx
        .tickets()
        .claim(&ctx.caller, &here.ticket, &here.settings)
        .await?;
    Ok(Reply::text(match outcome {
        Claimed::Claimed => format!("You claimed ticket {}.", number(here.ticket.number)),
        Claimed::AlreadyYours => "You have already claimed this ticket.".into(),
        Claimed::HeldBy(holder) => format!(
            "This ticket is already claimed by <@{holder}>. They (or an admin) can `/unclaim` it first."
        ),
        Claimed::NotOpen => "This ticket is no longer open.".into(),
        Claimed::NotStaff => "Only staff can claim tickets.".into(),
    }))
}

/// Releases the claim.
pub async fn unclaim(ctx: &Ctx<'_>, here: &Here) -> Result<Reply> {
    let outcome = ctx
        .tickets()
        .unclaim(&ctx.caller, &here.ticket, &here.settings)
        .await?;
    Ok(Reply::text(match outcome {
        Released::Released => format!(
            "Ticket {} is no longer claimed.",
            number(here.ticket.number)
        ),
        Released::NotClaimed => "This ticket isn't claimed.".into(),
        Released::HeldBy(holder) => {
            format!("This ticket is claimed by <@{holder}>; only they or an admin can unclaim it.")
        }
        Released::NotStaff => "Only staff can unclaim tickets.".into(),
    }))
}
