//! Who is in a ticket besides its opener and staff: staff add and remove members.

use super::{Caller, DiscordFailure, DiscordPort, Doing, Notice, PluginPort, TicketError, Tickets};
use crate::store::{GuildSettings, Ticket};

/// The result of adding or removing someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// Done (and recorded).
    Done,
    /// Only staff can change who is in a ticket.
    NotStaff,
    /// The target is Tessera itself, which is always in its tickets.
    IsTheBot,
    /// The target opened the ticket and cannot be removed from it.
    IsTheOpener,
    /// The ticket's channel is still being created.
    NoChannel,
    /// Discord refused to change the channel's permissions.
    Refused(DiscordFailure),
}

impl<D: DiscordPort, P: PluginPort> Tickets<'_, D, P> {
    /// Gives `user_id` access to `ticket` (staff only).
    #[tracing::instrument(skip_all, fields(guild_id = ticket.guild_id, ticket_id = ticket.id))]
    pub async fn add_member(
        &self,
        caller: &Caller,
        ticket: &Ticket,
        settings: &GuildSettings,
        user_id: u64,
    ) -> Result<MemberChange, TicketError> {
        if !caller.is_staff(settings) {
            return Ok(MemberChange::NotStaff);
        }
        if user_id == self.bot_id {
            return Ok(MemberChange::IsTheBot);
        }
        let Some(channel) = ticket.channel_id else {
            return Ok(MemberChange::NoChannel);
        };
        if let Err(failure) = self.discord.grant_member(channel, user_id).await {
            return Ok(MemberChange::Refused(failure));
        }
        self.store
            .add_ticket_member(ticket, user_id, caller.user_id)
            .await
            .doing("recording an added member")?;
        self.notice(
            ticket,
            Notice::MemberAdded {
                user_id,
                by: caller.user_id,
            },
        )
        .await;
        Ok(MemberChange::Done)
    }

    /// Takes `user_id`'s access to `ticket` away (staff only; never the opener or the bot).
    #[tracing::instrument(skip_all, fields(guild_id = ticket.guild_id, ticket_id = ticket.id))]
    pub async fn remove_member(
        &self,
        caller: &Caller,
        ticket: &Ticket,
        settings: &GuildSettings,
        user_id: u64,
    ) -> Result<MemberChange, TicketError> {
        if !caller.is_staff(settings) {
            return Ok(MemberChange::NotStaff);
        }
        if user_id == self.bot_id {
            return Ok(MemberChange::IsTheBot);
        }
        if user_id == ticket.opener_id {
            return Ok(MemberChange::IsTheOpener);
        }
        let Some(channel) = ticket.channel_id else {
            return Ok(MemberChange::NoChannel);
        };
        match self.discord.revoke_member(channel, user_id).await {
            // Someone without an overwrite of their own is already out.
            Ok(()) | Err(DiscordFailure::NotFound) => {}
            Err(failure) => return Ok(MemberChange::Refused(failure)),
        }
        self.store
            .remove_ticket_member(ticket, user_id, caller.user_id)
            .await
            .doing("recording a removed member")?;
        Ok(MemberChange::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::fake::{member, staff, World, BOT};

    #[tokio::test]
    async fn staff_add_and_remove_members_and_it_is_recorded() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        assert_eq!(
            tickets
                .add_member(&staff(8), &ticket, &settings, 42)
                .await
                .unwrap(),
            MemberChange::Done
        );
        assert_eq!(
            world.store.ticket_members(ticket.id).await.unwrap(),
            vec![42]
        );
        assert_eq!(
            tickets
                .remove_member(&staff(8), &ticket, &settings, 42)
                .await
                .unwrap(),
            MemberChange::Done
        );
        assert!(world
            .store
            .ticket_members(ticket.id)
            .await
            .unwrap()
            .is_empty());
        let channel = ticket.channel_id.unwrap();
        world.seen(|s| {
            assert_eq!(s.granted, vec![(channel, 42)]);
            assert_eq!(s.revoked, vec![(channel, 42)]);
        });
    }

    #[tokio::test]
    async fn members_cannot_add_or_remove_anyone() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        assert_eq!(
            tickets
                .add_member(&member(5), &ticket, &settings, 42)
                .await
                .unwrap(),
            MemberChange::NotStaff
        );
        assert_eq!(
            tickets
                .remove_member(&member(5), &ticket, &settings, 42)
                .await
                .unwrap(),
            MemberChange::NotStaff
        );
        world.seen(|s| assert!(s.granted.is_empty() && s.revoked.is_empty()));
    }

    #[tokio::test]
    async fn the_bot_is_never_added_or_removed() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        assert_eq!(
            tickets
                .add_member(&staff(8), &ticket, &settings, BOT)
                .await
                .unwrap(),
            MemberChange::IsTheBot
        );
        assert_eq!(
            tickets
                .remove_member(&staff(8), &ticket, &settings, BOT)
                .await
                .unwrap(),
            MemberChange::IsTheBot
        );
        world.seen(|s| assert!(s.granted.is_empty() && s.revoked.is_empty()));
    }

    #[tokio::test]
    async fn the_opener_cannot_be_removed() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        assert_eq!(
            world
                .tickets()
                .remove_member(&staff(8), &ticket, &settings, 5)
                .await
                .unwrap(),
            MemberChange::IsTheOpener
        );
        world.seen(|s| assert!(s.revoked.is_empty()));
    }

    #[tokio::test]
    async fn a_discord_refusal_changes_nothing_in_the_database() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        world.refuse(|s| s.refuse_grant = Some(DiscordFailure::MissingPermissions));
        assert_eq!(
            world
                .tickets()
                .add_member(&staff(8), &ticket, &settings, 42)
                .await
                .unwrap(),
            MemberChange::Refused(DiscordFailure::MissingPermissions)
        );
        assert!(world
            .store
            .ticket_members(ticket.id)
            .await
            .unwrap()
            .is_empty());
    }
}
