//! Slash commands and buttons: one file per command, each with `register()` (its Discord
//! definition), `run()`, and the words for its outcomes. The dispatcher here checks once what each
//! command needs (a server, a manager, an open ticket; or nothing, for `/privacy`, which also
//! works in DMs) before the command runs.
//!
//! Command names and option names are part of the product: admins and docs rely on them.

mod blacklist;
mod claim;
mod close;
pub mod integrations;
mod members;
mod open;
mod options;
mod panel;
mod privacy;
mod setup;
mod stats;
mod transcript;
mod welcome;

use serenity::builder::CreateCommand;
use serenity::http::Http;
use serenity::model::application::{CommandData, ModalInteraction};
use serenity::model::id::GuildId;

use super::action::Action;
use super::invocation::Invocation;
use super::reply::Reply;
use super::rest::Rest;
use crate::bot::Bot;
use crate::integrations::Integrations;
use crate::store::{GuildSettings, Ticket};
use crate::tickets::{Caller, TicketError, Tickets};

pub use close::delete_closed_channel;
pub use options::Options;

/// Every global command, for the bulk overwrite at start.
pub fn all(bot: &Bot) -> Vec<CreateCommand> {
    vec![
        setup::register(),
        panel::register(),
        open::register(),
        close::register(),
        claim::register_claim(),
        claim::register_unclaim(),
        members::register_add(),
        members::register_remove(),
        blacklist::register(),
        integrations::register(bot),
        welcome::register(),
        privacy::register(),
        transcript::register(),
        stats::register(),
    ]
}

/// What a command needs before it may run; the dispatcher checks it, the command relies on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Nothing: it acts for the caller alone, in a server or in a DM with the bot (the caller
    /// is the interaction's user, which Discord authenticated).
    Anywhere,
    /// To be used in a server.
    Server,
    /// A caller with Manage Server or Administrator.
    Manager,
    /// To be used in an open ticket's channel (the ticket service checks who may do what).
    Ticket,
}

impl Action {
    /// What pressing this button (or submitting this form) needs: the integration controls
    /// are for managers; ticket buttons check their rules in the ticket service.
    fn needs(&self) -> Needs {
        match self {
            Action::IntegrationEnable { .. }
            | Action::IntegrationCancel
            | Action::IntegrationForm { .. }
            | Action::UploadConfirm { .. }
            | Action::UploadDiscard { .. } => Needs::Manager,
            Action::OpenFromPanel { .. }
            | Action::Close
            | Action::CloseConfirm { .. }
            | Action::CloseCancel
            | Action::Claim => Needs::Server,
            Action::PrivacyDelete | Action::PrivacyCancel => privacy::NEEDS,
        }
    }

    /// The command a press of this button is counted under in the statistics. A button that
    /// does a command's work (a panel's Open, a ticket's Close and Claim) counts as that
    /// command; the steps of a command already counted (confirm, cancel, an integration's
    /// Enable, an upload's confirmation, a settings form) do not count again.
    pub fn counted_as(&self) -> Option<&'static str> {
        match self {
            Action::OpenFromPanel { .. } => Some("open"),
            Action::Close => Some("close"),
            Action::Claim => Some("claim"),
            Action::CloseConfirm { .. }
            | Action::CloseCancel
            | Action::IntegrationEnable { .. }
            | Action::IntegrationCancel
            | Action::IntegrationForm { .. }
            | Action::UploadConfirm { .. }
            | Action::UploadDiscard { .. }
            | Action::PrivacyDelete
            | Action::PrivacyCancel => None,
        }
    }
}

/// Every command Tessera has, with what it declared it needs.
const COMMANDS: &[(&str, Needs)] = &[
    ("setup", setup::NEEDS),
    ("panel", panel::NEEDS),
    ("open", open::NEEDS),
    ("close", close::NEEDS),
    ("claim", claim::NEEDS),
    ("unclaim", claim::NEEDS),
    ("add", members::NEEDS),
    ("remove", members::NEEDS),
    ("blacklist", blacklist::NEEDS),
    ("integrations", integrations::NEEDS),
    ("welcome", welcome::NEEDS),
    ("privacy", privacy::NEEDS),
    ("stats", stats::NEEDS),
    ("transcript", transcript::NEEDS),
];

/// The command `name` as Tessera spells it, and what it needs; `None` for a command Tessera
/// does not have.
fn command(name: &str) -> Option<(&'static str, Needs)> {
    COMMANDS.iter().find(|(known, _)| *known == name).copied()
}

/// What the command `name` declared it needs; `None` for a command Tessera does not have.
fn needs(name: &str) -> Option<Needs> {
    command(name).map(|(_, needs)| needs)
}

/// The name a use of the command `name` is counted under in the statistics: only Tessera's own
/// command names, never a string from the interaction.
pub fn counted_as(name: &str) -> Option<&'static str> {
    command(name).map(|(known, _)| known)
}

/// The answer to an interaction from a DM.
pub const OUTSIDE_SERVER: &str =
    "Tessera works inside servers. Use this in a server where Tessera is set up.";
/// The answer to a non-manager using an admin command.
pub const MANAGERS_ONLY: &str = "Only members with the **Manage Server** permission can do this.";
const NOT_IN_TICKET: &str = "This only works inside an open ticket channel.";
const GONE: &str = "This ticket no longer exists or is already closed.";
const UNKNOWN_FORM: &str =
    "I don't recognise this form; it may belong to an older version of Tessera. \
     Run the command again.";
const UNKNOWN_BUTTON: &str =
    "I don't recognise this button; it may belong to an older version of Tessera. \
     Ask the staff to post a new panel.";

/// The request's context once what it `needs` is met; otherwise the answer that says why not.
fn admit<'a>(
    bot: &'a Bot,
    http: &'a Http,
    inv: &'a Invocation<'a>,
    needs: Needs,
) -> std::result::Result<Ctx<'a>, Reply> {
    let Some(ctx) = Ctx::new(bot, http, inv) else {
        return Err(Reply::text(OUTSIDE_SERVER));
    };
    tracing::Span::current().record("guild_id", ctx.guild_id.get());
    if needs == Needs::Manager && !ctx.caller.is_manager() {
        return Err(Reply::text(MANAGERS_ONLY));
    }
    Ok(ctx)
}

/// A request that passed its command's checks: who asks, where, and the ports to act through.
pub struct Ctx<'a> {
    /// Shared state.
    pub bot: &'a Bot,
    /// Discord's REST client.
    pub http: &'a Http,
    /// The interaction.
    pub inv: &'a Invocation<'a>,
    /// The server it came from.
    pub guild_id: GuildId,
    /// The caller, for the ticket service.
    pub caller: Caller,
    rest: Rest<'a>,
}

impl<'a> Ctx<'a> {
    fn new(bot: &'a Bot, http: &'a Http, inv: &'a Invocation<'a>) -> Option<Ctx<'a>> {
        Some(Ctx {
            bot,
            http,
            inv,
            guild_id: inv.guild_id?,
            caller: inv.caller()?,
            rest: Rest::new(http, &bot.cache, &bot.cdn, bot.me(inv.application_id)),
        })
    }

    /// The ticket service, acting for this request.
    pub fn tickets(&self) -> Tickets<'_, Rest<'a>, Integrations> {
        Tickets::new(
            &self.bot.store,
            &self.rest,
            &*self.bot.integrations,
            self.bot.me(self.inv.application_id).get(),
        )
        .with_transcripts(self.bot.transcripts.as_deref())
        .with_open_cooldown(self.bot.open_cooldown_secs)
    }
}

/// The open ticket a command is used in, with its server's settings.
pub struct Here {
    /// The ticket.
    pub ticket: Ticket,
    /// The server's settings.
    pub settings: GuildSettings,
}

/// A command's or button's failure that only the log should see in detail.
pub type Result<T> = std::result::Result<T, TicketError>;

/// Runs the command named in `data`.
#[tracing::instrument(skip_all, fields(command = %data.name, interaction_id = %inv.id, guild_id))]
pub async fn run(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    data: &CommandData,
) -> anyhow::Result<Reply> {
    let Some(needs) = needs(&data.name) else {
        tracing::warn!(command = %data.name, "unknown command");
        return Ok(Reply::text(
            "I don't know that command; Discord may be showing an outdated list. Try again in a minute.",
        ));
    };
    if needs == Needs::Anywhere {
        // `/privacy` is the one command usable outside a server.
        return privacy::run(bot, inv, &Options::new(&data.options)).await;
    }
    let ctx = match admit(bot, http, inv, needs) {
        Ok(ctx) => ctx,
        Err(refusal) => return Ok(refusal),
    };
    let options = Options::new(&data.options);
    let here = if needs == Needs::Ticket {
        match ctx
            .tickets()
            .open_in_channel(ctx.guild_id.get(), inv.channel_id.get())
            .await?
        {
            Some((ticket, settings)) => Some(Here { ticket, settings }),
            None => return Ok(Reply::text(NOT_IN_TICKET)),
        }
    } else {
        None
    };
    Ok(match (data.name.as_str(), here) {
        ("setup", _) => setup::run(&ctx, &options, data).await?,
        ("panel", _) => panel::run(&ctx, &options).await?,
        ("open", _) => open::run(&ctx, &options).await?,
        ("blacklist", _) => blacklist::run(&ctx, &options).await?,
        ("integrations", _) => integrations::run(bot, inv, ctx.guild_id, &options, data).await?,
        ("welcome", _) => welcome::run(&ctx, &options).await?,
        ("transcript", _) => transcript::run(&ctx, &options).await?,
        ("stats", _) => stats::run(&ctx, &options).await?,
        ("close", Some(here)) => close::run(&ctx, &options, &here).await?,
        ("claim", Some(here)) => claim::claim(&ctx, &here).await?,
        ("unclaim", Some(here)) => claim::unclaim(&ctx, &here).await?,
        ("add", Some(here)) => members::run_add(&ctx, &options, &here).await?,
        (_, Some(here)) => members::run_remove(&ctx, &options, &here).await?,
        (_, None) => Reply::text(NOT_IN_TICKET),
    })
}

/// Runs a button's action.
#[tracing::instrument(skip_all, fields(interaction_id = %inv.id, guild_id))]
pub async fn press(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    action: Option<Action>,
) -> anyhow::Result<Reply> {
    let Some(action) = action else {
        return Ok(Reply::text(UNKNOWN_BUTTON));
    };
    if action.needs() == Needs::Anywhere {
        return privacy::press(bot, inv, &action).await;
    }
    let ctx = match admit(bot, http, inv, action.needs()) {
        Ok(ctx) => ctx,
        Err(refusal) => return Ok(refusal),
    };
    let tickets = ctx.tickets();
    let g = ctx.guild_id.get();
    Ok(match action {
        Action::OpenFromPanel { panel_id } => open::from_panel(&ctx, panel_id).await?,
        Action::CloseCancel => Reply::text("Okay, the ticket stays open."),
        Action::CloseConfirm { ticket_id } => match tickets.open_by_id(g, ticket_id).await? {
            Some((ticket, settings)) => {
                close::close(&ctx, &Here { ticket, settings }, None).await?
            }
            None => Reply::text(GONE),
        },
        Action::Close | Action::Claim => {
            let Some((ticket, settings)) = tickets.open_in_channel(g, inv.channel_id.get()).await?
            else {
                return Ok(Reply::text(GONE));
            };
            let here = Here { ticket, settings };
            if action == Action::Close {
                close::confirm(&ctx, &here)
            } else {
                claim::claim(&ctx, &here).await?
            }
        }
        Action::IntegrationEnable { plugin } => {
            integrations::confirm_enable(bot, inv, g, &plugin).await?
        }
        Action::UploadConfirm { sha256 } => {
            integrations::confirm_upload(bot, inv, g, &sha256, true).await?
        }
        Action::UploadDiscard { sha256 } => {
            integrations::confirm_upload(bot, inv, g, &sha256, false).await?
        }
        Action::IntegrationCancel => Reply::text("Okay, nothing was enabled."),
        // A form id on a button: not something Tessera posts.
        Action::IntegrationForm { .. } => Reply::text(UNKNOWN_BUTTON),
        // Usable anywhere, so answered before the server checks above.
        Action::PrivacyDelete | Action::PrivacyCancel => privacy::press(bot, inv, &action).await?,
    })
}

/// Handles a submitted form.
#[tracing::instrument(skip_all, fields(interaction_id = %inv.id, guild_id))]
pub async fn submit(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    modal: &ModalInteraction,
) -> anyhow::Result<Reply> {
    let Some(Action::IntegrationForm { mode, plugin }) = Action::parse(&modal.data.custom_id)
    else {
        return Ok(Reply::text(UNKNOWN_FORM));
    };
    let ctx = match admit(bot, http, inv, Needs::Manager) {
        Ok(ctx) => ctx,
        Err(refusal) => return Ok(refusal),
    };
    integrations::submitted(bot, inv, ctx.guild_id.get(), mode, &plugin, modal).await
}

/// The answer when Discord sent a command without an option it requires.
pub fn missing_option(name: &str) -> Reply {
    Reply::text(format!(
        "That command arrived without its `{name}` option. Discord may be showing an outdated version \
         of the command; try again in a minute."
    ))
}
