//! `/blacklist add|remove|list`: members who may not open tickets.

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};
use serenity::model::permissions::Permissions;

use super::{missing_option, Ctx, Options, Result};
use crate::discord::reply::Reply;
use crate::discord::text::{join_fitting, neutralise};
use crate::tickets::Doing;

/// What this command needs before it runs: admins only.
pub(super) const NEEDS: super::Needs = super::Needs::Manager;

/// The command definition.
pub fn register() -> CreateCommand {
    let user =
        || CreateCommandOption::new(CommandOptionType::User, "user", "The member").required(true);
    let role =
        || CreateCommandOption::new(CommandOptionType::Role, "role", "The role").required(true);
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
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::SubCommand,
                "add_role",
                "Stop every member with a role from opening tickets",
            )
            .add_sub_option(role())
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
                "remove_role",
                "Let members with a role open tickets again",
            )
            .add_sub_option(role()),
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
        Some(("add_role", sub)) => {
            let Some(role) = sub.role("role") else {
                return Ok(missing_option("role"));
            };
            if role.get() == g {
                return Ok(Reply::text(
                    "You can't blacklist @everyone: nobody could open a ticket. Blacklist members or a role only they have.",
                ));
            }
            let added = bot
                .store
                .blacklist_role_add(g, role.get(), sub.string("reason"), inv.user.id.get())
                .await
                .doing("adding a role to the blacklist")?;
            Ok(Reply::text(if added {
                format!("Members with <@&{role}> can no longer open tickets here.")
            } else {
                format!("<@&{role}> was already blacklisted.")
            }))
        }
        Some(("remove_role", sub)) => {
            let Some(role) = sub.role("role") else {
                return Ok(missing_option("role"));
            };
            Ok(Reply::text(
                if bot
                    .store
                    .blacklist_role_remove(g, role.get())
                    .await
                    .doing("removing a role from the blacklist")?
                {
                    format!("Members with <@&{role}> can open tickets again.")
                } else {
                    format!("<@&{role}> wasn't blacklisted.")
                },
            ))
        }
        Some(("list", _)) => {
            let entries = bot
                .store
                .blacklist(g)
                .await
                .doing("reading the blacklist")?;
            let roles = bot
                .store
                .blacklisted_roles(g)
                .await
                .doing("reading the blacklist")?;
            if entries.is_empty() && roles.is_empty() {
                return Ok(Reply::text("Nobody is blacklisted."));
            }
            let mut lines = Vec::new();
            if !roles.is_empty() {
                lines.push(format!("**Blacklisted roles ({})**", roles.len()));
                lines.extend(roles.iter().map(|(role, reason)| match reason {
                    Some(reason) => format!("• <@&{role}> — {}", neutralise(reason)),
                    None => format!("• <@&{role}>"),
                }));
            }
            if !entries.is_empty() {
                lines.push(format!("**Blacklisted members ({})**", entries.len()));
                lines.extend(entries.iter().map(|e| match &e.reason {
                    Some(reason) => format!("• <@{}> — {reason}", e.user_id),
                    None => format!("• <@{}>", e.user_id),
                }));
            }
            Ok(Reply::text(join_fitting(lines, "\n")))
        }
        _ => Ok(missing_option("add|remove|add_role|remove_role|list")),
    }
}
