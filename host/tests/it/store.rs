//! The store suite: the same tests against SQLite and PostgreSQL.

mod stats;

use std::collections::HashSet;

use tessera::store::{
    Backend, ClaimOutcome, NewTicket, OpenRefusal, SettingsUpdate, Store, TicketStatus,
};

use crate::db::TestDb;
use crate::on_both_backends;

const GUILD: u64 = 111_111_111_111_111_111;
const OTHER_GUILD: u64 = 222_222_222_222_222_222;
const STAFF_ROLE: u64 = 333_333_333_333_333_333;

async fn fresh(backend: Backend) -> Option<(TestDb, Store)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    Some((db, store))
}

async fn set_up(store: &Store, guild: u64, max_open: u8) {
    store
        .save_settings(
            guild,
            &SettingsUpdate {
                staff_role_id: STAFF_ROLE,
                category_id: None,
                log_channel_id: None,
                max_open: Some(max_open),
                ..SettingsUpdate::default()
            },
        )
        .await
        .expect("saving settings");
}

fn new_ticket(guild: u64, opener: u64) -> NewTicket {
    NewTicket {
        guild_id: guild,
        opener_id: opener,
        panel_id: None,
        subject: None,
        default_cooldown_secs: 0,
        roles: Vec::new(),
    }
}

on_both_backends!(
    opening_before_setup_is_refused,
    opening_before_setup_is_refused_
);
async fn opening_before_setup_is_refused_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let refused = store.open_ticket(&new_ticket(GUILD, 1)).await;
    assert!(matches!(refused, Err(OpenRefusal::NotSetUp)), "{refused:?}");
}

on_both_backends!(
    settings_updates_keep_what_was_not_given,
    settings_updates_keep_what_was_not_given_
);
async fn settings_updates_keep_what_was_not_given_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let first = store
        .save_settings(
            GUILD,
            &SettingsUpdate {
                staff_role_id: 5,
                category_id: Some(6),
                log_channel_id: Some(7),
                max_open: Some(3),
                ..SettingsUpdate::default()
            },
        )
        .await
        .expect("save");
    assert_eq!(
        (first.category_id, first.log_channel_id, first.max_open),
        (Some(6), Some(7), 3)
    );
    let second = store
        .save_settings(
            GUILD,
            &SettingsUpdate {
                staff_role_id: 8,
                ..SettingsUpdate::default()
            },
        )
        .await
        .expect("save");
    assert_eq!(second.staff_role_id, 8);
    assert_eq!(
        (second.category_id, second.log_channel_id, second.max_open),
        (Some(6), Some(7), 3)
    );
    assert_eq!(
        store.guild_settings(GUILD).await.expect("read"),
        Some(second)
    );
    assert_eq!(store.guild_settings(OTHER_GUILD).await.expect("read"), None);
}

on_both_backends!(
    numbers_are_per_server_and_never_repeat,
    numbers_are_per_server_and_never_repeat_
);
async fn numbers_are_per_server_and_never_repeat_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 10).await;
    set_up(&store, OTHER_GUILD, 10).await;
    let (a, _) = store
        .open_ticket(&new_ticket(GUILD, 1))
        .await
        .expect("open");
    let (b, _) = store
        .open_ticket(&new_ticket(GUILD, 2))
        .await
        .expect("open");
    let (c, _) = store
        .open_ticket(&new_ticket(OTHER_GUILD, 1))
        .await
        .expect("open");
    assert_eq!((a.number, b.number, c.number), (1, 2, 1));
    assert_eq!(a.channel_name(), "ticket-0001");
    // A discarded reservation (Discord refused the channel) does not give its number back.
    store.discard_ticket(b.id).await.expect("discard");
    let (d, _) = store
        .open_ticket(&new_ticket(GUILD, 2))
        .await
        .expect("open");
    assert_eq!(d.number, 3);
    // Closing does not either.
    store.close_ticket(d.id, 2, None).await.expect("close");
    let (e, _) = store
        .open_ticket(&new_ticket(GUILD, 2))
        .await
        .expect("open");
    assert_eq!(e.number, 4);
}

on_both_backends!(
    the_limit_names_the_open_ticket,
    the_limit_names_the_open_ticket_
);
async fn the_limit_names_the_open_ticket_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let (first, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    store.attach_channel(first.id, 9001).await.expect("attach");
    match store.open_ticket(&new_ticket(GUILD, 7)).await {
        Err(OpenRefusal::LimitReached { open, max_open }) => {
            assert_eq!(open.id, first.id);
            assert_eq!(open.channel_id, Some(9001));
            assert_eq!(max_open, 1);
        }
        other => panic!("expected the limit, got {other:?}"),
    }
    // Another member is not affected, and closing frees the slot.
    store
        .open_ticket(&new_ticket(GUILD, 8))
        .await
        .expect("someone else opens");
    store
        .close_ticket(first.id, 7, Some("done"))
        .await
        .expect("close");
    store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open after closing");
}

on_both_backends!(
    blacklisted_members_cannot_open,
    blacklisted_members_cannot_open_
);
async fn blacklisted_members_cannot_open_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 3).await;
    assert!(store
        .blacklist_add(GUILD, 5, Some("spam"), 1)
        .await
        .expect("add"));
    assert!(!store
        .blacklist_add(GUILD, 5, None, 1)
        .await
        .expect("add twice"));
    assert!(matches!(
        store.open_ticket(&new_ticket(GUILD, 5)).await,
        Err(OpenRefusal::Blacklisted)
    ));
    // Per server only.
    set_up(&store, OTHER_GUILD, 3).await;
    store
        .open_ticket(&new_ticket(OTHER_GUILD, 5))
        .await
        .expect("other server");
    let list = store.blacklist(GUILD).await.expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].user_id, list[0].reason.as_deref(), list[0].added_by),
        (5, Some("spam"), 1)
    );
    assert!(store.blacklist_remove(GUILD, 5).await.expect("remove"));
    assert!(!store
        .blacklist_remove(GUILD, 5)
        .await
        .expect("remove twice"));
    store
        .open_ticket(&new_ticket(GUILD, 5))
        .await
        .expect("allowed again");
}

on_both_backends!(
    fifty_members_opening_at_once_get_fifty_distinct_numbers,
    fifty_at_once_
);
async fn fifty_at_once_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let mut tasks = Vec::new();
    for member in 0..50u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.open_ticket(&new_ticket(GUILD, 1000 + member)).await
        }));
    }
    let mut numbers = HashSet::new();
    for task in tasks {
        let (ticket, _) = task
            .await
            .expect("task")
            .expect("every member gets a ticket");
        numbers.insert(ticket.number);
    }
    assert_eq!(numbers, (1..=50).collect::<HashSet<i64>>());
}

on_both_backends!(
    one_member_racing_past_the_limit_gets_only_the_limit,
    racing_past_the_limit_
);
async fn racing_past_the_limit_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 2).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.open_ticket(&new_ticket(GUILD, 42)).await
        }));
    }
    let mut opened = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => opened += 1,
            Err(OpenRefusal::LimitReached { .. }) => {}
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }
    assert_eq!(opened, 2);
    let open = store.tickets_in_guild(GUILD).await.expect("list");
    assert_eq!(open.len(), 2);
}

on_both_backends!(closing_records_who_when_and_why_once, closing_records_);
async fn closing_records_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let (t, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    let closed = store
        .close_ticket(t.id, 99, Some("resolved"))
        .await
        .expect("close")
        .expect("was open");
    assert_eq!(closed.status, TicketStatus::Closed);
    assert_eq!(
        (closed.closed_by, closed.close_reason.as_deref()),
        (Some(99), Some("resolved"))
    );
    assert!(closed.closed_at.expect("closed_at set") >= closed.opened_at);
    assert!(
        store
            .close_ticket(t.id, 99, None)
            .await
            .expect("close")
            .is_none(),
        "closing twice"
    );
    let audit: Vec<String> = store
        .ticket_audit(t.id)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(audit, ["opened", "closed"]);
}

on_both_backends!(claims_are_exclusive, claims_are_exclusive_);
async fn claims_are_exclusive_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let (t, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    assert_eq!(
        store.claim_ticket(t.id, 50).await.expect("claim"),
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store.claim_ticket(t.id, 51).await.expect("claim"),
        ClaimOutcome::AlreadyClaimed(50)
    );
    assert_eq!(
        store
            .ticket(t.id)
            .await
            .expect("read")
            .expect("exists")
            .claimed_by,
        Some(50)
    );
    // Someone who does not hold the claim cannot release it (unless allowed to release any).
    assert!(!store
        .unclaim_ticket(t.id, 51, Some(51))
        .await
        .expect("unclaim"));
    assert!(store
        .unclaim_ticket(t.id, 50, Some(50))
        .await
        .expect("unclaim"));
    assert!(!store
        .unclaim_ticket(t.id, 50, None)
        .await
        .expect("unclaim twice"));
    assert_eq!(
        store.claim_ticket(t.id, 51).await.expect("claim"),
        ClaimOutcome::Claimed
    );
    store.close_ticket(t.id, 51, None).await.expect("close");
    assert_eq!(
        store.claim_ticket(t.id, 52).await.expect("claim"),
        ClaimOutcome::NotOpen
    );
}

on_both_backends!(ticket_members_are_recorded, ticket_members_are_recorded_);
async fn ticket_members_are_recorded_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let (t, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    store.add_ticket_member(&t, 70, 50).await.expect("add");
    store.add_ticket_member(&t, 71, 50).await.expect("add");
    store
        .add_ticket_member(&t, 70, 50)
        .await
        .expect("add twice is harmless");
    store
        .remove_ticket_member(&t, 71, 50)
        .await
        .expect("remove");
    assert_eq!(store.ticket_members(t.id).await.expect("members"), vec![70]);
}

on_both_backends!(
    every_table_holding_server_data_is_emptied_when_the_bot_leaves,
    every_guild_table_
);
async fn every_guild_table_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let mut covered: Vec<String> = tessera::store::GUILD_TABLES
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    covered.sort();
    assert_eq!(
        store.tables_with_guild_id().await.expect("schema"),
        covered,
        "a table with a guild_id column is missing from GUILD_TABLES (or gone from the schema)"
    );
}

on_both_backends!(leaving_a_server_deletes_only_its_data, leaving_a_server_);
async fn leaving_a_server_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    set_up(&store, OTHER_GUILD, 1).await;
    let (t, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    store.add_ticket_member(&t, 70, 50).await.expect("add");
    store
        .blacklist_add(GUILD, 9, None, 1)
        .await
        .expect("blacklist");
    store
        .create_panel(GUILD, 1, "t", "d", "b", 1)
        .await
        .expect("panel");
    store
        .open_ticket(&new_ticket(OTHER_GUILD, 7))
        .await
        .expect("open elsewhere");
    let transcript = |ticket_id, guild_id| tessera::store::TranscriptRow {
        ticket_id,
        guild_id,
        message_count: 1,
        created_at: 1,
        expires_at: 2,
        revision: 0,
    };
    store
        .save_transcript(
            &transcript(t.id, GUILD),
            &[(0, vec![1, 2, 3]), (1, vec![4])],
            &[7],
        )
        .await
        .expect("transcript");
    let (elsewhere, _) = store
        .open_ticket(&new_ticket(OTHER_GUILD, 8))
        .await
        .expect("open elsewhere");
    store
        .save_transcript(
            &transcript(elsewhere.id, OTHER_GUILD),
            &[(0, vec![9])],
            &[7],
        )
        .await
        .expect("transcript elsewhere");
    let today = tessera::stats::Day::of(tessera::store::now_ms());
    for guild in [GUILD, OTHER_GUILD] {
        store.count_opened(guild, today).await.expect("count");
        store
            .count_command(guild, today, "open")
            .await
            .expect("count");
        let sample = tessera::stats::ClosedSample::new(0, 10, Some(5), false);
        store
            .count_closed(guild, today, &sample)
            .await
            .expect("count");
    }
    store.delete_guild_data(GUILD).await.expect("delete");
    // Nothing of the server is left in any table that holds server data.
    for (table, rows) in store.guild_row_counts(GUILD).await.expect("count") {
        assert_eq!(rows, 0, "{table} still holds the server's rows");
    }
    assert!(store.transcript(GUILD, t.id).await.expect("read").is_none());
    assert!(store
        .transcript(OTHER_GUILD, elsewhere.id)
        .await
        .expect("read")
        .is_some());
    assert_eq!(store.guild_settings(GUILD).await.expect("read"), None);
    assert!(store
        .tickets_in_guild(GUILD)
        .await
        .expect("read")
        .is_empty());
    assert!(store.blacklist(GUILD).await.expect("read").is_empty());
    assert!(store.ticket_audit(t.id).await.expect("read").is_empty());
    assert!(store
        .guild_settings(OTHER_GUILD)
        .await
        .expect("read")
        .is_some());
    assert_eq!(
        store
            .tickets_in_guild(OTHER_GUILD)
            .await
            .expect("read")
            .len(),
        2
    );
    let left = store
        .stats_summary(OTHER_GUILD, today, today)
        .await
        .expect("read");
    assert_eq!((left.opened, left.closed, left.commands.len()), (1, 1, 1));
}

on_both_backends!(stale_reservations_are_swept, stale_reservations_are_swept_);
async fn stale_reservations_are_swept_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 5).await;
    let (with_channel, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    store
        .attach_channel(with_channel.id, 5)
        .await
        .expect("attach");
    let (_without, _) = store
        .open_ticket(&new_ticket(GUILD, 8))
        .await
        .expect("open");
    // Fresh reservations are in flight and stay.
    assert_eq!(
        store
            .discard_stale_reservations(60_000)
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(
        store.discard_stale_reservations(-1).await.expect("sweep"),
        1
    );
    let left = store.tickets_in_guild(GUILD).await.expect("read");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, with_channel.id);
}

on_both_backends!(migrations_are_idempotent, migrations_are_idempotent_);
async fn migrations_are_idempotent_(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    store.migrate().await.expect("second run is a no-op");
    let again = db.store().await;
    assert_eq!(again.backend(), backend);
}

on_both_backends!(
    a_reservation_cut_off_by_a_crash_stops_counting_toward_the_limit,
    stale_reservation_limit_
);
async fn stale_reservation_limit_(backend: Backend) {
    let Some((db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let (stuck, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    assert!(matches!(
        store.open_ticket(&new_ticket(GUILD, 7)).await,
        Err(OpenRefusal::LimitReached { .. })
    ));
    // Ten minutes later, still without a channel: the process that made it died mid-open.
    db.execute(&format!(
        "UPDATE tickets SET opened_at = opened_at - {} WHERE id = {}",
        2 * tessera::store::STALE_RESERVATION_MS,
        stuck.id
    ))
    .await;
    store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("the member is not blocked");
}

on_both_backends!(
    installed_plugins_are_recorded_once_per_file,
    installed_plugins_
);
async fn installed_plugins_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let plugin = tessera::store::InstalledPlugin {
        plugin_id: "example".into(),
        version: "0.1.0".into(),
        sha256: "ab".repeat(32),
        manifest: "id = \"example\"".into(),
        installed_at: 0,
    };
    assert!(store.record_plugin(&plugin).await.expect("record"));
    assert!(!store.record_plugin(&plugin).await.expect("record twice"));
    let newer = tessera::store::InstalledPlugin {
        version: "0.2.0".into(),
        sha256: "cd".repeat(32),
        ..plugin.clone()
    };
    assert!(store.record_plugin(&newer).await.expect("record"));
    let all = store.installed_plugins().await.expect("read");
    assert_eq!(
        all.iter().map(|p| p.version.as_str()).collect::<Vec<_>>(),
        ["0.1.0", "0.2.0"]
    );
    assert!(all[0].installed_at > 0);
}

on_both_backends!(
    a_held_upload_is_taken_once_by_its_uploader_in_its_server_before_it_expires,
    held_uploads_
);
async fn held_uploads_(backend: Backend) {
    use tessera::store::{PendingUpload, Refusal};
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (admin, other_admin, now) = (5, 6, 1_000_000);
    let held = |sha: &str, expires_at| PendingUpload {
        guild_id: GUILD,
        sha256: sha.to_owned(),
        uploaded_by: admin,
        wasm: vec![0, 97, 115, 109],
        expires_at,
    };
    store
        .hold_upload(&held("aa", now + 1000), 3, now)
        .await
        .expect("held");
    // Another server, or another admin, cannot take it; it keeps waiting for its uploader.
    let take = |guild, user, at| {
        let store = store.clone();
        async move {
            store
                .take_upload(guild, "aa", user, at)
                .await
                .expect("read")
        }
    };
    assert_eq!(take(OTHER_GUILD, admin, now).await, Err(Refusal::Missing));
    assert_eq!(take(GUILD, other_admin, now).await, Err(Refusal::NotYours));
    let taken = take(GUILD, admin, now + 999).await.expect("taken");
    assert_eq!(taken, held("aa", now + 1000));
    assert_eq!(take(GUILD, admin, now).await, Err(Refusal::Missing));

    // Past its expiry it is refused as expired, deleted, and then simply gone.
    store
        .hold_upload(&held("bb", now + 1000), 3, now)
        .await
        .expect("held");
    let late = store
        .take_upload(GUILD, "bb", admin, now + 1000)
        .await
        .expect("read");
    assert_eq!(late, Err(Refusal::Expired));
    let again = store
        .take_upload(GUILD, "bb", admin, now)
        .await
        .expect("read");
    assert_eq!(again, Err(Refusal::Missing));

    // Holding sweeps every expired upload; leaving the server forgets the rest.
    store
        .hold_upload(&held("cc", now + 10), 3, now)
        .await
        .expect("held");
    store
        .hold_upload(&held("dd", now + 5000), 3, now + 20)
        .await
        .expect("held");
    assert_eq!(
        store
            .take_upload(GUILD, "cc", admin, now)
            .await
            .expect("read"),
        Err(Refusal::Missing)
    );
    store.forget_guild_pending(GUILD).await.expect("forgotten");
    assert_eq!(
        store
            .take_upload(GUILD, "dd", admin, now)
            .await
            .expect("read"),
        Err(Refusal::Missing)
    );
}

on_both_backends!(
    an_enable_prompt_is_read_until_taken_and_refused_once_expired,
    enable_prompts_
);
async fn enable_prompts_(backend: Backend) {
    use tessera::store::{PendingEnable, Refusal};
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let (admin, now) = (5, 1_000_000);
    let shown = PendingEnable {
        guild_id: GUILD,
        plugin_id: "example".to_owned(),
        user_id: admin,
        sha256: "aa".to_owned(),
        expires_at: now + 1000,
    };
    store.hold_enable(&shown, now).await.expect("held");
    for _ in 0..2 {
        assert_eq!(
            store
                .pending_enable(GUILD, "example", admin, now)
                .await
                .expect("read"),
            Ok(shown.clone())
        );
    }
    assert_eq!(
        store
            .pending_enable(OTHER_GUILD, "example", admin, now)
            .await
            .expect("read"),
        Err(Refusal::Missing)
    );
    assert_eq!(
        store
            .pending_enable(GUILD, "example", admin + 1, now)
            .await
            .expect("read"),
        Err(Refusal::Missing)
    );
    assert_eq!(
        store
            .take_enable(GUILD, "example", admin, now)
            .await
            .expect("read"),
        Ok(shown.clone())
    );
    assert_eq!(
        store
            .take_enable(GUILD, "example", admin, now)
            .await
            .expect("read"),
        Err(Refusal::Missing)
    );

    store.hold_enable(&shown, now).await.expect("held");
    assert_eq!(
        store
            .pending_enable(GUILD, "example", admin, now + 1000)
            .await
            .expect("read"),
        Err(Refusal::Expired)
    );
    assert_eq!(
        store
            .take_enable(GUILD, "example", admin, now + 1000)
            .await
            .expect("read"),
        Err(Refusal::Expired)
    );
    assert_eq!(
        store
            .take_enable(GUILD, "example", admin, now)
            .await
            .expect("read"),
        Err(Refusal::Missing),
        "an expired prompt is deleted when taken"
    );
}

on_both_backends!(
    integration_failures_are_weighed_over_a_window,
    failure_window_
);
async fn failure_window_(backend: Backend) {
    use tessera::store::{ConsentAction, ConsentRecord, FailureWindow};
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let consent = |action| ConsentRecord {
        guild_id: GUILD,
        plugin_id: "lookup".to_owned(),
        version: "1.0.0".to_owned(),
        sha256: "00".repeat(32),
        privacy_policy: "https://example.com/privacy".to_owned(),
        data_use: String::new(),
        allowed_hosts: String::new(),
        shares: String::new(),
        action,
        actor_id: Some(5),
        at: 0,
    };
    let enable = || async {
        store
            .enable_integration(
                GUILD,
                "lookup",
                &Default::default(),
                None,
                &consent(ConsentAction::Enabled),
            )
            .await
            .expect("enable");
    };
    let window = FailureWindow {
        threshold: 3,
        window_ms: 60_000,
    };
    let auto = consent(ConsentAction::AutoDisabled);
    let fail = |now: i64| {
        let auto = auto.clone();
        let store = &store;
        async move {
            store
                .note_integration_failure(&auto, window, "it crashed", now)
                .await
                .expect("note")
        }
    };
    let succeed = |now: i64| {
        let store = &store;
        async move {
            store
                .note_integration_success(GUILD, "lookup", window, now)
                .await
                .expect("note");
        }
    };
    let enabled = || async {
        store
            .guild_integration(GUILD, "lookup")
            .await
            .expect("read")
            .expect("row")
            .enabled
    };
    enable().await;
    let t0: i64 = 1_800_000_000_000;

    // Failures spread thinner than the threshold per window never disable it, even in a row.
    for n in 0..6 {
        assert!(!fail(t0 + n * 40_000).await, "failure {n}");
    }
    assert!(enabled().await);

    // Within a window, failures its successes outweigh do not disable it.
    let t1 = t0 + 1_000_000;
    for n in 0..3 {
        succeed(t1 + n).await;
    }
    assert!(!fail(t1 + 10).await, "opens a window");
    for n in 0..4 {
        succeed(t1 + 20 + n).await;
    }
    assert!(!fail(t1 + 30).await);
    assert!(!fail(t1 + 40).await, "3 failures, 4 successes");
    assert!(enabled().await);

    // Failing at the threshold and more often than working, within one window: disabled, once.
    let t2 = t1 + 1_000_000;
    assert!(!fail(t2).await);
    succeed(t2 + 1).await;
    assert!(!fail(t2 + 2).await);
    assert!(fail(t2 + 3).await, "3 failures, 1 success: disabled");
    assert!(!fail(t2 + 4).await, "told once");
    assert!(!enabled().await);
    let row = store
        .guild_integration(GUILD, "lookup")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.disabled_reason.as_deref(), Some("it crashed"));
    let consents = store.integration_consents(GUILD).await.expect("read");
    assert_eq!(
        consents
            .iter()
            .filter(|c| c.action == ConsentAction::AutoDisabled)
            .count(),
        1
    );

    // Enabled again, it starts with no window.
    enable().await;
    let row = store
        .guild_integration(GUILD, "lookup")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        (row.recent_failures, row.recent_successes, row.failing_since),
        (0, 0, 0)
    );
}

on_both_backends!(
    a_server_uploads_within_its_own_quota_and_holds_a_few_at_once,
    upload_quotas_
);
async fn upload_quotas_(backend: Backend) {
    use tessera::store::{PendingUpload, Refusal, UploadQuota, UploadRefusal};
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let quota = UploadQuota {
        per_hour: 2,
        bytes_per_day: 3000,
        held: 2,
    };
    let hour = 60 * 60 * 1000;
    let t0: i64 = 1_800_000_000_000;
    let count = |guild, bytes, at| {
        let store = store.clone();
        async move {
            store
                .count_upload(guild, bytes, quota, at)
                .await
                .expect("count")
        }
    };
    assert_eq!(count(GUILD, 1000, t0).await, Ok(()));
    assert_eq!(count(GUILD, 1000, t0 + 1).await, Ok(()));
    assert_eq!(
        count(GUILD, 10, t0 + 2).await,
        Err(UploadRefusal::PerHour(2))
    );
    // Another server's quota is its own.
    assert_eq!(count(OTHER_GUILD, 1000, t0 + 3).await, Ok(()));
    // An hour later, the count starts again, but the day's bytes still weigh.
    assert_eq!(count(GUILD, 1000, t0 + hour + 5).await, Ok(()));
    assert_eq!(
        count(GUILD, 1, t0 + hour + 6).await,
        Err(UploadRefusal::PerDay(3000))
    );
    // A day later, everything is forgotten.
    assert_eq!(count(GUILD, 1000, t0 + 25 * hour).await, Ok(()));

    // Held uploads: a server keeps its `held` newest; a new one replaces its own oldest,
    // never another server's.
    let held = |guild, sha: &str, expires_at| PendingUpload {
        guild_id: guild,
        sha256: sha.to_owned(),
        uploaded_by: 5,
        wasm: vec![0, 97, 115, 109],
        expires_at,
    };
    let now = t0;
    for (n, sha) in ["a1", "a2", "a3"].into_iter().enumerate() {
        store
            .hold_upload(&held(GUILD, sha, now + 1000 + n as i64), quota.held, now)
            .await
            .expect("held");
    }
    store
        .hold_upload(&held(OTHER_GUILD, "b1", now + 500), quota.held, now)
        .await
        .expect("held");
    let take = |guild, sha: &'static str| {
        let store = store.clone();
        async move { store.take_upload(guild, sha, 5, now).await.expect("take") }
    };
    assert_eq!(
        take(GUILD, "a1").await,
        Err(Refusal::Missing),
        "the oldest went"
    );
    assert!(take(GUILD, "a2").await.is_ok());
    assert!(take(GUILD, "a3").await.is_ok());
    assert!(
        take(OTHER_GUILD, "b1").await.is_ok(),
        "the other server's stayed"
    );

    // Leaving the server forgets its attempts.
    store.forget_guild_pending(GUILD).await.expect("forget");
    assert_eq!(count(GUILD, 1000, t0 + 25 * hour + 1).await, Ok(()));
    assert_eq!(count(GUILD, 1000, t0 + 25 * hour + 2).await, Ok(()));
}

on_both_backends!(
    the_retention_purge_deletes_expired_transcripts_and_old_closed_tickets_only,
    retention_
);
async fn retention_(backend: Backend) {
    use tessera::privacy::retention::{purge, Purged};
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 5).await;
    // A ticket closed now with a transcript kept 7 days, and one still open.
    let (closed, _) = store
        .open_ticket(&new_ticket(GUILD, 7))
        .await
        .expect("open");
    let closed = store
        .close_ticket(closed.id, 7, Some("done"))
        .await
        .expect("close")
        .expect("closed");
    let closed_at = closed.closed_at.expect("a close time");
    let row = tessera::store::TranscriptRow {
        ticket_id: closed.id,
        guild_id: GUILD,
        message_count: 1,
        created_at: closed_at,
        expires_at: closed_at + 7 * DAY,
        revision: 0,
    };
    store
        .save_transcript(&row, &[(0, vec![1]), (1, vec![2])], &[7])
        .await
        .expect("transcript");
    let (open, _) = store
        .open_ticket(&new_ticket(GUILD, 8))
        .await
        .expect("open");
    store.attach_channel(open.id, 808).await.expect("channel");
    // A reservation a crash left without a channel goes once it is stale.
    let (stale, _) = store
        .open_ticket(&new_ticket(GUILD, 9))
        .await
        .expect("reserve");
    let purged = purge(
        &store,
        365,
        stale.opened_at + tessera::store::STALE_RESERVATION_MS - 1,
    )
    .await
    .expect("purge");
    assert_eq!(purged.reservations, 0, "too early");
    let purged = purge(
        &store,
        365,
        stale.opened_at + tessera::store::STALE_RESERVATION_MS + 1,
    )
    .await
    .expect("purge");
    assert_eq!(purged.reservations, 1);
    assert!(store.ticket(stale.id).await.expect("read").is_none());

    // A day before the transcript expires: nothing goes.
    let at = closed_at + 6 * DAY;
    assert_eq!(
        purge(&store, 365, at).await.expect("purge"),
        Purged::default()
    );
    assert!(store
        .transcript(GUILD, closed.id)
        .await
        .expect("read")
        .is_some());
    // When it expires: the transcript and its blobs go; the ticket's record stays.
    let purged = purge(&store, 365, closed_at + 7 * DAY)
        .await
        .expect("purge");
    assert_eq!(
        purged,
        Purged {
            transcripts: 1,
            tickets: 0,
            stats: 0,
            erasures: 0,
            reservations: 0
        }
    );
    assert!(store
        .transcript(GUILD, closed.id)
        .await
        .expect("read")
        .is_none());
    assert!(store.ticket(closed.id).await.expect("read").is_some());
    // 365 days after closing, the closed ticket's record goes; the open ticket never does.
    assert_eq!(
        purge(&store, 365, closed_at + 365 * DAY - 1)
            .await
            .expect("purge"),
        Purged::default()
    );
    let purged = purge(&store, 365, closed_at + 365 * DAY + 1)
        .await
        .expect("purge");
    assert_eq!(
        purged,
        Purged {
            transcripts: 0,
            tickets: 1,
            stats: 0,
            erasures: 0,
            reservations: 0
        }
    );
    assert!(store.ticket(closed.id).await.expect("read").is_none());
    assert!(store.ticket(open.id).await.expect("read").is_some());
    let purged = purge(&store, 1, closed_at + 10_000 * DAY)
        .await
        .expect("purge");
    assert_eq!(purged, Purged::default(), "open tickets are never purged");
}

on_both_backends!(
    a_delivery_finishing_after_the_bot_left_the_server_is_not_written_back,
    late_delivery_
);
async fn late_delivery_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let delivery = |guild_id| tessera::store::Delivery {
        guild_id,
        ticket_id: None,
        plugin_id: "example".into(),
        version: "0.1.0".into(),
        sha256: "00".into(),
        user_id: 77,
        at: 1,
        outcome: "ok".into(),
        detail: None,
    };
    store
        .record_deliveries(&[delivery(GUILD)])
        .await
        .expect("record");
    assert_eq!(store.deliveries_for_user(77).await.expect("read").len(), 1);
    // The bot leaves while another ticket's plugins are still running.
    store.delete_guild_data(GUILD).await.expect("delete");
    store
        .record_deliveries(&[delivery(GUILD)])
        .await
        .expect("record");
    assert!(store
        .deliveries_for_user(77)
        .await
        .expect("read")
        .is_empty());
}
