//! Tickets whose channel is gone: deleted by hand (Discord's CHANNEL_DELETE), or while the bot
//! was offline (found when the server's channel list arrives at start). Such a ticket is closed
//! and recorded as such, so its member is not locked out by the open-ticket limit.

use super::{DiscordPort, Doing, LogEvent, PluginPort, TicketError, Tickets};
use crate::store::Ticket;

/// The close reason recorded for a ticket whose channel vanished.
pub const CHANNEL_GONE: &str = "its channel was deleted";

impl<D: DiscordPort, P: PluginPort> Tickets<'_, D, P> {
    /// The channel `channel_id` of `guild_id` was deleted: closes its ticket if it was an open
    /// one (by the bot, reason [`CHANNEL_GONE`]) and tells the log channel. The closed ticket,
    /// if there was one.
    pub async fn channel_gone(
        &self,
        guild_id: u64,
        channel_id: u64,
    ) -> Result<Option<Ticket>, TicketError> {
        let Some((ticket, settings)) = self.open_in_channel(guild_id, channel_id).await? else {
            return Ok(None);
        };
        let Some(closed) = self
            .store
            .close_ticket(ticket.id, self.bot_id, Some(CHANNEL_GONE))
            .await
            .doing("closing a ticket whose channel was deleted")?
        else {
            return Ok(None);
        };
        tracing::info!(
            guild_id,
            ticket_id = closed.id,
            "a ticket's channel was deleted; the ticket is closed"
        );
        if let Some(log) = settings.log_channel_id {
            let event = LogEvent::ChannelGone {
                number: closed.number,
                opener_id: closed.opener_id,
            };
            let _ = self.discord.post_log(log, &event).await;
        }
        Ok(Some(closed))
    }

    /// The server's channels are `present` (its full list, as the bot joined or reconnected):
    /// every open ticket of `guild_id` whose channel is not among them is closed as
    /// [`Tickets::channel_gone`] does. How many.
    pub async fn sweep_vanished(
        &self,
        guild_id: u64,
        present: &[u64],
    ) -> Result<usize, TicketError> {
        // Only open tickets' channels are read: this runs for every server at every start.
        let channels = self
            .store
            .open_ticket_channels(guild_id)
            .await
            .doing("listing a server's open tickets")?;
        let mut closed = 0;
        for channel in channels.into_iter().filter(|c| !present.contains(c)) {
            if self.channel_gone(guild_id, channel).await?.is_some() {
                closed += 1;
            }
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TicketStatus;
    use crate::tickets::fake::{World, GUILD};
    use crate::tickets::open::{OpenOutcome, Origin};

    #[tokio::test]
    async fn a_deleted_channel_closes_its_ticket_and_frees_the_members_limit() {
        let world = World::set_up(1).await;
        let (ticket, _) = world.open_ticket(5).await;
        let channel = ticket.channel_id.unwrap();
        let closed = world
            .tickets()
            .channel_gone(GUILD, channel)
            .await
            .unwrap()
            .expect("closed");
        assert_eq!(closed.status, TicketStatus::Closed);
        assert_eq!(closed.close_reason.as_deref(), Some(CHANNEL_GONE));
        assert_eq!(closed.closed_by, Some(crate::tickets::fake::BOT));
        world.seen(|s| {
            assert!(s
                .logs
                .iter()
                .any(|(_, e)| matches!(e, LogEvent::ChannelGone { opener_id: 5, .. })))
        });
        // Deleted again (the bot's own delete after a close, say): nothing more happens.
        assert!(world
            .tickets()
            .channel_gone(GUILD, channel)
            .await
            .unwrap()
            .is_none());
        // The member, limited to one open ticket, can open a new one.
        let again = world
            .tickets()
            .open(&crate::tickets::fake::member(5), Origin::Direct, None)
            .await
            .unwrap();
        assert!(matches!(again, OpenOutcome::Opened { .. }), "{again:?}");
    }

    #[tokio::test]
    async fn a_sweep_closes_only_tickets_whose_channel_is_missing() {
        let world = World::set_up(3).await;
        let (kept, _) = world.open_ticket(5).await;
        let (gone, _) = world.open_ticket(6).await;
        let n = world
            .tickets()
            .sweep_vanished(GUILD, &[kept.channel_id.unwrap(), 424242])
            .await
            .unwrap();
        assert_eq!(n, 1);
        let status = |id| {
            let store = world.store.clone();
            async move { store.ticket(id).await.unwrap().unwrap().status }
        };
        assert_eq!(status(kept.id).await, TicketStatus::Open);
        assert_eq!(status(gone.id).await, TicketStatus::Closed);
    }
}
