//! `/open [subject]` and a panel's "Open ticket" button, and the words for every way opening ends.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};

use super::{Ctx, Options, Result};
use crate::discord::failure::generic_advice;
use crate::discord::reply::Reply;
use crate::tickets::open::{OpenOutcome, OpenRefused, Origin};
use crate::tickets::DiscordFailure;

/// What this command needs before it runs: anyone in a server; the ticket service applies the blacklist and limits.
pub(super) const NEEDS: super::Needs = super::Needs::Server;

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("open")
        .description("Open a private ticket with the staff")
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::String,
                "subject",
                "What the ticket is about",
            )
            .max_length(100),
        )
}

/// Opens a ticket without a panel.
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>) -> Result<Reply> {
    let subject = options
        .string("subject")
        .map(|s| s.chars().take(100).collect());
    open(ctx, Origin::Direct, subject).await
}

/// Opens a ticket from a panel's button.
pub async fn from_panel(ctx: &Ctx<'_>, panel_id: i64) -> Result<Reply> {
    open(ctx, Origin::Panel(panel_id), None).await
}

async fn open(ctx: &Ctx<'_>, origin: Origin, subject: Option<String>) -> Result<Reply> {
    let outcome = ctx.tickets().open(&ctx.caller, origin, subject).await?;
    Ok(Reply::text(match outcome {
        OpenOutcome::Opened { channel_id, .. } => format!("Your ticket is open: <#{channel_id}>"),
        OpenOutcome::Refused(why) => refused(why),
    }))
}

fn refused(why: OpenRefused) -> String {
    match why {
        OpenRefused::NotSetUp => {
            "Tickets aren't set up in this server yet. An admin needs to run `/setup` first.".into()
        }
        OpenRefused::Blacklisted => {
            "You can't open tickets in this server: the staff have blocked you from doing so."
                .into()
        }
        OpenRefused::LimitReached {
            open_channel,
            max_open,
        } => {
            let place = match open_channel {
                Some(ch) => format!("<#{ch}>"),
                None => "one that is still being created".to_owned(),
            };
            let (count, plural) = if max_open == 1 {
                ("an", "")
            } else {
                ("the maximum of", "s")
            };
            format!(
                "You already have {count} open ticket{plural} here (the limit is {max_open}): {place}. \
                 Please use it, or close it before opening a new one."
            )
        }
        OpenRefused::Cooldown { retry_at_ms } => format!(
            "You opened a ticket here a moment ago. You can open another <t:{}:R>.",
            (retry_at_ms + 999) / 1000
        ),
        OpenRefused::ServerFull { max_open_total } => format!(
            "This server already has {max_open_total} open tickets, as many as its staff allow at once. \
             Please try again later, when some are closed."
        ),
        OpenRefused::ChannelRefused {
            failure,
            category_id,
        } => channel_refused(failure, category_id),
        OpenRefused::WelcomeRefused(DiscordFailure::MissingPermissions) => {
            "Tessera created the ticket channel but wasn't allowed to post in it, so it removed it again. \
             An admin should give Tessera **View Channel** and **Send Messages** in the ticket category."
                .into()
        }
        OpenRefused::WelcomeRefused(other) => generic_advice(other).into(),
        OpenRefused::SwitchedOff => {
            "Tickets were switched off in this server while yours was being created. \
             Ask an admin to run `/setup` again."
                .into()
        }
    }
}

fn channel_refused(failure: DiscordFailure, category_id: Option<u64>) -> String {
    let place = category_id
        .map(|c| format!(" in <#{c}>"))
        .unwrap_or_default();
    match failure {
        DiscordFailure::MissingPermissions => format!(
            "I couldn't create your ticket: Tessera needs **Manage Channels** and **Manage Roles**{place}, \
             and every permission it gives ticket members (View Channel, Send Messages, Read Message History, \
             Attach Files, Manage Messages). Ask an admin to grant them to Tessera's role, then try again."
        ),
        DiscordFailure::Other if category_id.is_some() => {
            "I couldn't create your ticket: Discord refused the new channel. The ticket category may be full \
             (a category holds at most 50 channels); ask an admin to close old tickets or pick another category."
                .to_owned()
        }
        DiscordFailure::NotFound if category_id.is_some() => {
            "I couldn't create your ticket: the ticket category set with `/setup` no longer exists. \
             Ask an admin to run `/setup` again."
                .to_owned()
        }
        other => format!("I couldn't create your ticket. {}", generic_advice(other)),
    }
}
