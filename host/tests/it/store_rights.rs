//! The store's part of members' data rights (PRIVACY.md #10, #11), on both backends: finding
//! every row about one person across servers, deleting what is only theirs, the deletions still
//! owed to open tickets, and rewriting a transcript without losing a concurrent rewrite.

use tessera::store::{
    Backend, Delivery, NewTicket, ReplaceError, SettingsUpdate, Store, TicketStatus, TranscriptRow,
};

use crate::db::TestDb;
use crate::on_both_backends;

const GUILD: u64 = 111_111_111_111_111_111;
const OTHER_GUILD: u64 = 222_222_222_222_222_222;
const BOB: u64 = 7;
const ALICE: u64 = 8;
const STAFF: u64 = 50;

async fn fresh(backend: Backend) -> Option<(TestDb, Store)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    for guild in [GUILD, OTHER_GUILD] {
        store
            .save_settings(
                guild,
                &SettingsUpdate {
                    staff_role_id: 1,
                    max_open: Some(3),
                    ..SettingsUpdate::default()
                },
            )
            .await
            .expect("settings");
    }
    Some((db, store))
}

fn ticket(guild: u64, opener: u64, subject: &str) -> NewTicket {
    NewTicket {
        guild_id: guild,
        opener_id: opener,
        panel_id: None,
        subject: Some(subject.to_owned()),
        default_cooldown_secs: 0,
        roles: Vec::new(),
    }
}

fn delivery(guild: u64, ticket_id: i64, user_id: u64) -> Delivery {
    Delivery {
        guild_id: guild,
        ticket_id: Some(ticket_id),
        plugin_id: "example".to_owned(),
        version: "1.0.0".to_owned(),
        sha256: "ab".repeat(32),
        user_id,
        at: 5,
        outcome: "ok".to_owned(),
        detail: None,
    }
}

on_both_backends!(
    a_persons_records_are_found_in_every_server_and_their_deletion_touches_only_theirs,
    records_and_erasure
);
async fn records_and_erasure(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (bobs, _) = store
        .open_ticket(&ticket(GUILD, BOB, "bob's subject"))
        .await
        .expect("open");
    let (alices, _) = store
        .open_ticket(&ticket(OTHER_GUILD, ALICE, "alice's subject"))
        .await
        .expect("open");
    store
        .add_ticket_member(&alices, BOB, STAFF)
        .await
        .expect("add");
    store
        .blacklist_add(OTHER_GUILD, BOB, Some("spam"), STAFF)
        .await
        .expect("blacklist");
    store
        .record_deliveries(&[
            delivery(GUILD, bobs.id, BOB),
            delivery(OTHER_GUILD, alices.id, ALICE),
        ])
        .await
        .expect("deliveries");
    store
        .close_ticket(bobs.id, BOB, Some("bob's reason"))
        .await
        .expect("close")
        .expect("was open");
    store
        .close_ticket(alices.id, STAFF, Some("staff's reason"))
        .await
        .expect("close")
        .expect("was open");

    let r = store.records_about(BOB).await.expect("records");
    assert_eq!(r.tickets_opened.len(), 1);
    assert_eq!(r.tickets_opened[0].id, bobs.id);
    assert_eq!(r.memberships.len(), 1);
    assert_eq!(
        (
            r.memberships[0].guild_id,
            r.memberships[0].ticket_number,
            r.memberships[0].added_by
        ),
        (OTHER_GUILD, alices.number, STAFF)
    );
    assert_eq!(r.blacklisted.len(), 1);
    assert_eq!(r.blacklisted[0].reason.as_deref(), Some("spam"));
    let mut actions: Vec<&str> = r.events.iter().map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(actions, ["closed", "member_added", "opened"]);
    assert_eq!(r.erased_at, None);

    let erased = store.erase_person(BOB, 1_000).await.expect("erase");
    assert_eq!(
        (erased.deliveries, erased.subjects, erased.close_reasons),
        (1, 1, 1)
    );
    let bobs_now = store.ticket(bobs.id).await.expect("read").expect("kept");
    assert_eq!((bobs_now.subject, bobs_now.close_reason), (None, None));
    assert_eq!(
        (bobs_now.opener_id, bobs_now.closed_by, bobs_now.status),
        (BOB, Some(BOB), TicketStatus::Closed)
    );
    assert!(store
        .ticket_audit(bobs.id)
        .await
        .expect("audit")
        .iter()
        .all(|e| e.detail.is_none()));
    assert!(store
        .deliveries_for_user(BOB)
        .await
        .expect("read")
        .is_empty());
    // Alice's data, and the servers' records about Bob, stay.
    assert_eq!(
        store.deliveries_for_user(ALICE).await.expect("read").len(),
        1
    );
    let alices_now = store.ticket(alices.id).await.expect("read").expect("kept");
    assert_eq!(alices_now.subject.as_deref(), Some("alice's subject"));
    assert_eq!(alices_now.close_reason.as_deref(), Some("staff's reason"));
    assert_eq!(store.blacklist(OTHER_GUILD).await.expect("read").len(), 1);
    assert_eq!(store.ticket_members(alices.id).await.expect("read"), [BOB]);
    assert_eq!(
        store.records_about(BOB).await.expect("records").erased_at,
        Some(1_000)
    );
}

on_both_backends!(
    a_deletion_is_remembered_while_a_ticket_open_at_the_time_is_open,
    erasures_last_while_needed
);
async fn erasures_last_while_needed(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (open, _) = store
        .open_ticket(&ticket(GUILD, ALICE, "s"))
        .await
        .expect("open");
    let (bobs, _) = store
        .open_ticket(&ticket(OTHER_GUILD, BOB, "bob's open subject"))
        .await
        .expect("open");
    let later = tessera::store::now_ms() + 60_000;
    let erased = store.erase_person(BOB, later).await.expect("erase");
    // His open ticket keeps its subject until it closes (its transcript must clear it).
    assert_eq!(erased.subjects, 0);
    let still = store.ticket(bobs.id).await.expect("read").expect("open");
    assert_eq!(still.subject.as_deref(), Some("bob's open subject"));
    let closed = store
        .close_ticket(bobs.id, STAFF, None)
        .await
        .expect("close")
        .expect("was open");
    assert_eq!(
        closed.subject.as_deref(),
        Some("bob's open subject"),
        "returned for the transcript"
    );
    let now = store.ticket(bobs.id).await.expect("read").expect("kept");
    assert_eq!(now.subject, None);
    assert!(store
        .ticket_audit(bobs.id)
        .await
        .expect("audit")
        .iter()
        .all(|e| e.detail.as_deref() != Some("bob's open subject")));
    // Alice's ticket, closed without any deletion of hers, keeps its subject.
    assert_eq!(open.subject.as_deref(), Some("s"));
    assert_eq!(
        store.erasures_among(&[ALICE, BOB]).await.expect("read"),
        [(BOB, later)].into_iter().collect()
    );
    // Alice's ticket was open when Bob asked: his messages there must still be left out.
    assert_eq!(store.purge_erasures().await.expect("purge"), 0);
    store
        .close_ticket(open.id, STAFF, None)
        .await
        .expect("close")
        .expect("was open");
    assert_eq!(
        store
            .ticket(open.id)
            .await
            .expect("read")
            .expect("kept")
            .subject
            .as_deref(),
        Some("s")
    );
    assert_eq!(store.purge_erasures().await.expect("purge"), 1);
    assert!(store.erasures_among(&[BOB]).await.expect("read").is_empty());
}

on_both_backends!(
    a_transcript_rewrite_from_an_older_revision_is_refused,
    transcript_rewrites
);
async fn transcript_rewrites(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (t, _) = store
        .open_ticket(&ticket(GUILD, BOB, "s"))
        .await
        .expect("open");
    let row = TranscriptRow {
        ticket_id: t.id,
        guild_id: GUILD,
        message_count: 2,
        created_at: 1,
        expires_at: 2,
        revision: 0,
    };
    store
        .save_transcript(&row, &[(0, vec![1]), (1, vec![2])], &[BOB, ALICE])
        .await
        .expect("save");
    assert_eq!(
        store.transcripts_with_person(BOB).await.expect("read"),
        [(GUILD, t.id)]
    );
    assert!(store
        .unindexed_transcripts()
        .await
        .expect("read")
        .is_empty());
    let (read, _) = store
        .transcript(GUILD, t.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(read.revision, 0);
    // A rewrite drops a blob and a person, and keeps the dates.
    let changed = TranscriptRow {
        message_count: 1,
        created_at: 99,
        expires_at: 99,
        ..read.clone()
    };
    store
        .replace_transcript(&changed, &[(0, vec![3])], &[ALICE])
        .await
        .expect("replace");
    let (now, blobs) = store
        .transcript(GUILD, t.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        (
            now.revision,
            now.message_count,
            now.created_at,
            now.expires_at
        ),
        (1, 1, 1, 2)
    );
    assert_eq!(blobs, [(0, vec![3])]);
    assert!(store
        .transcripts_with_person(BOB)
        .await
        .expect("read")
        .is_empty());
    // A second rewrite based on what was read before the first one is refused.
    assert!(matches!(
        store
            .replace_transcript(&changed, &[(0, vec![4])], &[])
            .await,
        Err(ReplaceError::Stale)
    ));
    let (_, blobs) = store
        .transcript(GUILD, t.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(blobs, [(0, vec![3])], "the first rewrite stands");
}

on_both_backends!(
    transcripts_stored_before_their_people_were_recorded_are_indexed_when_first_needed,
    older_transcripts
);
async fn older_transcripts(backend: Backend) {
    use tessera::transcripts::model::{Message, Participant, TicketInfo, Transcript};
    use tessera::transcripts::seal::TranscriptKeys;
    use tessera::transcripts::{CaptureLimits, Transcripts};

    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    let keys = |key: &str| {
        let limits = CaptureLimits {
            max_file_bytes: 1 << 20,
            max_total_bytes: 1 << 20,
        };
        Transcripts::new(TranscriptKeys::parse(key, &[]).expect("a key"), limits, 90)
    };
    let ours = keys("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let theirs = keys("HwAeAB0AHAAbABoAGQAYABcAFgAVABQAEwASABEAEAA=");
    let (t, _) = store
        .open_ticket(&ticket(GUILD, ALICE, "s"))
        .await
        .expect("open");
    let transcript = Transcript {
        version: tessera::transcripts::model::FORMAT_VERSION,
        guild_id: GUILD,
        guild_name: "g".to_owned(),
        ticket: TicketInfo {
            number: t.number,
            opener_id: ALICE,
            subject: None,
            opened_at: 1,
            closed_at: 2,
            closed_by: ALICE,
            close_reason: None,
            claimed_by: None,
        },
        participants: vec![Participant {
            id: BOB,
            username: "bob".to_owned(),
            display_name: None,
            avatar: None,
            bot: false,
        }],
        messages: vec![Message {
            id: 1,
            author_id: BOB,
            content: "hi".to_owned(),
            sent_at: 1,
            edited_at: None,
            reply_to: None,
            embeds: Vec::new(),
            attachments: Vec::new(),
            mentions: Vec::new(),
            removed: false,
        }],
    };
    ours.save(&store, t.id, &transcript, &[], None, 1)
        .await
        .expect("save");
    // As if stored before the migration that records who is in each transcript.
    db.execute("DELETE FROM transcript_people").await;
    db.execute("UPDATE transcripts SET indexed = FALSE").await;
    assert!(store
        .transcripts_with_person(BOB)
        .await
        .expect("read")
        .is_empty());
    // A bot without the key cannot tell who is in it: counted, and tried again next time.
    assert_eq!(theirs.index_older(&store).await.expect("index"), 1);
    assert_eq!(
        store.unindexed_transcripts().await.expect("read"),
        [(GUILD, t.id)]
    );
    assert_eq!(ours.index_older(&store).await.expect("index"), 0);
    assert!(store
        .unindexed_transcripts()
        .await
        .expect("read")
        .is_empty());
    assert_eq!(
        store.transcripts_with_person(BOB).await.expect("read"),
        [(GUILD, t.id)]
    );
}
