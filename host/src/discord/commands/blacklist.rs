//! `/blacklist add|remove|list`: members who may not open tickets.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};
use serenity::model::permissions::Permissions;

use super::{missing_option, Ctx, Options, Result};
use crate::discord::reply::Reply;
use crate::discord::text::join_fitting;
use crate::tickets::Doing;

/// What this command needs before it runs: admins only.
pub(super) const NEEDS: super::Needs = super::Needs::Manager;

/// The command definition.
pub fn register() -> CreateCommand {
    let user =
        || CreateCommandOption::new(CommandOptionType::User, "user", "The member").required(true);
    CreateCommand::new("blacklist")
        .description("Manage who may not open tickets")
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::SubCommand,
                "add",
                "Stop a member from opening tickets",
            )
            .add_sub_option(user())
            .add_sub_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "reason",
                    "Why (shown to staff only)",
                )
                .max_length(200),
            ),
        )
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::SubCommand,
                "remove",
                "Let a member open tickets again",
            )
            .add_sub_option(user()),
        )
        .add_option(CreateCommandOption::new(
            CommandOptionType::SubCommand,
            "list",
            "Show the blacklist",
        ))
}

/// Runs the chosen subcommand.
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>) -> Result<Reply> {
    let (bot, inv, g) = (ctx.bot, ctx.inv, ctx.guild_id.get());
    match options.subcommand() {
        Some(("add", sub)) => {
            let Some(user) = sub.user("user") else {
                return Ok(missing_option("user"));
            };
            let added = bot
                .store
                .blacklist_add(g, user.get(), sub.string("reason"), inv.user.id.get())
                .await
                .doing("adding to the blacklist")?;
            Ok(Reply::text(if added {
                format!("<@{user}> can no longer open tickets here.")
            } else {
                format!("<@{user}> was already blacklisted.")
            }))
        }
        Some(("remove", sub)) => {
            let Some(user) = sub.user("user") else {
                return Ok(missing_option("user"));
            };
            Ok(Reply::text(
                if bot
                    .store
                    .blacklist_remove(g, user.get())
                    .await
                    .doing("removing from the blacklist")?
                {
                    format!("<@{user}> can open tickets again.")
                } else {
                    format!("<@{user}> wasn't blacklisted.")
                },
            ))
        }
        Some(("list", _)) => {
            let entries = bot
                .store
                .blacklist(g)
                .await
                .doing("reading the blacklist")?;
            if entries.is_empty() {
                return Ok(Reply::text("Nobody is blacklisted."));
            }
            let mut lines = vec![format!("**Blacklisted members ({})**", entries.len())];
            lines.extend(entries.iter().map(|e| match &e.reason {
                Some(reason) => format!("• <@{}> — {reason}", e.user_id),
                None => format!("• <@{}>", e.user_id),
            }));
            Ok(Reply::text(join_fitting(lines, "\n")))
        }
        _ => Ok(missing_option("add|remove|list")),
    }
}
