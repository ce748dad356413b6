//! Opening a ticket: the server's rules, a reserved number, the channel, the integrations, the
//! welcome message; and undoing whatever was half made when Discord refuses.

use super::port::DeleteReason;
use super::{
    Caller, ChannelRequest, DiscordFailure, DiscordPort, Doing, LogEvent, PluginPort, TicketError,
    Tickets, Welcome,
};
use crate::integrations::dispatch::{auto_disabled, needing_attention};
use crate::integrations::PluginRun;
use crate::store::{NewTicket, OpenRefusal, Ticket};

/// Where the request to open came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A panel's button (the panel may have been deleted since it was posted).
    Panel(i64),
    /// `/open`, or any door without a panel.
    Direct,
}

/// The result of asking to open a ticket.
#[derive(Debug, Clone)]
pub enum OpenOutcome {
    /// The ticket is open in `channel_id`.
    Opened {
        /// The ticket as stored.
        ticket: Ticket,
        /// Its channel.
        channel_id: u64,
        /// What each integration did.
        runs: Vec<PluginRun>,
    },
    /// Nothing was opened, and nothing half-made remains.
    Refused(OpenRefused),
}

/// Why no ticket was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenRefused {
    /// `/setup` has not been run in this server.
    NotSetUp,
    /// The caller is on the server's blacklist.
    Blacklisted,
    /// The caller already has `max_open` tickets open.
    LimitReached {
        /// The channel of their oldest open ticket (`None` while it is being created).
        open_channel: Option<u64>,
        /// The server's limit.
        max_open: u8,
    },
    /// The caller opened a ticket less than the open cooldown ago.
    Cooldown {
        /// When they may open again, unix ms.
        retry_at_ms: i64,
    },
    /// The server has as many open tickets as it allows.
    ServerFull {
        /// The server's cap.
        max_open_total: u32,
    },
    /// Discord refused to create the channel.
    ChannelRefused {
        /// How.
        failure: DiscordFailure,
        /// The category it was to go in.
        category_id: Option<u64>,
    },
    /// Discord refused the welcome message; the channel was removed again.
    WelcomeRefused(DiscordFailure),
    /// The server's data was deleted (the bot was removed) while the ticket was being made.
    SwitchedOff,
}

impl<D: DiscordPort, P: PluginPort> Tickets<'_, D, P> {
    /// Opens a ticket for `caller` in their server.
    #[tracing::instrument(skip_all, fields(guild_id = caller.guild_id, user_id = caller.user_id, ticket_id))]
    pub async fn open(
        &self,
        caller: &Caller,
        origin: Origin,
        subject: Option<String>,
    ) -> Result<OpenOutcome, TicketError> {
        let panel_id = match origin {
            // A panel whose row is gone still opens tickets: its button is the admins' promise.
            Origin::Panel(id) => self
                .store
                .panel_exists(caller.guild_id, id)
                .await
                .doing("looking up the panel")?
                .then_some(id),
            Origin::Direct => None,
        };
        let new = NewTicket {
            guild_id: caller.guild_id,
            opener_id: caller.user_id,
            panel_id,
            subject,
            default_cooldown_secs: self.open_cooldown_secs,
            roles: caller.roles.clone(),
        };
        let refused = |why| Ok(OpenOutcome::Refused(why));
        let (ticket, settings) = match self.store.open_ticket(&new).await {
            Ok(opened) => opened,
            Err(OpenRefusal::NotSetUp) => return refused(OpenRefused::NotSetUp),
            Err(OpenRefusal::Blacklisted) => return refused(OpenRefused::Blacklisted),
            Err(OpenRefusal::LimitReached { open, max_open }) => {
                return refused(OpenRefused::LimitReached {
                    open_channel: open.channel_id,
                    max_open,
                })
            }
            Err(OpenRefusal::Cooldown { retry_at_ms }) => {
                return refused(OpenRefused::Cooldown { retry_at_ms })
            }
            Err(OpenRefusal::ServerFull { max_open_total }) => {
                return refused(OpenRefused::ServerFull { max_open_total })
            }
            Err(OpenRefusal::Store(err)) => return Err(err).doing("reserving a ticket"),
        };
        tracing::Span::current().record("ticket_id", ticket.id);

        let request = ChannelRequest {
            guild_id: caller.guild_id,
            name: ticket.channel_name(),
            number: ticket.number,
            opener_id: caller.user_id,
            staff_role_id: settings.staff_role_id,
            category_id: settings.category_id,
        };
        let channel_id = match self.discord.create_ticket_channel(&request).await {
            Ok(id) => id,
            Err(failure) => {
                self.undo_reservation(&ticket).await;
                return refused(OpenRefused::ChannelRefused {
                    failure,
                    category_id: settings.category_id,
                });
            }
        };
        match self.store.attach_channel(ticket.id, channel_id).await {
            Ok(true) => {}
            Ok(false) => {
                // The server's data was deleted meanwhile: no row, so no channel either.
                let _ = self
                    .discord
                    .delete_channel(caller.guild_id, channel_id, DeleteReason::Undo)
                    .await;
                return refused(OpenRefused::SwitchedOff);
            }
            Err(err) => {
                self.undo_half_made(&ticket, channel_id).await;
                return Err(err).doing("attaching the channel to its ticket");
            }
        }

        // The channel exists: the integrations get the opener's ID, bounded by the event timeout;
        // whatever they do, the ticket opens.
        let runs = self
            .plugins
            .run_at_open(self.store, caller.guild_id, ticket.id, caller.user_id)
            .await;
        let welcome = Welcome {
            template: settings.welcome_template.clone(),
            opener_id: caller.user_id,
            number: ticket.number,
            subject: ticket.subject.clone(),
            runs: runs.clone(),
        };
        if let Err(failure) = self.discord.post_welcome(channel_id, &welcome).await {
            tracing::warn!(
                ?failure,
                "posting the welcome message failed; undoing the ticket"
            );
            self.undo_half_made(&ticket, channel_id).await;
            return refused(OpenRefused::WelcomeRefused(failure));
        }

        crate::stats::ticket_opened(self.store, &ticket).await;
        if let Some(log) = settings.log_channel_id {
            let opened = LogEvent::Opened {
                number: ticket.number,
                opener_id: caller.user_id,
                channel_id,
            };
            let _ = self.discord.post_log(log, &opened).await;
            for disabled in auto_disabled(&runs, self.plugins.disable_after()) {
                let event = LogEvent::IntegrationDisabled(disabled);
                let _ = self.discord.post_log(log, &event).await;
            }
            for stuck in needing_attention(&runs) {
                let event = LogEvent::IntegrationNeedsAttention(stuck);
                let _ = self.discord.post_log(log, &event).await;
            }
        }
        Ok(OpenOutcome::Opened {
            ticket,
            channel_id,
            runs,
        })
    }

    async fn undo_reservation(&self, ticket: &Ticket) {
        if let Err(err) = self.store.discard_ticket(ticket.id).await {
            // A reservation without a channel is swept at the next start.
            tracing::error!(error = %err, ticket_id = ticket.id, "could not discard a failed ticket");
        }
    }

    /// Undoes a ticket whose channel exists but could not be finished. If the channel cannot be
    /// deleted, its row stays (closed, with the reason) so no channel is left without a record.
    async fn undo_half_made(&self, ticket: &Ticket, channel_id: u64) {
        if self
            .discord
            .delete_channel(ticket.guild_id, channel_id, DeleteReason::Undo)
            .await
            .is_ok()
        {
            self.undo_reservation(ticket).await;
            return;
        }
        let recorded = async {
            self.store.attach_channel(ticket.id, channel_id).await?;
            self.store
                .close_ticket(
                    ticket.id,
                    self.bot_id,
                    Some("Tessera could not finish creating this ticket"),
                )
                .await
        };
        if let Err(err) = recorded.await {
            tracing::error!(error = %err, ticket_id = ticket.id, "could not record a half-made ticket");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::runtime::PluginFailure;
    use crate::store::{Store, TicketStatus};
    use crate::tickets::fake::{member, World, GUILD, STAFF_ROLE};

    async fn open(world: &World, user: u64) -> OpenOutcome {
        world
            .tickets()
            .open(&member(user), Origin::Direct, None)
            .await
            .expect("open")
    }

    fn opened(outcome: OpenOutcome) -> (Ticket, u64) {
        match outcome {
            OpenOutcome::Opened {
                ticket, channel_id, ..
            } => (ticket, channel_id),
            OpenOutcome::Refused(why) => panic!("refused: {why:?}"),
        }
    }

    #[tokio::test]
    async fn opening_makes_a_private_channel_posts_the_welcome_and_logs_it() {
        let world = World::set_up(1).await;
        let (ticket, channel) = opened(
            world
                .tickets()
                .open(&member(5), Origin::Direct, Some("billing".into()))
                .await
                .expect("open"),
        );
        assert_eq!(
            ticket.channel_id, None,
            "the outcome carries the reserved row"
        );
        let stored = world.store.ticket(ticket.id).await.unwrap().unwrap();
        assert_eq!(stored.channel_id, Some(channel));
        assert_eq!(stored.status, TicketStatus::Open);
        world.seen(|s| {
            assert_eq!(s.created.len(), 1);
            assert_eq!(s.created[0].opener_id, 5);
            assert_eq!(s.created[0].staff_role_id, STAFF_ROLE);
            assert_eq!(s.created[0].name, "ticket-0001");
            assert_eq!(s.welcomes.len(), 1);
            assert_eq!(s.welcomes[0].0, channel);
            assert_eq!(s.welcomes[0].1.subject.as_deref(), Some("billing"));
            assert!(matches!(
                s.logs[..],
                [(
                    777,
                    LogEvent::Opened {
                        number: 1,
                        opener_id: 5,
                        ..
                    }
                )]
            ));
        });
    }

    #[tokio::test]
    async fn tickets_are_numbered_per_server_and_numbers_are_never_reused() {
        let world = World::set_up(10).await;
        let (first, _) = opened(open(&world, 5).await);
        let (second, _) = opened(open(&world, 6).await);
        assert_eq!((first.number, second.number), (1, 2));
        world.refuse(|s| s.refuse_create = Some(DiscordFailure::Unavailable));
        assert!(matches!(open(&world, 7).await, OpenOutcome::Refused(_)));
        world.refuse(|s| s.refuse_create = None);
        let (third, _) = opened(open(&world, 7).await);
        assert!(third.number > second.number);
    }

    #[tokio::test]
    async fn a_server_that_was_not_set_up_refuses_and_creates_nothing() {
        let world = World::bare().await;
        assert!(matches!(
            open(&world, 5).await,
            OpenOutcome::Refused(OpenRefused::NotSetUp)
        ));
        world.seen(|s| assert!(s.created.is_empty()));
    }

    #[tokio::test]
    async fn a_member_waits_out_the_open_cooldown_and_the_server_may_set_its_own() {
        let world = World::set_up(5).await;
        let tickets = world.tickets().with_open_cooldown(60);
        let first = tickets
            .open(&member(5), Origin::Direct, None)
            .await
            .unwrap();
        assert!(matches!(first, OpenOutcome::Opened { .. }), "{first:?}");
        let again = tickets
            .open(&member(5), Origin::Direct, None)
            .await
            .unwrap();
        let OpenOutcome::Refused(OpenRefused::Cooldown { retry_at_ms }) = again else {
            panic!("{again:?}")
        };
        let now = crate::store::now_ms();
        assert!(
            retry_at_ms > now && retry_at_ms <= now + 60_000,
            "{retry_at_ms}"
        );
        // Another member is not held back by it.
        let other = tickets
            .open(&member(6), Origin::Direct, None)
            .await
            .unwrap();
        assert!(matches!(other, OpenOutcome::Opened { .. }), "{other:?}");
        // The server turns the cooldown off for itself.
        let update = crate::store::SettingsUpdate {
            staff_role_id: crate::tickets::fake::STAFF_ROLE,
            open_cooldown_secs: Some(0),
            ..crate::store::SettingsUpdate::default()
        };
        world.store.save_settings(GUILD, &update).await.unwrap();
        let now_allowed = tickets
            .open(&member(5), Origin::Direct, None)
            .await
            .unwrap();
        assert!(
            matches!(now_allowed, OpenOutcome::Opened { .. }),
            "{now_allowed:?}"
        );
    }

    #[tokio::test]
    async fn a_server_wide_cap_refuses_opens_beyond_it() {
        let world = World::set_up(5).await;
        let update = crate::store::SettingsUpdate {
            staff_role_id: crate::tickets::fake::STAFF_ROLE,
            max_open_total: Some(2),
            ..crate::store::SettingsUpdate::default()
        };
        world.store.save_settings(GUILD, &update).await.unwrap();
        opened(open(&world, 5).await);
        opened(open(&world, 6).await);
        assert!(matches!(
            open(&world, 7).await,
            OpenOutcome::Refused(OpenRefused::ServerFull { max_open_total: 2 })
        ));
    }

    #[tokio::test]
    async fn a_member_with_a_blacklisted_role_cannot_open() {
        let world = World::set_up(1).await;
        world
            .store
            .blacklist_role_add(GUILD, 4_242, Some("raiders"), 1)
            .await
            .unwrap();
        let mut caller = member(5);
        caller.roles = vec![17, 4_242];
        let outcome = world
            .tickets()
            .open(&caller, Origin::Direct, None)
            .await
            .unwrap();
        assert!(
            matches!(outcome, OpenOutcome::Refused(OpenRefused::Blacklisted)),
            "{outcome:?}"
        );
        // Members without that role still can; lifting it lets the member in.
        opened(open(&world, 6).await);
        assert!(world
            .store
            .blacklist_role_remove(GUILD, 4_242)
            .await
            .unwrap());
        let outcome = world
            .tickets()
            .open(&caller, Origin::Direct, None)
            .await
            .unwrap();
        assert!(matches!(outcome, OpenOutcome::Opened { .. }), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_blacklisted_member_cannot_open() {
        let world = World::set_up(1).await;
        world
            .store
            .blacklist_add(GUILD, 5, Some("spam"), 1)
            .await
            .unwrap();
        assert!(matches!(
            open(&world, 5).await,
            OpenOutcome::Refused(OpenRefused::Blacklisted)
        ));
        world.seen(|s| assert!(s.created.is_empty()));
        // Others still can.
        opened(open(&world, 6).await);
    }

    #[tokio::test]
    async fn the_open_limit_points_to_the_ticket_already_open() {
        let world = World::set_up(2).await;
        let (_, first_channel) = opened(open(&world, 5).await);
        opened(open(&world, 5).await);
        match open(&world, 5).await {
            OpenOutcome::Refused(OpenRefused::LimitReached {
                open_channel,
                max_open,
            }) => {
                assert_eq!(max_open, 2);
                assert_eq!(open_channel, Some(first_channel));
            }
            other => panic!("expected the limit, got {other:?}"),
        }
        world.seen(|s| assert_eq!(s.created.len(), 2));
    }

    #[tokio::test]
    async fn a_refused_channel_leaves_no_ticket_behind() {
        let world = World::set_up(1).await;
        world.refuse(|s| s.refuse_create = Some(DiscordFailure::MissingPermissions));
        assert!(matches!(
            open(&world, 5).await,
            OpenOutcome::Refused(OpenRefused::ChannelRefused {
                failure: DiscordFailure::MissingPermissions,
                ..
            })
        ));
        assert!(world
            .store
            .tickets_in_guild(GUILD)
            .await
            .unwrap()
            .is_empty());
        // The reservation is gone, so the limit of one does not lock the member out.
        world.refuse(|s| s.refuse_create = None);
        opened(open(&world, 5).await);
    }

    #[tokio::test]
    async fn a_refused_welcome_removes_the_channel_and_the_ticket() {
        let world = World::set_up(1).await;
        world.refuse(|s| s.refuse_welcome = Some(DiscordFailure::MissingPermissions));
        assert!(matches!(
            open(&world, 5).await,
            OpenOutcome::Refused(OpenRefused::WelcomeRefused(_))
        ));
        world.seen(|s| {
            assert_eq!(s.created.len(), 1);
            assert_eq!(s.deleted.len(), 1);
            assert_eq!(s.deleted[0].1, DeleteReason::Undo);
        });
        assert!(world
            .store
            .tickets_in_guild(GUILD)
            .await
            .unwrap()
            .is_empty());
    }

    /// Integrations whose one run failed and disabled the plugin.
    struct OneDisabled;

    impl PluginPort for OneDisabled {
        async fn run_at_open(&self, _: &Store, _: u64, _: i64, _: u64) -> Vec<PluginRun> {
            let failed = PluginRun {
                plugin_id: "lookup".into(),
                name: "Lookup".into(),
                privacy_policy: "https://example.com/privacy".into(),
                result: Err(PluginFailure::Timeout(std::time::Duration::from_secs(3))),
                // Set by the dispatcher from the failure; here as it would.
                disabled_now: true,
                locked_now: false,
            };
            let fine = PluginRun {
                plugin_id: "other".into(),
                result: Ok(vec![]),
                disabled_now: false,
                ..failed.clone()
            };
            vec![failed, fine]
        }

        fn disable_after(&self) -> u32 {
            5
        }
    }

    #[tokio::test]
    async fn an_integration_disabled_by_this_ticket_is_told_to_the_log_and_the_ticket_opens() {
        let world = World::set_up(1).await;
        let tickets = Tickets::new(&world.store, &world.discord, &OneDisabled, 1);
        opened(
            tickets
                .open(&member(5), Origin::Direct, None)
                .await
                .expect("open"),
        );
        world.seen(|s| {
            let disabled: Vec<_> = s
                .logs
                .iter()
                .filter_map(|(_, e)| match e {
                    LogEvent::IntegrationDisabled(d) => Some(d),
                    _ => None,
                })
                .collect();
            assert_eq!(disabled.len(), 1, "only the plugin this ticket disabled");
            assert_eq!(disabled[0].plugin_id, "lookup");
            assert_eq!(disabled[0].failures, 5);
            assert_eq!(disabled[0].last_error, "it did not finish in time");
            assert_eq!(
                s.welcomes[0].1.runs.len(),
                2,
                "the welcome still gets every run"
            );
        });
    }

    #[tokio::test]
    async fn only_tickets_that_open_are_counted_in_the_statistics() {
        let world = World::set_up(5).await;
        opened(open(&world, 5).await);
        world.store.blacklist_add(GUILD, 6, None, 1).await.unwrap();
        open(&world, 6).await;
        world.refuse(|s| {
            s.refuse_welcome = Some(DiscordFailure::MissingPermissions);
            s.refuse_delete = Some(DiscordFailure::MissingPermissions);
        });
        // Half made and kept as a closed record: neither opened nor closed for the statistics.
        open(&world, 7).await;
        let stats = world.stats().await;
        assert_eq!((stats.opened, stats.closed), (1, 0), "{stats:?}");
    }

    #[tokio::test]
    async fn a_channel_that_cannot_be_undone_keeps_a_closed_record() {
        let world = World::set_up(1).await;
        world.refuse(|s| {
            s.refuse_welcome = Some(DiscordFailure::MissingPermissions);
            s.refuse_delete = Some(DiscordFailure::MissingPermissions);
        });
        open(&world, 5).await;
        let tickets = world.store.tickets_in_guild(GUILD).await.unwrap();
        assert_eq!(tickets.len(), 1, "no channel without a record");
        assert_eq!(tickets[0].status, TicketStatus::Closed);
        assert!(tickets[0].channel_id.is_some());
    }
}
