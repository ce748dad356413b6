//! Closing a ticket: the closure is stored first, then logged; the channel goes last, after the
//! closer has their answer (the answer may live in that channel).

use super::port::DeleteReason;
use super::{
    Caller, DiscordFailure, DiscordPort, Doing, LogEvent, PluginPort, TicketError, Tickets,
};
use crate::store::{GuildSettings, Ticket};
use crate::transcripts::{redact, Transcripts};

/// How long a passing failure to delete a closed ticket's channel waits before the first retry.
const DELETE_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

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
        let transcript = match (self.transcripts, settings.transcripts, closed.channel_id) {
            (Some(transcripts), true, Some(channel)) => {
                self.keep_transcript(transcripts, &closed, settings, channel)
                    .await
            }
            _ => None,
        };
        // A staff member closing their own ticket is not staff answering someone.
        let by_staff = caller.is_staff(settings) && caller.user_id != closed.opener_id;
        let first_reply = transcript.as_ref().and_then(|t| t.2);
        crate::stats::ticket_closed(self.store, &closed, by_staff, first_reply).await;
        let transcript = transcript.map(|(html, messages, _)| (html, messages));
        if let (Some((html, _)), true) = (&transcript, settings.transcript_dm) {
            let name = format!("transcript-{:04}.html", closed.number);
            let guild_name = self.discord.guild_name(closed.guild_id).await;
            if let Err(failure) = self
                .discord
                .dm_transcript(
                    closed.opener_id,
                    closed.number,
                    &guild_name,
                    &name,
                    html.clone().into_bytes(),
                )
                .await
            {
                // Closed DMs (Discord's 50007) are the member's choice: nobody is told.
                tracing::info!(
                    ?failure,
                    ticket_id = closed.id,
                    "the opener could not be sent the transcript by DM"
                );
            }
        }
        if let Some(log) = settings.log_channel_id {
            match transcript {
                Some((html, messages)) => {
                    let event = LogEvent::Transcript {
                        number: closed.number,
                        opener_id: closed.opener_id,
                        closer_id: caller.user_id,
                        claimed_by: closed.claimed_by,
                        reason: reason.map(str::to_owned),
                        opened_at: closed.opened_at,
                        closed_at: closed.closed_at.unwrap_or(closed.opened_at),
                        messages,
                    };
                    let name = format!("transcript-{:04}.html", closed.number);
                    if self
                        .discord
                        .post_log_file(log, &event, &name, html.into_bytes())
                        .await
                        .is_err()
                    {
                        // Too large for Discord, or refused: the notice still goes, without the
                        // file (staff can fetch the stored transcript with `/transcript`).
                        let event = LogEvent::Closed {
                            number: closed.number,
                            opener_id: closed.opener_id,
                            closer_id: caller.user_id,
                            reason: reason.map(str::to_owned),
                        };
                        let _ = self.discord.post_log(log, &event).await;
                    }
                }
                None => {
                    let event = LogEvent::Closed {
                        number: closed.number,
                        opener_id: closed.opener_id,
                        closer_id: caller.user_id,
                        reason: reason.map(str::to_owned),
                    };
                    let _ = self.discord.post_log(log, &event).await;
                }
            }
        }
        Ok(CloseOutcome::Closed(closed))
    }

    /// Captures, seals and stores the closed ticket's transcript; its HTML, its message count,
    /// and when staff first replied in it (the first message by someone other than the opener,
    /// a bot, or a member added to the ticket). A transcript that cannot be made is logged and
    /// the close goes on without it.
    async fn keep_transcript(
        &self,
        transcripts: &Transcripts,
        closed: &Ticket,
        settings: &GuildSettings,
        channel_id: u64,
    ) -> Option<(String, usize, Option<i64>)> {
        let captured = match self
            .discord
            .capture(closed.guild_id, channel_id, transcripts.limits())
            .await
        {
            Ok(captured) => captured,
            Err(failure) => {
                tracing::warn!(
                    ?failure,
                    ticket_id = closed.id,
                    "the ticket's transcript could not be captured; it was closed without one"
                );
                return None;
            }
        };
        let guild_name = self.discord.guild_name(closed.guild_id).await;
        let (mut transcript, mut assets) = transcripts.build(&guild_name, closed, captured);
        // Members who asked for their data to be deleted while this ticket was open: what they
        // wrote before asking is left out of its transcript (PRIVACY.md #11).
        let people = crate::transcripts::people(&transcript);
        let erased = match self.store.erasures_among(&people).await {
            Ok(erased) => erased,
            Err(err) => {
                tracing::error!(error = %err, ticket_id = closed.id, "could not check for members' deletions; the ticket was closed without a transcript");
                return None;
            }
        };
        for (&user_id, &until) in &erased {
            redact::remove_person(&mut transcript, &mut assets, user_id, until);
        }
        if let Err(err) = transcripts
            .save(
                self.store,
                closed.id,
                &transcript,
                &assets,
                settings.transcript_retention_days,
                crate::store::now_ms(),
            )
            .await
        {
            tracing::error!(error = %err, ticket_id = closed.id, "the ticket's transcript could not be stored; it is still posted to the log channel");
        } else {
            self.apply_late_erasures(transcripts, closed, &people, &erased)
                .await;
        }
        let messages = transcript.messages.len();
        let added = self
            .store
            .ticket_members(closed.id)
            .await
            .unwrap_or_default();
        let bots: Vec<u64> = transcript
            .participants
            .iter()
            .filter(|p| p.bot)
            .map(|p| p.id)
            .collect();
        let first_reply = transcript
            .messages
            .iter()
            .filter(|m| {
                m.author_id != closed.opener_id
                    && m.author_id != self.bot_id
                    && !bots.contains(&m.author_id)
                    && !added.contains(&m.author_id)
                    && m.sent_at >= closed.opened_at
            })
            .map(|m| m.sent_at)
            .min();
        Some((
            Transcripts::render(&transcript, &assets),
            messages,
            first_reply,
        ))
    }

    /// A deletion asked for between reading the deletions and storing the transcript found no
    /// stored transcript to change (it writes its record first, then looks): apply it now.
    async fn apply_late_erasures(
        &self,
        transcripts: &Transcripts,
        closed: &Ticket,
        people: &[u64],
        applied: &std::collections::BTreeMap<u64, i64>,
    ) {
        let now = match self.store.erasures_among(people).await {
            Ok(now) => now,
            Err(err) => {
                tracing::error!(error = %err, ticket_id = closed.id, "could not check again for members' deletions");
                return;
            }
        };
        for (&user_id, &until) in &now {
            if applied.get(&user_id) == Some(&until) {
                continue;
            }
            if let Err(err) = transcripts
                .remove_person(self.store, closed.guild_id, closed.id, user_id, until)
                .await
            {
                tracing::error!(error = %err, ticket_id = closed.id, "a member's deletion could not be applied to the new transcript");
            }
        }
    }

    /// Deletes a closed ticket's channel. A channel that is already gone counts as deleted. A
    /// passing failure (Discord unavailable or asking to slow down) is retried twice, after
    /// [`DELETE_RETRY`] and twice that; a channel that still cannot be deleted is reported in the
    /// server's log channel, so its admins can delete it by hand.
    pub async fn delete_channel(
        &self,
        guild_id: u64,
        channel_id: u64,
    ) -> Result<(), DiscordFailure> {
        let mut wait = DELETE_RETRY;
        let mut attempt = 1;
        let failure = loop {
            match self
                .discord
                .delete_channel(guild_id, channel_id, DeleteReason::Closed)
                .await
            {
                Ok(()) | Err(DiscordFailure::NotFound) => return Ok(()),
                Err(DiscordFailure::Unavailable | DiscordFailure::RateLimited) if attempt < 3 => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(failure) => break failure,
            }
        };
        if let Ok(Some(settings)) = self.store.guild_settings(guild_id).await {
            if let Some(log) = settings.log_channel_id {
                let event = LogEvent::ChannelNotDeleted {
                    channel_id,
                    failure,
                };
                let _ = self.discord.post_log(log, &event).await;
            }
        }
        Err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SettingsUpdate, TicketStatus};
    use crate::tickets::fake::{manager, member, staff, World, GUILD, STAFF_ROLE};
    use crate::transcripts::model::{Message, Participant};
    use crate::transcripts::seal::TranscriptKeys;
    use crate::transcripts::{CaptureLimits, Captured};

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn transcripts() -> Transcripts {
        let limits = CaptureLimits {
            max_file_bytes: 1 << 20,
            max_total_bytes: 4 << 20,
        };
        Transcripts::new(TranscriptKeys::parse(KEY, &[]).unwrap(), limits, 90)
    }

    fn said(text: &str) -> Captured {
        Captured {
            participants: vec![Participant {
                id: 5,
                username: "opener".into(),
                display_name: None,
                avatar: None,
                bot: false,
            }],
            messages: vec![Message {
                id: 1,
                author_id: 5,
                content: text.into(),
                sent_at: 1,
                edited_at: None,
                reply_to: None,
                embeds: Vec::new(),
                attachments: Vec::new(),
                mentions: Vec::new(),
                removed: false,
            }],
            assets: Vec::new(),
        }
    }

    async fn transcripts_on(world: &World, days: Option<u32>) {
        let update = SettingsUpdate {
            staff_role_id: STAFF_ROLE,
            transcripts: Some(true),
            transcript_retention_days: days,
            ..SettingsUpdate::default()
        };
        world.store.save_settings(GUILD, &update).await.unwrap();
    }

    #[tokio::test]
    async fn with_transcripts_on_the_conversation_is_kept_sealed_and_posted_to_the_log() {
        let world = World::set_up(1).await;
        transcripts_on(&world, Some(7)).await;
        let (ticket, settings) = world.open_ticket(5).await;
        assert!(settings.transcripts);
        world.refuse(|s| s.capture = Some(said("the secret words")));
        let keys = transcripts();
        let outcome = world
            .tickets()
            .with_transcripts(Some(&keys))
            .close(&member(5), &ticket, &settings, None)
            .await
            .unwrap();
        assert!(matches!(outcome, CloseOutcome::Closed(_)));
        world.seen(|s| {
            assert_eq!(s.captured, [ticket.channel_id.unwrap()]);
            assert_eq!(s.files.len(), 1);
            assert_eq!(s.files[0].0, "transcript-0001.html");
            assert!(s
                .logs
                .iter()
                .any(|(_, e)| matches!(e, LogEvent::Transcript { messages: 1, .. })));
        });
        let (row, blobs) = world
            .store
            .transcript(GUILD, ticket.id)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(row.message_count, 1);
        assert_eq!(row.expires_at - row.created_at, 7 * 24 * 60 * 60 * 1000);
        assert!(
            !blobs
                .iter()
                .any(|(_, b)| b.windows(6).any(|w| w == b"secret")),
            "stored in the clear"
        );
        let (opened, _) = keys
            .load(&world.store, GUILD, ticket.id)
            .await
            .unwrap()
            .expect("opens");
        assert_eq!(opened.messages[0].content, "the secret words");
        assert_eq!(opened.ticket.closed_by, 5);
        // Another server cannot read it.
        assert!(keys
            .load(&world.store, GUILD + 1, ticket.id)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_transcript_discord_will_not_take_still_leaves_the_close_notice() {
        let world = World::set_up(1).await;
        transcripts_on(&world, None).await;
        let (ticket, settings) = world.open_ticket(5).await;
        world.refuse(|s| s.refuse_log_file = Some(DiscordFailure::Other));
        let keys = transcripts();
        world
            .tickets()
            .with_transcripts(Some(&keys))
            .close(&member(5), &ticket, &settings, None)
            .await
            .unwrap();
        world.seen(|s| {
            assert!(s.files.is_empty());
            assert!(s
                .logs
                .iter()
                .any(|(_, e)| matches!(e, LogEvent::Closed { closer_id: 5, .. })));
        });
        // It is still stored, for `/transcript`.
        assert!(world
            .store
            .transcript(GUILD, ticket.id)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn a_staff_reply_in_the_transcript_is_the_first_staff_action() {
        let world = World::set_up(1).await;
        transcripts_on(&world, None).await;
        let (ticket, settings) = world.open_ticket(5).await;
        // The opener writes, then staff member 8 answers five minutes after the opening; the
        // opener closes it, nobody claimed it.
        let mut captured = said("help please");
        let mut reply = captured.messages[0].clone();
        reply.id = 2;
        reply.author_id = 8;
        reply.sent_at = ticket.opened_at + 5 * 60_000;
        captured.messages.push(reply);
        world.refuse(|s| s.capture = Some(captured));
        let keys = transcripts();
        world
            .tickets()
            .with_transcripts(Some(&keys))
            .close(&member(5), &ticket, &settings, None)
            .await
            .unwrap();
        let stats = world.stats().await;
        assert_eq!(stats.first_action.count, 1, "{stats:?}");
        assert_eq!(stats.first_action.max_ms, 5 * 60_000, "{stats:?}");
    }

    #[tokio::test]
    async fn with_transcripts_off_nothing_is_read_or_stored() {
        let world = World::set_up(1).await;
        let (ticket, settings) = world.open_ticket(5).await;
        assert!(!settings.transcripts, "off by default");
        world.refuse(|s| s.capture = Some(said("the secret words")));
        let keys = transcripts();
        world
            .tickets()
            .with_transcripts(Some(&keys))
            .close(&member(5), &ticket, &settings, None)
            .await
            .unwrap();
        world.seen(|s| {
            assert!(s.captured.is_empty(), "the channel was read");
            assert!(s.files.is_empty());
            assert!(s
                .logs
                .iter()
                .any(|(_, e)| matches!(e, LogEvent::Closed { .. })));
        });
        assert!(world
            .store
            .transcript(GUILD, ticket.id)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_server_cannot_keep_transcripts_longer_than_the_operator_allows() {
        let world = World::set_up(1).await;
        transcripts_on(&world, Some(365)).await;
        let (ticket, settings) = world.open_ticket(5).await;
        let keys = transcripts();
        world
            .tickets()
            .with_transcripts(Some(&keys))
            .close(&member(5), &ticket, &settings, None)
            .await
            .unwrap();
        let (row, _) = world
            .store
            .transcript(GUILD, ticket.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.expires_at - row.created_at, 90 * 24 * 60 * 60 * 1000);
    }

    #[tokio::test]
    async fn a_member_who_asked_for_deletion_while_the_ticket_was_open_is_left_out_of_its_transcript(
    ) {
        let world = World::set_up(1).await;
        transcripts_on(&world, None).await;
        let (ticket, settings) = world.open_ticket(5).await;
        // Member 5 wrote at time 1, then asked for deletion; the ticket stayed open.
        world.refuse(|s| s.capture = Some(said("words to forget")));
        world.store.erase_person(5, 10).await.unwrap();
        let keys = transcripts();
        world
            .tickets()
            .with_transcripts(Some(&keys))
            .close(&staff(8), &ticket, &settings, None)
            .await
            .unwrap();
        let (stored, _) = keys
            .load(&world.store, GUILD, ticket.id)
            .await
            .unwrap()
            .expect("stored");
        assert!(stored.messages[0].removed);
        assert_eq!(stored.messages[0].content, "");
        assert_eq!(stored.participants[0].username, redact::DELETED_NAME);
        // The copy posted to the log channel is made from the same, redacted transcript.
        world.seen(|s| {
            let html = String::from_utf8_lossy(&s.files[0].1);
            assert!(!html.contains("words to forget"), "posted to the log");
            assert!(
                html.contains("removed at its author"),
                "a tombstone is shown"
            );
        });
    }

    #[tokio::test]
    async fn what_a_member_writes_after_asking_for_deletion_is_kept() {
        let world = World::set_up(1).await;
        transcripts_on(&world, None).await;
        let (ticket, settings) = world.open_ticket(5).await;
        // The message (time 1) came after the request (time 0).
        world.refuse(|s| s.capture = Some(said("new words")));
        world.store.erase_person(5, 0).await.unwrap();
        let keys = transcripts();
        world
            .tickets()
            .with_transcripts(Some(&keys))
            .close(&member(5), &ticket, &settings, None)
            .await
            .unwrap();
        let (stored, _) = keys
            .load(&world.store, GUILD, ticket.id)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.messages[0].content, "new words");
        assert!(!stored.messages[0].removed);
    }

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
    async fn closing_counts_the_time_to_close_and_the_first_staff_action() {
        let world = World::set_up(5).await;
        let tickets = world.tickets();
        // Claimed by staff, then closed by its opener: the claim is the first staff action.
        let (claimed, settings) = world.open_ticket(5).await;
        tickets.claim(&staff(8), &claimed, &settings).await.unwrap();
        tickets
            .close(&member(5), &claimed, &settings, None)
            .await
            .unwrap();
        // Closed by staff without a claim: the close is.
        let (answered, _) = world.open_ticket(6).await;
        tickets
            .close(&staff(8), &answered, &settings, None)
            .await
            .unwrap();
        // Closed by its opener, unclaimed; and a staff member's own ticket: none.
        let (left, _) = world.open_ticket(7).await;
        tickets
            .close(&member(7), &left, &settings, None)
            .await
            .unwrap();
        let (own, _) = world.open_ticket(8).await;
        tickets
            .close(&staff(8), &own, &settings, None)
            .await
            .unwrap();
        // Refused and repeated closes count nothing.
        let (open, _) = world.open_ticket(9).await;
        tickets
            .close(&member(6), &open, &settings, None)
            .await
            .unwrap();
        tickets
            .close(&member(7), &left, &settings, None)
            .await
            .unwrap();

        let stats = world.stats().await;
        assert_eq!((stats.opened, stats.closed), (5, 4), "{stats:?}");
        assert_eq!(stats.time_to_close.count, 4);
        assert_eq!(stats.time_to_close.buckets[0], 4, "{stats:?}");
        assert_eq!(stats.first_action.count, 2, "{stats:?}");
        assert_eq!(stats.first_action.buckets[0], 2, "{stats:?}");
        let claim_at = world
            .store
            .first_staff_claim_at(claimed.id, claimed.opener_id)
            .await
            .unwrap()
            .expect("claimed");
        let closed_at = world
            .store
            .ticket(claimed.id)
            .await
            .unwrap()
            .unwrap()
            .closed_at
            .unwrap();
        assert!(claim_at >= claimed.opened_at && claim_at <= closed_at);
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
