//! Finding the open ticket an action is about.

use super::{DiscordPort, Doing, PluginPort, TicketError, Tickets};
use crate::store::{GuildSettings, Ticket, TicketStatus};

impl<D: DiscordPort, P: PluginPort> Tickets<'_, D, P> {
    /// The open ticket whose channel is `channel_id` in `guild_id`, with the server's settings.
    /// `None` if the channel is not an open ticket of that server.
    pub async fn open_in_channel(
        &self,
        guild_id: u64,
        channel_id: u64,
    ) -> Result<Option<(Ticket, GuildSettings)>, TicketError> {
        let Some(ticket) = self
            .store
            .ticket_by_channel(channel_id)
            .await
            .doing("finding the ticket of a channel")?
        else {
            return Ok(None);
        };
        self.open_with_settings(guild_id, ticket).await
    }

    /// The open ticket `ticket_id` of `guild_id` (another server's id finds nothing).
    pub async fn open_by_id(
        &self,
        guild_id: u64,
        ticket_id: i64,
    ) -> Result<Option<(Ticket, GuildSettings)>, TicketError> {
        let Some(ticket) = self
            .store
            .ticket(ticket_id)
            .await
            .doing("finding a ticket")?
        else {
            return Ok(None);
        };
        self.open_with_settings(guild_id, ticket).await
    }

    async fn open_with_settings(
        &self,
        guild_id: u64,
        ticket: Ticket,
    ) -> Result<Option<(Ticket, GuildSettings)>, TicketError> {
        if ticket.guild_id != guild_id || ticket.status != TicketStatus::Open {
            return Ok(None);
        }
        let settings = self
            .store
            .guild_settings(guild_id)
            .await
            .doing("reading the server's settings")?;
        Ok(settings.map(|s| (ticket, s)))
    }
}
