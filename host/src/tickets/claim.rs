//! Claiming a ticket: one staff member takes it; only they or a server manager can release it.

use super::{Caller, DiscordPort, Doing, Notice, PluginPort, TicketError, Tickets};
use crate::store::{ClaimOutcome, GuildSettings, Ticket};

/// The result of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The caller now holds it (announced in the ticket).
    Claimed,
    /// The caller already held it.
    AlreadyYours,
    /// Someone else holds it.
    HeldBy(u64),
    /// It closed meanwhile.
    NotOpen,
    /// Only staff can claim.
    NotStaff,
}

/// The result of releasing a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// Released (announced in the ticket).
    Released,
    /// Nobody holds it.
    NotClaimed,
    /// Someone else holds it, and the caller is not a server manager.
    HeldBy(u64),
    /// Only staff can unclaim.
    NotStaff,
}

impl<D: DiscordPort, P: PluginPort> Tickets<'_, D, P> {
    /// Claims `ticket` for `caller` (staff only). Two claims at once: exactly one wins.
    #[tracing::instrument(skip_all, fields(guild_id = ticket.guild_id, ticket_id = ticket.id))]
    pub async fn claim(
        &self,
        caller: &Caller,
        ticket: &Ticket,
        settings: &GuildSettings,
    ) -> Result<Claimed, TicketError> {
        if !caller.is_staff(settings) {
            return Ok(Claimed::NotStaff);
        }
        Ok(
            match self
                .store
                .claim_ticket(ticket.id, caller.user_id)
                .await
                .doing("claiming a ticket")?
            {
                ClaimOutcome::Claimed => {
                    self.notice(ticket, Notice::Claimed { by: caller.user_id })
                        .await;
                    Claimed::Claimed
                }
                ClaimOutcome::AlreadyClaimed(holder) if holder == caller.user_id => {
                    Claimed::AlreadyYours
                }
                ClaimOutcome::AlreadyClaimed(holder) => Claimed::HeldBy(holder),
                ClaimOutcome::NotOpen => Claimed::NotOpen,
            },
        )
    }

    /// Releases the claim on `ticket`: the claimer, or a server manager.
    #[tracing::instrument(skip_all, fields(guild_id = ticket.guild_id, ticket_id = ticket.id))]
    pub async fn unclaim(
        &self,
        caller: &Caller,
        ticket: &Ticket,
        settings: &GuildSettings,
    ) -> Result<Released, TicketError> {
        if !caller.is_staff(settings) {
            return Ok(Released::NotStaff);
        }
        let Some(holder) = ticket.claimed_by else {
            return Ok(Released::NotClaimed);
        };
        if holder != caller.user_id && !caller.is_manager() {
            return Ok(Released::HeldBy(holder));
        }
        // The holder may have changed since `ticket` was read: a non-manager releases only
        // their own claim, checked in the same statement.
        let only_if_held_by = (!caller.is_manager()).then_some(caller.user_id);
        if !self
            .store
            .unclaim_ticket(ticket.id, caller.user_id, only_if_held_by)
            .await
            .doing("releasing a claim")?
        {
            return Ok(Released::NotClaimed);
        }
        self.notice(ticket, Notice::Released { by: caller.user_id })
            .await;
        Ok(Released::Released)
    }

    /// Posts `notice` in the ticket; a failure is logged, never the caller's problem.
    pub(super) async fn notice(&self, ticket: &Ticket, notice: Notice) {
        if let Some(channel) = ticket.channel_id {
            let _ = self.discord.announce(channel, &notice).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::fake::{manager, member, staff, World};

    /// The ticket as it is stored now (claims change it).
    async fn fresh(world: &World, ticket: &Ticket) -> Ticket {
        world.store.ticket(ticket.id).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn only_staff_can_claim() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        assert_eq!(
            tickets.claim(&member(5), &ticket, &settings).await.unwrap(),
            Claimed::NotStaff
        );
        assert_eq!(
            tickets.claim(&staff(8), &ticket, &settings).await.unwrap(),
            Claimed::Claimed
        );
        assert_eq!(fresh(&world, &ticket).await.claimed_by, Some(8));
        world.seen(|s| {
            assert!(s
                .notices
                .iter()
                .any(|(_, n)| *n == Notice::Claimed { by: 8 }))
        });
        assert_eq!(
            tickets.claim(&staff(8), &ticket, &settings).await.unwrap(),
            Claimed::AlreadyYours
        );
    }

    #[tokio::test]
    async fn two_staff_claiming_at_once_exactly_one_wins() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        let (eight, nine) = (staff(8), staff(9));
        let (a, b) = tokio::join!(
            tickets.claim(&eight, &ticket, &settings),
            tickets.claim(&nine, &ticket, &settings)
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        let wins = outcomes.iter().filter(|o| **o == Claimed::Claimed).count();
        assert_eq!(wins, 1, "{outcomes:?}");
        let holder = fresh(&world, &ticket).await.claimed_by.expect("claimed");
        assert!(outcomes.contains(&Claimed::HeldBy(holder)), "{outcomes:?}");
    }

    #[tokio::test]
    async fn another_staff_member_cannot_release_a_claim_but_a_manager_can() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        tickets.claim(&staff(8), &ticket, &settings).await.unwrap();
        let ticket = fresh(&world, &ticket).await;
        assert_eq!(
            tickets
                .unclaim(&staff(9), &ticket, &settings)
                .await
                .unwrap(),
            Released::HeldBy(8)
        );
        assert_eq!(fresh(&world, &ticket).await.claimed_by, Some(8));
        assert_eq!(
            tickets
                .unclaim(&member(5), &ticket, &settings)
                .await
                .unwrap(),
            Released::NotStaff
        );
        assert_eq!(
            tickets
                .unclaim(&manager(1), &ticket, &settings)
                .await
                .unwrap(),
            Released::Released
        );
        assert_eq!(fresh(&world, &ticket).await.claimed_by, None);
    }

    #[tokio::test]
    async fn the_claimer_releases_their_own_claim() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let tickets = world.tickets();
        tickets.claim(&staff(8), &ticket, &settings).await.unwrap();
        let ticket = fresh(&world, &ticket).await;
        assert_eq!(
            tickets
                .unclaim(&staff(8), &ticket, &settings)
                .await
                .unwrap(),
            Released::Released
        );
        let ticket = fresh(&world, &ticket).await;
        assert_eq!(
            tickets
                .unclaim(&staff(8), &ticket, &settings)
                .await
                .unwrap(),
            Released::NotClaimed
        );
    }
}
