//! The REST implementation of the ticket service's [`DiscordPort`]: each method is one Discord
//! call, and the words of what Tessera posts in tickets and log channels.

use serenity::builder::{
    CreateActionRow, CreateAttachment, CreateButton, CreateChannel, CreateMessage,
};
use serenity::http::Http;
use serenity::model::application::ButtonStyle;
use serenity::model::channel::{ChannelType, PermissionOverwrite, PermissionOverwriteType};
use serenity::model::id::{ChannelId, GuildId, RoleId, UserId};
use serenity::model::permissions::Permissions;

use super::action::Action;
use super::capture::Cdn;
use super::failure::classify;
use super::text::{neutralise, no_pings, ping_only};
use super::welcome;
use crate::cache::DiscordCache;
use crate::tickets::port::DeleteReason;
use crate::tickets::{ChannelRequest, DiscordFailure, DiscordPort, LogEvent, Notice, Welcome};
use crate::transcripts::{CaptureLimits, Captured};

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
    let allow = |allow, kind| PermissionOverwrite {
        allow,
        deny: Permissions::empty(),
        kind,
    };
    vec![
        PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::VIEW_CHANNEL,
            // The @everyone role shares the server's id.
            kind: PermissionOverwriteType::Role(RoleId::new(guild_id.get())),
        },
        allow(OPENER_ALLOW, PermissionOverwriteType::Member(opener)),
        allow(STAFF_ALLOW, PermissionOverwriteType::Role(staff_role)),
        allow(BOT_ALLOW, PermissionOverwriteType::Member(bot)),
    ]
}

/// A ticket's number as members see it: `#0001`.
pub fn number(n: i64) -> String {
    format!("#{n:04}")
}

/// The Close and Claim buttons of a ticket's welcome message.
pub fn ticket_buttons() -> Vec<CreateActionRow> {
    vec![CreateActionRow::Buttons(vec![
        CreateButton::new(Action::Close.custom_id())
            .label("Close")
            .style(ButtonStyle::Danger),
        CreateButton::new(Action::Claim.custom_id())
            .label("Claim")
            .style(ButtonStyle::Secondary),
    ])]
}

/// Discord over REST, for one request.
pub struct Rest<'a> {
    http: &'a Http,
    cache: &'a DiscordCache,
    cdn: &'a Cdn,
    bot_id: UserId,
}

impl<'a> Rest<'a> {
    /// The port over `http`; deleted channels are also forgotten by `cache`. Transcripts
    /// download files from `cdn`.
    pub fn new(http: &'a Http, cache: &'a DiscordCache, cdn: &'a Cdn, bot_id: UserId) -> Rest<'a> {
        Rest {
            http,
            cache,
            cdn,
            bot_id,
        }
    }

    async fn send(
        &self,
        channel: u64,
        message: CreateMessage,
        what: &str,
    ) -> Result<(), DiscordFailure> {
        ChannelId::new(channel)
            .send_message(self.http, message)
            .await
            .map(drop)
            .map_err(|err| refused(&err, what))
    }
}

/// Sorts and logs a refusal.
fn refused(err: &serenity::Error, what: &str) -> DiscordFailure {
    let failure = classify(err);
    tracing::warn!(error = %err, ?failure, "{what} failed");
    failure
}

impl DiscordPort for Rest<'_> {
    async fn create_ticket_channel(&self, r: &ChannelRequest) -> Result<u64, DiscordFailure> {
        let guild_id = GuildId::new(r.guild_id);
        let opener = UserId::new(r.opener_id);
        let overwrites =
            ticket_overwrites(guild_id, opener, RoleId::new(r.staff_role_id), self.bot_id);
        let mut create = CreateChannel::new(r.name.as_str())
            .kind(ChannelType::Text)
            .topic(format!("Ticket {} opened by <@{opener}>", number(r.number)))
            .permissions(overwrites)
            .audit_log_reason("Tessera: ticket opened");
        if let Some(category) = r.category_id {
            create = create.category(ChannelId::new(category));
        }
        guild_id
            .create_channel(self.http, create)
            .await
            .map(|c| c.id.get())
            .map_err(|err| refused(&err, "creating the ticket channel"))
    }

    async fn post_welcome(&self, channel_id: u64, w: &Welcome) -> Result<(), DiscordFailure> {
        let text = welcome::render(
            w.template.as_deref(),
            &welcome::WelcomeContext {
                user_id: w.opener_id,
                number: w.number,
                subject: w.subject.as_deref(),
            },
            &w.runs,
        );
        let message = CreateMessage::new()
            .content(text)
            .allowed_mentions(ping_only(UserId::new(w.opener_id)))
            .components(ticket_buttons());
        self.send(channel_id, message, "posting the welcome message")
            .await
    }

    async fn post_log(&self, log_channel_id: u64, event: &LogEvent) -> Result<(), DiscordFailure> {
        let message = CreateMessage::new()
            .content(log_text(event))
            .allowed_mentions(no_pings());
        self.send(log_channel_id, message, "posting to the log channel")
            .await
    }

    async fn announce(&self, channel_id: u64, notice: &Notice) -> Result<(), DiscordFailure> {
        let text = match notice {
            Notice::Claimed { by } => {
                format!("🙋 <@{by}> has claimed this ticket and will help you.")
            }
            Notice::Released { by } => {
                format!("↩️ <@{by}> released this ticket; any staff member can pick it up.")
            }
            Notice::MemberAdded { user_id, by } => {
                format!("➕ <@{user_id}> was added to this ticket by <@{by}>.")
            }
        };
        let message = CreateMessage::new()
            .content(text)
            .allowed_mentions(no_pings());
        self.send(channel_id, message, "announcing in the ticket")
            .await
    }

    async fn delete_channel(
        &self,
        guild_id: u64,
        channel_id: u64,
        reason: DeleteReason,
    ) -> Result<(), DiscordFailure> {
        let channel = ChannelId::new(channel_id);
        self.cache.forget_channel(GuildId::new(guild_id), channel);
        let why = match reason {
            DeleteReason::Closed => "Tessera: ticket closed",
            DeleteReason::Undo => "Tessera: undoing a failed ticket",
        };
        self.http
            .delete_channel(channel, Some(why))
            .await
            .map(drop)
            .map_err(|err| refused(&err, "deleting a ticket channel"))
    }

    async fn grant_member(&self, channel_id: u64, user_id: u64) -> Result<(), DiscordFailure> {
        let overwrite = PermissionOverwrite {
            allow: OPENER_ALLOW,
            deny: Permissions::empty(),
            kind: PermissionOverwriteType::Member(UserId::new(user_id)),
        };
        ChannelId::new(channel_id)
            .create_permission(self.http, overwrite)
            .await
            .map_err(|err| refused(&err, "editing ticket overwrites"))
    }

    async fn capture(
        &self,
        guild_id: u64,
        channel_id: u64,
        limits: CaptureLimits,
    ) -> Result<Captured, DiscordFailure> {
        super::capture::capture(
            self.http, self.cache, self.cdn, guild_id, channel_id, limits,
        )
        .await
        .map_err(|err| refused(&err, "reading the ticket's messages for its transcript"))
    }

    async fn dm_transcript(
        &self,
        user_id: u64,
        n: i64,
        guild_name: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), DiscordFailure> {
        let channel = UserId::new(user_id)
            .create_dm_channel(self.http)
            .await
            .map_err(|err| refused(&err, "opening a DM for a transcript"))?;
        let server = if guild_name.is_empty() {
            "the server".to_owned()
        } else {
            format!("**{}**", neutralise(guild_name))
        };
        let message = CreateMessage::new()
            .content(format!(
                "Your ticket {} in {server} was closed. Here is its transcript: open the file in a browser to read it.",
                number(n)
            ))
            .allowed_mentions(no_pings())
            .add_file(CreateAttachment::bytes(bytes, file_name));
        channel
            .id
            .send_message(self.http, message)
            .await
            .map(drop)
            .map_err(|err| refused(&err, "sending a transcript by DM"))
    }

    async fn guild_name(&self, guild_id: u64) -> String {
        match GuildId::new(guild_id).to_partial_guild(self.http).await {
            Ok(guild) => guild.name,
            Err(_) => String::new(),
        }
    }

    async fn post_log_file(
        &self,
        log_channel_id: u64,
        event: &LogEvent,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), DiscordFailure> {
        let message = CreateMessage::new()
            .content(log_text(event))
            .allowed_mentions(no_pings())
            .add_file(CreateAttachment::bytes(bytes, file_name));
        self.send(
            log_channel_id,
            message,
            "posting a transcript to the log channel",
        )
        .await
    }

    async fn revoke_member(&self, channel_id: u64, user_id: u64) -> Result<(), DiscordFailure> {
        ChannelId::new(channel_id)
            .delete_permission(
                self.http,
                PermissionOverwriteType::Member(UserId::new(user_id)),
            )
            .await
            .map_err(|err| refused(&err, "editing ticket overwrites"))
    }
}

/// The words of a log-channel notice.
fn log_text(event: &LogEvent) -> String {
    match event {
        LogEvent::Opened {
            number: n,
            opener_id,
            channel_id,
        } => format!(
            "📥 Ticket {} opened by <@{opener_id}> in <#{channel_id}>.",
            number(*n)
        ),
        LogEvent::Closed {
            number: n,
            opener_id,
            closer_id,
            reason,
        } => format!(
            "🔒 Ticket {} (opened by <@{opener_id}>) closed by <@{closer_id}>. Reason: {}",
            number(*n),
            // The closer's own words: inert, like every other member text.
            reason.as_deref().map_or_else(|| "none given".to_owned(), neutralise)
        ),
        LogEvent::ChannelNotDeleted {
            channel_id,
            failure,
        } => format!(
            "⚠️ A closed ticket's channel <#{channel_id}> could not be deleted: {} Delete it by hand.",
            match failure {
                DiscordFailure::MissingPermissions =>
                    "Tessera needs **Manage Channels** there.".to_owned(),
                other => super::failure::generic_advice(*other).to_owned(),
            }
        ),
        LogEvent::ChannelGone {
            number: n,
            opener_id,
        } => format!(
            "🗑️ The channel of ticket {} (opened by <@{opener_id}>) was deleted, so the ticket is closed.",
            number(*n)
        ),
        LogEvent::Transcript {
            number: n,
            opener_id,
            closer_id,
            claimed_by,
            reason,
            opened_at,
            closed_at,
            messages,
        } => format!(
            "🔒 Ticket {} (opened by <@{opener_id}> <t:{}:f>) closed by <@{closer_id}> <t:{}:f>. \
             Claimed by: {}. Reason: {}. Transcript: {messages} messages, attached.",
            number(*n),
            opened_at / 1000,
            closed_at / 1000,
            claimed_by.map_or_else(|| "nobody".to_owned(), |c| format!("<@{c}>")),
            reason.as_deref().map_or_else(|| "none given".to_owned(), neutralise)
        ),
        LogEvent::IntegrationDisabled(disabled) => format!(
            "⚠️ The integration **{}** failed {} times within a short time, more often than it worked, \
             and is now **disabled** in this server (last failure: {}). Tickets open without it. \
             After fixing its settings, an admin can turn it back on with `/integrations enable {}`.",
            neutralise(&disabled.name),
            disabled.failures,
            disabled.last_error,
            disabled.plugin_id
        ),
        LogEvent::IntegrationNeedsAttention(stuck) => format!(
            "⚠️ The integration **{}** needs an admin: {}. Tickets open without it until then.",
            neutralise(&stuck.name),
            stuck.why
        ),
    }
}
