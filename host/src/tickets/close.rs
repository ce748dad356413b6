//! Closing a ticket: the closure is stored first, then logged; the channel goes last, after the
//! closer has their answer (the answer may live in that channel).

use super::port::DeleteReason;
use super::{
    Caller, DiscordFailure, DiscordPort, Doing, LogEvent, PluginPort, TicketError, Tickets,
};
use crate::store::{GuildSettings, Ticket};

/// The result of asking to close a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// Closed and recorded; its channel is to be deleted with [`Tickets::delete_channel`].
    Closed(Ticket),
    /// Only the opener or staff may close a ticket.
    NotAllowed,
    /// Someone else closed it first.
    AlreadyClosed,
}

impl<D: DiscordPort, P: PluginPort> Tickets<'_, D, P> {
    /// Whether `caller` may close `ticket` (for a confirm step before [`Tickets::close`]).
    pub fn may_close(&self, caller: &Caller, ticket: &Ticket, settings: &GuildSettings) -> bool {
        caller.may_close(ticket, settings)
    }

    /// Closes `ticket` for `caller`.
    #[tracing::instrument(skip_all, fields(guild_id = ticket.guild_id, ticket_id = ticket.id))]
    pub async fn close(
        &self,
        caller: &Caller,
        ticket: &Ticket,
        settings: &GuildSettings,
        reason: Option<&str>,
    ) -> Result<CloseOutcome, TicketError> {
        if !caller.may_close(ticket, settings) {
            return Ok(CloseOutcome::NotAllowed);
        }
        let Some(closed) = self
            .store
            .close_ticket(ticket.id, caller.user_id, reason)
            .await
            .doing("closing a ticket")?
        else {
            return Ok(CloseOutcome::AlreadyClosed);
        };
        if let Some(log) = settings.log_channel_id {
            let event = LogEvent::Closed {
                number: closed.number,
                opener_id: closed.opener_id,
                closer_id: caller.user_id,
                reason: reason.map(str::to_owned),
            };
            let _ = self.discord.post_log(log, &event).await;
        }
        Ok(CloseOutcome::Closed(closed))
    }

    /// Deletes a closed ticket's channel. A channel that is already gone counts as deleted.
    pub async fn delete_channel(
        &self,
        guild_id: u64,
        channel_id: u64,
    ) -> Result<(), DiscordFailure> {
        match self
            .discord
            .delete_channel(guild_id, channel_id, DeleteReason::Closed)
            .await
        {
            Err(DiscordFailure::NotFound) => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TicketStatus;
    use crate::tickets::fake::{manager, member, staff, World};

    #[tokio::test]
    async fn the_opener_may_close_their_ticket() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let outcome = world
            .tickets()
            .close(&member(5), &ticket, &settings, Some("solved"))
            .await
            .unwrap();
        let CloseOutcome::Closed(closed) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(closed.status, TicketStatus::Closed);
        assert_eq!(closed.close_reason.as_deref(), Some("solved"));
        world.seen(|s| {
            assert!(s.logs.iter().any(|(_, e)| matches!(
                e,
                LogEvent::Closed { closer_id: 5, reason: Some(r), .. } if r == "solved"
            )))
        });
    }

    #[tokio::test]
    async fn staff_and_managers_may_close_any_ticket() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        assert!(matches!(
            world
                .tickets()
                .close(&staff(8), &ticket, &settings, None)
                .await
                .unwrap(),
            CloseOutcome::Closed(_)
        ));
        let (ticket, settings) = world.open_ticket(6).await;
        assert!(world.tickets().may_close(&manager(9), &ticket, &settings));
    }

    #[tokio::test]
    async fn a_stranger_cannot_close_someone_elses_ticket() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        assert!(!world.tickets().may_close(&member(6), &ticket, &settings));
        assert_eq!(
            world
                .tickets()
                .close(&member(6), &ticket, &settings, None)
                .await
                .unwrap(),
            CloseOutcome::NotAllowed
        );
        let stored = world.store.ticket(ticket.id).await.unwrap().unwrap();
        assert_eq!(stored.status, TicketStatus::Open);
    }

    #[tokio::test]
    async fn a_second_close_finds_it_already_closed() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        tickets
            .close(&member(5), &ticket, &settings, None)
            .await
            .unwrap();
        assert_eq!(
            tickets
                .close(&staff(8), &ticket, &settings, None)
                .await
                .unwrap(),
            CloseOutcome::AlreadyClosed
        );
    }

    #[tokio::test]
    async fn a_channel_already_gone_counts_as_deleted() {
        let world = World::set_up(1).await;
        world.refuse(|s| s.refuse_delete = Some(DiscordFailure::NotFound));
        assert_eq!(world.tickets().delete_channel(1, 2).await, Ok(()));
        world.refuse(|s| s.refuse_delete = Some(DiscordFailure::MissingPermissions));
        assert_eq!(
            world.tickets().delete_channel(1, 2).await,
            Err(DiscordFailure::MissingPermissions)
        );
    }
}
