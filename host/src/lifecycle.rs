//! The ticket lifecycle on Discord: open, close, claim, and who is in a ticket.
//!
//! Each function applies the rules (through the store), makes the Discord calls, and returns the
//! [`Reply`] the caller sees. Discord refusals become advice; a half-made ticket is undone.

use serenity::builder::{
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateChannel, CreateMessage,
};
use serenity::http::Http;
use serenity::model::channel::{ChannelType, PermissionOverwrite, PermissionOverwriteType};
use serenity::model::id::{ChannelId, GuildId, RoleId, UserId};
use serenity::model::permissions::Permissions;

use crate::bot::Bot;
use crate::discord_error::DiscordFailure;
use crate::integrations::welcome;
use crate::invocation::Invocation;
use crate::reply::{AfterReply, Reply};
use crate::router::ids;
use crate::store::{ClaimOutcome, GuildSettings, NewTicket, OpenRefusal, Ticket, TicketStatus};

/// What the opener may do in their ticket.
pub const OPENER_ALLOW: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::ATTACH_FILES);
/// What staff may do: the opener's rights plus Manage Messages.
pub const STAFF_ALLOW: Permissions = OPENER_ALLOW.union(Permissions::MANAGE_MESSAGES);
/// What the bot grants itself so it can keep working in the channel.
pub const BOT_ALLOW: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::MANAGE_CHANNELS);

/// The permission overwrites of a new ticket channel.
pub fn ticket_overwrites(
    guild_id: GuildId,
    opener: UserId,
    staff_role: RoleId,
    bot: UserId,
) -> Vec<PermissionOverwrite> {
    vec![
        PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::VIEW_CHANNEL,
            // The @everyone role shares the server's id.
            kind: PermissionOverwriteType::Role(RoleId::new(guild_id.get())),
        },
        PermissionOverwrite {
            allow: OPENER_ALLOW,
            deny: Permissions::empty(),
            kind: PermissionOverwriteType::Member(opener),
        },
        PermissionOverwrite {
            allow: STAFF_ALLOW,
            deny: Permissions::empty(),
            kind: PermissionOverwriteType::Role(staff_role),
        },
        PermissionOverwrite {
            allow: BOT_ALLOW,
            deny: Permissions::empty(),
            kind: PermissionOverwriteType::Member(bot),
        },
    ]
}

fn number(n: i64) -> String {
    format!("#{n:04}")
}

fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// Opens a ticket for the caller in `guild_id`.
#[tracing::instrument(skip_all, fields(guild_id = %guild_id, user_id = %inv.user.id))]
pub async fn open(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    guild_id: GuildId,
    panel_id: Option<i64>,
    subject: Option<String>,
) -> anyhow::Result<Reply> {
    let opener = inv.user.id;
    let new = NewTicket {
        guild_id: guild_id.get(),
        opener_id: opener.get(),
        panel_id,
        subject,
    };
    let (ticket, settings) =
        match bot.store.open_ticket(&new).await {
            Ok(opened) => opened,
            Err(OpenRefusal::NotSetUp) => return Ok(Reply::text(
                "Tickets aren't set up in this server yet. An admin needs to run `/setup` first.",
            )),
            Err(OpenRefusal::Blacklisted) => return Ok(Reply::text(
                "You can't open tickets in this server: the staff have blocked you from doing so.",
            )),
            Err(OpenRefusal::LimitReached { open, max_open }) => {
                let place = match open.channel_id {
                    Some(ch) => format!("<#{ch}>"),
                    None => "one that is still being created".to_owned(),
                };
                return Ok(Reply::text(format!(
                    "You already have {} open ticket{} here (the limit is {max_open}): {place}. \
                 Please use it, or close it before opening a new one.",
                    if max_open == 1 {
                        "an"
                    } else {
                        "the maximum of"
                    },
                    if max_open == 1 { "" } else { "s" },
                )));
            }
            Err(OpenRefusal::Store(err)) => return Err(err.into()),
        };

    let bot_id = bot.me(inv.application_id);
    let overwrites = ticket_overwrites(
        guild_id,
        opener,
        RoleId::new(settings.staff_role_id),
        bot_id,
    );
    let mut create = CreateChannel::new(ticket.channel_name())
        .kind(ChannelType::Text)
        .topic(format!(
            "Ticket {} opened by <@{opener}>",
            number(ticket.number)
        ))
        .permissions(overwrites)
        .audit_log_reason("Tessera: ticket opened");
    if let Some(category) = settings.category_id {
        create = create.category(ChannelId::new(category));
    }
    let channel = match guild_id.create_channel(http, create).await {
        Ok(channel) => channel,
        Err(err) => {
            undo_reservation(bot, &ticket).await;
            let failure = DiscordFailure::of(&err);
            tracing::warn!(error = %err, ?failure, "creating the ticket channel failed");
            return Ok(Reply::text(channel_failure_advice(failure, &settings)));
        }
    };
    match bot.store.attach_channel(ticket.id, channel.id.get()).await {
        Ok(true) => {}
        Ok(false) => {
            // The server's data was deleted meanwhile (the bot was removed): no row, no channel.
            delete_channel_quietly(http, channel.id).await;
            return Ok(Reply::text(
                "Tickets were switched off in this server while yours was being created. \
                 Ask an admin to run `/setup` again.",
            ));
        }
        Err(err) => {
            undo_half_made(bot, http, &ticket, channel.id, bot_id).await;
            return Err(err.into());
        }
    }

    // The channel exists: the server's integrations get the opener's ID, bounded by the event
    // timeout; whatever they do, the ticket opens.
    let runs = bot
        .integrations
        .run_at_open(&bot.store, guild_id.get(), ticket.id, opener.get())
        .await;
    let welcome = welcome::render(
        settings.welcome_template.as_deref(),
        &welcome::WelcomeContext {
            user_id: opener.get(),
            number: ticket.number,
            subject: ticket.subject.as_deref(),
        },
        &runs,
    );
    let message = CreateMessage::new()
        .content(welcome)
        .allowed_mentions(CreateAllowedMentions::new().users(vec![opener]))
        .components(ticket_buttons());
    if let Err(err) = channel.id.send_message(http, message).await {
        let failure = DiscordFailure::of(&err);
        tracing::warn!(error = %err, ?failure, "posting the welcome message failed; undoing the ticket");
        undo_half_made(bot, http, &ticket, channel.id, bot_id).await;
        return Ok(Reply::text(match failure {
            DiscordFailure::MissingPermissions => "Tessera created the ticket channel but wasn't allowed to post in it, so it removed it again. \
                 An admin should give Tessera **View Channel** and **Send Messages** in the ticket category.".to_owned(),
            other => other.generic_advice().to_owned(),
        }));
    }

    if let Some(log) = settings.log_channel_id {
        let text = format!(
            "📥 Ticket {} opened by <@{opener}> in <#{}>.",
            number(ticket.number),
            channel.id
        );
        post_log(http, log, text).await;
        for run in runs.iter().filter(|r| r.disabled_now) {
            let why = run
                .result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default();
            let text = format!(
                "⚠️ The integration **{}** failed {} times in a row and is now **disabled** in this server \
                 (last error: {}). Tickets open without it. After fixing its settings, an admin can turn it \
                 back on with `/integrations enable {}`.",
                welcome::neutralise(&run.name),
                bot.integrations.disable_after(),
                welcome::neutralise(&why.chars().take(200).collect::<String>()),
                run.plugin_id
            );
            post_log(http, log, text).await;
        }
    }
    Ok(Reply::text(format!(
        "Your ticket is open: <#{}>",
        channel.id
    )))
}

fn channel_failure_advice(failure: DiscordFailure, settings: &GuildSettings) -> String {
    let place = settings
        .category_id
        .map(|c| format!(" in <#{c}>"))
        .unwrap_or_default();
    match failure {
        DiscordFailure::MissingPermissions => format!(
            "I couldn't create your ticket: Tessera needs **Manage Channels** and **Manage Roles**{place}, \
             and every permission it gives ticket members (View Channel, Send Messages, Read Message History, \
             Attach Files, Manage Messages). Ask an admin to grant them to Tessera's role, then try again."
        ),
        DiscordFailure::Other if settings.category_id.is_some() => {
            "I couldn't create your ticket: Discord refused the new channel. The ticket category may be full \
             (a category holds at most 50 channels); ask an admin to close old tickets or pick another category."
                .to_owned()
        }
        DiscordFailure::NotFound if settings.category_id.is_some() => {
            "I couldn't create your ticket: the ticket category set with `/setup` no longer exists. \
             Ask an admin to run `/setup` again."
                .to_owned()
        }
        other => format!("I couldn't create your ticket. {}", other.generic_advice()),
    }
}

/// The Close and Claim buttons of a ticket's welcome message.
pub fn ticket_buttons() -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(ids::CLOSE)
            .label("Close")
            .style(serenity::model::application::ButtonStyle::Danger),
        CreateButton::new(ids::CLAIM)
            .label("Claim")
            .style(serenity::model::application::ButtonStyle::Secondary),
    ])]
}

async fn undo_reservation(bot: &Bot, ticket: &Ticket) {
    if let Err(err) = bot.store.discard_ticket(ticket.id).await {
        // A reservation without a channel is swept at the next start.
        tracing::error!(error = %err, ticket_id = ticket.id, "could not discard a failed ticket");
    }
}

/// Deletes a channel made for a ticket that could not be finished; `false` if Discord refused.
async fn delete_channel_quietly(http: &Http, channel: ChannelId) -> bool {
    match http
        .delete_channel(channel, Some("Tessera: undoing a failed ticket"))
        .await
    {
        Ok(_) => true,
        Err(err) => {
            tracing::error!(error = %err, channel_id = %channel, "could not delete a half-made ticket channel");
            false
        }
    }
}

/// Undoes a ticket whose channel exists but could not be finished. If the channel cannot be
/// deleted, its row stays (closed, with the reason) so no channel is left without a record.
async fn undo_half_made(
    bot: &Bot,
    http: &Http,
    ticket: &Ticket,
    channel: ChannelId,
    bot_id: UserId,
) {
    if delete_channel_quietly(http, channel).await {
        undo_reservation(bot, ticket).await;
        return;
    }
    let recorded = async {
        bot.store.attach_channel(ticket.id, channel.get()).await?;
        bot.store
            .close_ticket(
                ticket.id,
                bot_id.get(),
                Some("Tessera could not finish creating this ticket"),
            )
            .await
    };
    if let Err(err) = recorded.await {
        tracing::error!(error = %err, ticket_id = ticket.id, "could not record a half-made ticket");
    }
}

async fn post_log(http: &Http, log_channel: u64, text: String) {
    let message = CreateMessage::new()
        .content(text)
        .allowed_mentions(no_pings());
    if let Err(err) = ChannelId::new(log_channel)
        .send_message(http, message)
        .await
    {
        tracing::warn!(error = %err, log_channel, "could not post to the log channel");
    }
}

/// The ticket whose channel the caller is in, with the server's settings; or the reply saying why not.
pub async fn ticket_here(
    bot: &Bot,
    inv: &Invocation<'_>,
) -> anyhow::Result<Result<(Ticket, GuildSettings), Reply>> {
    let not_a_ticket = || {
        Ok(Err(Reply::text(
            "This only works inside an open ticket channel.",
        )))
    };
    let Some(ticket) = bot.store.ticket_by_channel(inv.channel_id.get()).await? else {
        return not_a_ticket();
    };
    if ticket.status != TicketStatus::Open {
        return not_a_ticket();
    }
    let Some(settings) = bot.store.guild_settings(ticket.guild_id).await? else {
        return not_a_ticket();
    };
    Ok(Ok((ticket, settings)))
}

fn may_close(inv: &Invocation<'_>, ticket: &Ticket, settings: &GuildSettings) -> bool {
    inv.user.id.get() == ticket.opener_id || inv.is_staff(settings)
}

const CLOSE_DENIED: &str = "Only the person who opened this ticket, or staff, can close it.";

/// The Close button: asks for confirmation.
pub fn confirm_close(inv: &Invocation<'_>, ticket: &Ticket, settings: &GuildSettings) -> Reply {
    if !may_close(inv, ticket, settings) {
        return Reply::text(CLOSE_DENIED);
    }
    Reply::text(format!(
        "Close ticket {}? The channel will be deleted.",
        number(ticket.number)
    ))
    .with_components(vec![CreateActionRow::Buttons(vec![
        CreateButton::new(format!("{}{}", ids::CLOSE_CONFIRM_PREFIX, ticket.id))
            .label("Close ticket")
            .style(serenity::model::application::ButtonStyle::Danger),
        CreateButton::new(ids::CLOSE_CANCEL)
            .label("Cancel")
            .style(serenity::model::application::ButtonStyle::Secondary),
    ])])
}

/// Closes a ticket: the closure is stored first, then logged; the channel goes after the reply.
#[tracing::instrument(skip_all, fields(guild_id = ticket.guild_id, ticket_id = ticket.id))]
pub async fn close(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
    reason: Option<&str>,
) -> anyhow::Result<Reply> {
    if !may_close(inv, ticket, settings) {
        return Ok(Reply::text(CLOSE_DENIED));
    }
    let Some(closed) = bot
        .store
        .close_ticket(ticket.id, inv.user.id.get(), reason)
        .await?
    else {
        return Ok(Reply::text("This ticket is already closed."));
    };
    if let Some(log) = settings.log_channel_id {
        let text = format!(
            "🔒 Ticket {} (opened by <@{}>) closed by <@{}>. Reason: {}",
            number(closed.number),
            closed.opener_id,
            inv.user.id,
            reason.unwrap_or("none given")
        );
        post_log(http, log, text).await;
    }
    let reply = Reply::text(format!(
        "Ticket {} is closed. This channel will now be deleted.",
        number(closed.number)
    ));
    Ok(match closed.channel_id {
        Some(channel) => reply.then(AfterReply::DeleteChannel {
            guild_id: GuildId::new(closed.guild_id),
            channel_id: ChannelId::new(channel),
        }),
        None => reply,
    })
}

/// Deletes a closed ticket's channel; returns advice for the closer if Discord refused.
pub async fn delete_ticket_channel(
    bot: &Bot,
    http: &Http,
    guild_id: GuildId,
    channel_id: ChannelId,
) -> Option<String> {
    bot.cache.forget_channel(guild_id, channel_id);
    match http
        .delete_channel(channel_id, Some("Tessera: ticket closed"))
        .await
    {
        Ok(_) => None,
        Err(err) => {
            let failure = DiscordFailure::of(&err);
            tracing::warn!(error = %err, ?failure, %channel_id, "deleting a closed ticket's channel failed");
            Some(match failure {
                DiscordFailure::NotFound => return None,
                DiscordFailure::MissingPermissions => "The ticket is closed and recorded, but Tessera isn't allowed to delete this channel: \
                     it needs **Manage Channels**. An admin can delete the channel by hand."
                    .to_owned(),
                other => format!(
                    "The ticket is closed and recorded, but deleting this channel failed. {}",
                    other.generic_advice()
                ),
            })
        }
    }
}

/// Claims the ticket for the caller (staff only) and announces it in the ticket.
pub async fn claim(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
) -> anyhow::Result<Reply> {
    if !inv.is_staff(settings) {
        return Ok(Reply::text("Only staff can claim tickets."));
    }
    match bot.store.claim_ticket(ticket.id, inv.user.id.get()).await? {
        ClaimOutcome::Claimed => {
            announce(
                http,
                ticket,
                format!("🙋 <@{}> has claimed this ticket and will help you.", inv.user.id),
            )
            .await;
            Ok(Reply::text(format!("You claimed ticket {}.", number(ticket.number))))
        }
        ClaimOutcome::AlreadyClaimed(holder) if holder == inv.user.id.get() => {
            Ok(Reply::text("You have already claimed this ticket."))
        }
        ClaimOutcome::AlreadyClaimed(holder) => Ok(Reply::text(format!(
            "This ticket is already claimed by <@{holder}>. They (or an admin) can `/unclaim` it first."
        ))),
        ClaimOutcome::NotOpen => Ok(Reply::text("This ticket is no longer open.")),
    }
}

/// Releases the claim (the claimer or a server manager only).
pub async fn unclaim(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
) -> anyhow::Result<Reply> {
    if !inv.is_staff(settings) {
        return Ok(Reply::text("Only staff can unclaim tickets."));
    }
    let Some(holder) = ticket.claimed_by else {
        return Ok(Reply::text("This ticket isn't claimed."));
    };
    if holder != inv.user.id.get() && !inv.is_manager() {
        return Ok(Reply::text(format!(
            "This ticket is claimed by <@{holder}>; only they or an admin can unclaim it."
        )));
    }
    let only_if_held_by = (!inv.is_manager()).then(|| inv.user.id.get());
    if !bot
        .store
        .unclaim_ticket(ticket.id, inv.user.id.get(), only_if_held_by)
        .await?
    {
        return Ok(Reply::text("This ticket isn't claimed."));
    }
    announce(
        http,
        ticket,
        format!(
            "↩️ <@{}> released this ticket; any staff member can pick it up.",
            inv.user.id
        ),
    )
    .await;
    Ok(Reply::text(format!(
        "Ticket {} is no longer claimed.",
        number(ticket.number)
    )))
}

async fn announce(http: &Http, ticket: &Ticket, text: String) {
    let Some(channel) = ticket.channel_id else {
        return;
    };
    let message = CreateMessage::new()
        .content(text)
        .allowed_mentions(no_pings());
    if let Err(err) = ChannelId::new(channel).send_message(http, message).await {
        tracing::warn!(error = %err, "could not announce in the ticket");
    }
}

/// Gives `user` access to the ticket (staff only).
pub async fn add_member(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
    user: UserId,
) -> anyhow::Result<Reply> {
    if !inv.is_staff(settings) {
        return Ok(Reply::text("Only staff can add people to a ticket."));
    }
    if is_the_bot(bot, inv, user) {
        return Ok(Reply::text(
            "Tessera is already in every ticket it manages.",
        ));
    }
    let Some(channel) = ticket.channel_id.map(ChannelId::new) else {
        return Ok(Reply::text(
            "This ticket has no channel yet; try again in a moment.",
        ));
    };
    let overwrite = PermissionOverwrite {
        allow: OPENER_ALLOW,
        deny: Permissions::empty(),
        kind: PermissionOverwriteType::Member(user),
    };
    if let Err(err) = channel.create_permission(http, overwrite).await {
        return Ok(Reply::text(member_failure(&err, "add")));
    }
    bot.store
        .add_ticket_member(ticket, user.get(), inv.user.id.get())
        .await?;
    announce(
        http,
        ticket,
        format!(
            "➕ <@{user}> was added to this ticket by <@{}>.",
            inv.user.id
        ),
    )
    .await;
    Ok(Reply::text(format!("<@{user}> can now see this ticket.")))
}

/// Takes `user`'s access away (staff only; not the opener).
pub async fn remove_member(
    bot: &Bot,
    http: &Http,
    inv: &Invocation<'_>,
    ticket: &Ticket,
    settings: &GuildSettings,
    user: UserId,
) -> anyhow::Result<Reply> {
    if !inv.is_staff(settings) {
        return Ok(Reply::text("Only staff can remove people from a ticket."));
    }
    if is_the_bot(bot, inv, user) {
        return Ok(Reply::text(
            "Tessera can't be removed from a ticket: it needs access to close it. Close the ticket instead.",
        ));
    }
    if user.get() == ticket.opener_id {
        return Ok(Reply::text(
            "That's the person who opened this ticket. Close the ticket instead of removing them.",
        ));
    }
    let Some(channel) = ticket.channel_id.map(ChannelId::new) else {
        return Ok(Reply::text(
            "This ticket has no channel yet; try again in a moment.",
        ));
    };
    if let Err(err) = channel
        .delete_permission(http, PermissionOverwriteType::Member(user))
        .await
    {
        if DiscordFailure::of(&err) != DiscordFailure::NotFound {
            return Ok(Reply::text(member_failure(&err, "remove")));
        }
    }
    bot.store
        .remove_ticket_member(ticket, user.get(), inv.user.id.get())
        .await?;
    Ok(Reply::text(format!(
        "<@{user}> can no longer see this ticket."
    )))
}

fn is_the_bot(bot: &Bot, inv: &Invocation<'_>, user: UserId) -> bool {
    bot.me(inv.application_id) == user
}

fn member_failure(err: &serenity::Error, verb: &str) -> String {
    let failure = DiscordFailure::of(err);
    tracing::warn!(error = %err, ?failure, "editing ticket overwrites failed");
    match failure {
        DiscordFailure::MissingPermissions => format!(
            "I couldn't {verb} them: Tessera needs **Manage Roles** (Manage Permissions) on this channel. \
             Ask an admin to grant it."
        ),
        other => format!("I couldn't {verb} them. {}", other.generic_advice()),
    }
}
