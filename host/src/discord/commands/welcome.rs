//! `/welcome set|show|reset`: the message posted in every new ticket.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};
use serenity::model::permissions::Permissions;

use super::{missing_option, Ctx, Options, Result};
use crate::discord::reply::Reply;
use crate::discord::text::code_block;
use crate::discord::welcome::{self, Token, DEFAULT_TEMPLATE, MAX_TEMPLATE_CHARS};
use crate::tickets::Doing;

/// What this command needs before it runs: admins only.
pub(super) const NEEDS: super::Needs = super::Needs::Manager;

const NOT_SET_UP: &str = "Tickets aren't set up in this server yet. Run `/setup` first.";

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("welcome")
        .description("The message posted in every new ticket")
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::SubCommand,
                "set",
                "Set the welcome message",
            )
            .add_sub_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "message",
                    "Text with %user%, %ticket%, %subject% and %plugin.placeholder% tokens",
                )
                .required(true)
                .max_length(MAX_TEMPLATE_CHARS as u16),
            ),
        )
        .add_option(CreateCommandOption::new(
            CommandOptionType::SubCommand,
            "show",
            "Show the welcome message and the tokens it can use",
        ))
        .add_option(CreateCommandOption::new(
            CommandOptionType::SubCommand,
            "reset",
            "Go back to Tessera's default welcome message",
        ))
}

const TOKENS_HELP: &str =
    "Tokens: `%user%` (mentions the opener), `%user.id%`, `%ticket%` (its number), \
    `%subject%`, and `%plugin.placeholder%` for a value from an enabled integration \
    (shown as *unavailable* if the integration fails).";

/// Runs the chosen subcommand.
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>) -> Result<Reply> {
    let (bot, g) = (ctx.bot, ctx.guild_id.get());
    match options.subcommand() {
        Some(("set", sub)) => {
            let Some(message) = sub.string("message") else {
                return Ok(missing_option("message"));
            };
            let message = message.trim();
            if message.is_empty() || message.chars().count() > MAX_TEMPLATE_CHARS {
                return Ok(Reply::text(format!(
                    "The welcome message must be 1 to {MAX_TEMPLATE_CHARS} characters."
                )));
            }
            if !bot
                .store
                .set_welcome_template(g, Some(message))
                .await
                .doing("saving the welcome message")?
            {
                return Ok(Reply::text(NOT_SET_UP));
            }
            let enabled: Vec<String> = bot
                .store
                .guild_integrations(g)
                .await
                .doing("reading the server's integrations")?
                .into_iter()
                .filter(|r| r.enabled)
                .map(|r| r.plugin_id)
                .collect();
            let mut unknown: Vec<String> = welcome::tokens(message)
                .into_iter()
                .filter_map(|t| match t {
                    Token::Plugin { plugin, name } if !enabled.iter().any(|e| e == plugin) => {
                        Some(format!("`%{plugin}.{name}%`"))
                    }
                    _ => None,
                })
                .collect();
            unknown.dedup();
            let mut text = "Saved. New tickets will start with this message.".to_owned();
            if !unknown.is_empty() {
                text.push_str(&format!(
                    "\nNote: {} name{} an integration that is not enabled here, so {} show *unavailable* \
                     until it is (`/integrations list`).",
                    unknown.join(", "),
                    if unknown.len() == 1 { "s" } else { "" },
                    if unknown.len() == 1 { "it will" } else { "they will" },
                ));
            }
            Ok(Reply::text(text))
        }
        Some(("reset", _)) => {
            if !bot
                .store
                .set_welcome_template(g, None)
                .await
                .doing("resetting the welcome message")?
            {
                return Ok(Reply::text(NOT_SET_UP));
            }
            Ok(Reply::text(
                "The welcome message is back to Tessera's default.",
            ))
        }
        Some(("show", _)) => {
            let Some(settings) = bot
                .store
                .guild_settings(g)
                .await
                .doing("reading the server's settings")?
            else {
                return Ok(Reply::text(NOT_SET_UP));
            };
            let current = settings.welcome_template.as_deref();
            let text = format!(
                "{}:\n{}\n{TOKENS_HELP}",
                if current.is_some() {
                    "The welcome message"
                } else {
                    "The welcome message (Tessera's default)"
                },
                code_block(current.unwrap_or(DEFAULT_TEMPLATE)),
            );
            Ok(Reply::text(text))
        }
        _ => Ok(missing_option("subcommand")),
    }
}
