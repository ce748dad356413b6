//! The parts of a command, button or modal interaction every handler needs, and the [`Caller`]
//! the ticket service sees.

use serenity::model::application::{CommandInteraction, ComponentInteraction, ModalInteraction};
use serenity::model::guild::Member;
use serenity::model::id::{ApplicationId, ChannelId, GuildId, InteractionId};
use serenity::model::permissions::Permissions;
use serenity::model::user::User;

use crate::tickets::Caller;

/// One interaction, whether a slash command or a button.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// For the log and for references shown to members.
    pub id: InteractionId,
    /// For answering.
    pub token: &'a str,
    /// `None` in DMs.
    pub guild_id: Option<GuildId>,
    /// Where it was used.
    pub channel_id: ChannelId,
    /// The caller.
    pub user: &'a User,
    /// The caller as a server member (with computed permissions), `None` in DMs.
    pub member: Option<&'a Member>,
    /// The bot's application; a bot user's id is its application's id.
    pub application_id: ApplicationId,
    /// The largest file the answer may carry here, bytes (Discord's limit for this place).
    pub attachment_size_limit: u32,
}

/// serenity's command, component and modal interactions carry these fields under the same names.
macro_rules! invocation {
    ($i:expr, member: $member:expr) => {
        Invocation {
            id: $i.id,
            token: &$i.token,
            guild_id: $i.guild_id,
            channel_id: $i.channel_id,
            user: &$i.user,
            member: $member,
            application_id: $i.application_id,
            attachment_size_limit: $i.attachment_size_limit,
        }
    };
}

impl<'a> Invocation<'a> {
    /// From a slash command.
    pub fn command(c: &'a CommandInteraction) -> Invocation<'a> {
        invocation!(c, member: c.member.as_deref())
    }

    /// From a button.
    pub fn component(c: &'a ComponentInteraction) -> Invocation<'a> {
        invocation!(c, member: c.member.as_ref())
    }

    /// From a submitted modal.
    pub fn modal(m: &'a ModalInteraction) -> Invocation<'a> {
        invocation!(m, member: m.member.as_ref())
    }

    /// The caller's permissions in the channel, as Discord computed them.
    pub fn permissions(&self) -> Permissions {
        self.member
            .and_then(|m| m.permissions)
            .unwrap_or_else(Permissions::empty)
    }

    /// Whether the caller may manage the server (Manage Server or Administrator).
    pub fn is_manager(&self) -> bool {
        let p = self.permissions();
        p.contains(Permissions::MANAGE_GUILD) || p.contains(Permissions::ADMINISTRATOR)
    }

    /// The caller as the ticket service sees them; `None` outside a server.
    pub fn caller(&self) -> Option<Caller> {
        let guild_id = self.guild_id?;
        Some(Caller {
            user_id: self.user.id.get(),
            guild_id: guild_id.get(),
            roles: self
                .member
                .map(|m| m.roles.iter().map(|r| r.get()).collect())
                .unwrap_or_default(),
            manages_server: self.is_manager(),
        })
    }
}
