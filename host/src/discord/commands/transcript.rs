//! `/transcript number`: staff fetch a closed ticket's stored transcript again, as the HTML file.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};

use super::{missing_option, Ctx, Options, Result};
use crate::discord::reply::Reply;
use crate::discord::rest::number;
use crate::tickets::Doing;
use crate::transcripts::{LoadError, Transcripts};

/// What this command needs before it runs: a server; the staff check is below.
pub(super) const NEEDS: super::Needs = super::Needs::Server;

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("transcript")
        .description("Get a closed ticket's transcript (staff)")
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(CommandOptionType::Integer, "number", "The ticket's number")
                .min_int_value(1)
                .required(true),
        )
}

/// Answers with the transcript of ticket `number` of this server, to staff only.
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>) -> Result<Reply> {
    let Some(n) = options.integer("number") else {
        return Ok(missing_option("number"));
    };
    let g = ctx.guild_id.get();
    let store = &ctx.bot.store;
    let Some(settings) = store
        .guild_settings(g)
        .await
        .doing("reading the settings")?
    else {
        return Ok(Reply::text(
            "Tickets aren't set up here yet: an admin can run `/setup`.",
        ));
    };
    if !ctx.caller.is_staff(&settings) {
        return Ok(Reply::text("Only staff can read transcripts."));
    }
    let Some(transcripts) = ctx.bot.transcripts.as_deref() else {
        return Ok(Reply::text(
            "This bot keeps no transcripts: its operator hasn't configured a transcript key.",
        ));
    };
    let ticket = store
        .tickets_in_guild(g)
        .await
        .doing("finding the ticket")?
        .into_iter()
        .find(|t| t.number == n);
    let Some(ticket) = ticket else {
        return Ok(Reply::text(format!(
            "There is no ticket {} here.",
            number(n)
        )));
    };
    let none = || {
        Reply::text(format!(
            "Ticket {} has no stored transcript: it is still open, transcripts were off when it closed, or its transcript expired or was deleted.",
            number(n)
        ))
    };
    let (transcript, assets) = match transcripts.load(store, g, ticket.id).await {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(none()),
        Err(LoadError::Store(err)) => return Err(err).doing("reading the transcript"),
        Err(err) => {
            tracing::error!(error = %err, ticket_id = ticket.id, "a stored transcript does not open");
            return Ok(Reply::text(format!(
                "The stored transcript of ticket {} cannot be opened: {err}. It was not shown.",
                number(n)
            )));
        }
    };
    let html = Transcripts::render(&transcript, &assets).into_bytes();
    let limit = ctx.inv.attachment_size_limit as usize;
    if limit > 0 && html.len() > limit {
        return Ok(Reply::text(format!(
            "The transcript of ticket {} is {} bytes, more than Discord lets me attach here ({limit} bytes). It was posted to the log channel when the ticket closed.",
            number(n),
            html.len()
        )));
    }
    Ok(Reply::text(format!(
        "Transcript of ticket {} ({} messages). Open the file in a browser.",
        number(n),
        transcript.messages.len()
    ))
    .with_file(format!("transcript-{n:04}.html"), html))
}
