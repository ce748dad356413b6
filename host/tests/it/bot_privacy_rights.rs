//! Through the emulator: a member's export and deletion of their data (PRIVACY.md #10, #11,
//! #12, #20). Alice and Bob each open a ticket and write in it (Bob also in Alice's, where
//! staff added him); transcripts are on and an integration receives each opener's ID. Bob's
//! export must hold all of his and none of hers; his deletion must remove his and leave hers.

use std::io::Read as _;

use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::store::{Backend, TicketStatus};
use tessera::transcripts::Transcripts;
use tessera_discord_emulator::MemberSpec;

use crate::app::{channel_mentioned, id, spawn_app, text, TestApp};
use crate::on_both_backends;

/// The transcript key these tests run with (32 bytes, base64).
const TRANSCRIPT_KEY: &str = "HwAeAB0AHAAbABoAGQAYABcAFgAVABQAEwASABEAEAA=";

const ALICE_SUBJECT: &str = "alice private subject";
const ALICE_WORDS: &str = "alice secret words";
const BOB_SUBJECT: &str = "bob subject line";
const BOB_WORDS: &str = "bob secret words";
const BOB_IN_ALICES: &str = "bob helping out over there";
const BOB_REASON: &str = "bob closing reason";
const STAFF_WORDS: &str = "staff answer to bob";
const BOB_FILE: &[u8] = b"bob-proof-bytes";
const ALICE_FILE: &[u8] = b"alice-proof-bytes";

fn alice() -> MemberSpec {
    MemberSpec::new(700_000_000_000_000_101, "alice").with_avatar(vec![1, 2, 3])
}

fn bob() -> MemberSpec {
    MemberSpec::new(700_000_000_000_000_102, "bob").with_avatar(vec![4, 5, 6])
}

fn sub(name: &str) -> Value {
    json!([{"name": name, "type": 1, "options": []}])
}

/// Two closed tickets with transcripts: Alice's (channel `a`, Bob added and wrote in it,
/// closed by staff) and Bob's (channel `b`, closed by Bob with a reason).
struct World {
    app: TestApp,
    a: u64,
    b: u64,
}

/// Restarts the bot with a transcript key, then turns transcripts and the `example`
/// integration on.
async fn with_transcripts_and_an_integration(app: &mut TestApp) {
    app.transcripts.key = Some(SecretString::from(TRANSCRIPT_KEY));
    // The first-party `example` ships in the binary.
    app.restart_bot().await;
    let options = json!([
        {"name": "staff_role", "type": 8, "value": app.staff_role.to_string()},
        {"name": "category", "type": 7, "value": app.category.to_string()},
        {"name": "log_channel", "type": 7, "value": app.log_channel.to_string()},
        {"name": "max_open", "type": 4, "value": 2},
        {"name": "transcripts", "type": 5, "value": true},
    ]);
    let reply = app.command(&app.admin(), app.lobby, "setup", options).await;
    assert!(text(&reply).contains("set up"), "{reply}");
    let done = app.enable_plugin("example", &[]).await;
    assert!(text(&done).contains("is enabled"), "{done}");
}

/// `/open subject` as `who`; the ticket channel.
async fn open(app: &TestApp, who: &MemberSpec, subject: &str) -> u64 {
    let reply = app
        .command(
            who,
            app.lobby,
            "open",
            json!([{"name": "subject", "type": 3, "value": subject}]),
        )
        .await;
    channel_mentioned(&reply).unwrap_or_else(|| panic!("no ticket channel in {reply}"))
}

/// `/close [reason]` as `who` in `channel`.
async fn close(app: &TestApp, who: &MemberSpec, channel: u64, reason: Option<&str>) {
    let options = match reason {
        Some(r) => json!([{"name": "reason", "type": 3, "value": r}]),
        None => json!([]),
    };
    let reply = app.command(who, channel, "close", options).await;
    assert!(text(&reply).contains("closed"), "{reply}");
}

async fn world(backend: Backend) -> Option<World> {
    let mut app = spawn_app(backend).await?;
    with_transcripts_and_an_integration(&mut app).await;
    let (alice, bob, staff) = (alice(), bob(), app.staff(1));
    let a = open(&app, &alice, ALICE_SUBJECT).await;
    let b = open(&app, &bob, BOB_SUBJECT).await;
    let reply = app
        .command(
            &staff,
            a,
            "add",
            json!([{"name": "user", "type": 6, "value": bob.user_id.to_string()}]),
        )
        .await;
    assert!(text(&reply).contains("can now see"), "{reply}");
    app.emu.add_member_message(
        a,
        &alice,
        json!({"content": ALICE_WORDS, "attachments": [
            {"filename": "alice.txt", "content_type": "text/plain", "bytes": ALICE_FILE}
        ]}),
    );
    app.emu
        .add_member_message(a, &bob, json!({"content": BOB_IN_ALICES}));
    app.emu.add_member_message(
        b,
        &bob,
        json!({"content": BOB_WORDS, "attachments": [
            {"filename": "bob-proof.txt", "content_type": "text/plain", "bytes": BOB_FILE}
        ]}),
    );
    app.emu.add_member_message(
        b,
        &staff,
        json!({"content": format!("{STAFF_WORDS} <@{}>", bob.user_id)}),
    );
    close(&app, &staff, a, Some("staff closing alice")).await;
    close(&app, &bob, b, Some(BOB_REASON)).await;
    Some(World { app, a, b })
}

impl World {
    fn keys(&self) -> Transcripts {
        Transcripts::from_settings(&self.app.settings()).expect("a transcript key")
    }

    /// The stored ticket whose channel was `channel`.
    async fn ticket(&self, channel: u64) -> tessera::store::Ticket {
        self.app
            .store
            .ticket_by_channel(channel)
            .await
            .expect("read")
            .expect("the ticket")
    }

    /// The transcript of the ticket whose channel was `channel`, opened.
    async fn transcript(
        &self,
        channel: u64,
    ) -> (
        tessera::transcripts::model::Transcript,
        Vec<tessera::transcripts::model::Asset>,
    ) {
        let ticket = self.ticket(channel).await;
        self.keys()
            .load(&self.app.store, ticket.guild_id, ticket.id)
            .await
            .expect("opens")
            .expect("stored")
    }
}

/// `/privacy export` as `who` in the lobby: the answer and the attached file's bytes.
async fn export(app: &TestApp, who: &MemberSpec) -> (Value, Vec<u8>) {
    let reply = app.command(who, app.lobby, "privacy", sub("export")).await;
    let bytes = attached(app, &reply, &format!("tessera-export-{}.json", who.user_id));
    (reply, bytes)
}

/// The bytes of the one file attached to an answer, which must be called `name`.
fn attached(app: &TestApp, reply: &Value, name: &str) -> Vec<u8> {
    let files = reply["attachments"].as_array().expect("attachments");
    assert_eq!(files.len(), 1, "one file: {reply}");
    assert_eq!(files[0]["filename"], name, "{reply}");
    app.emu
        .attachment_bytes(id(&files[0]["id"]))
        .expect("the uploaded file")
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("the export is JSON")
}

/// Bob's messages in an export, across transcripts: (ticket number, content).
fn messages(export: &Value) -> Vec<(i64, String)> {
    export["transcripts"]
        .as_array()
        .expect("transcripts")
        .iter()
        .flat_map(|t| {
            let n = t["ticket_number"].as_i64().expect("a number");
            t["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(move |m| (n, m["content"].as_str().expect("content").to_owned()))
        })
        .collect()
}

on_both_backends!(
    a_members_export_holds_their_tickets_messages_and_deliveries_and_nothing_of_anyone_elses,
    export_is_complete_and_only_theirs
);
async fn export_is_complete_and_only_theirs(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let (app, bob, alice) = (&w.app, bob(), alice());
    let (a, b) = (w.ticket(w.a).await, w.ticket(w.b).await);
    let (reply, bytes) = export(app, &bob).await;
    assert!(text(&reply).contains("tessera-export/1"), "{reply}");
    let e = parse(&bytes);
    assert_eq!(e["schema"], "tessera-export/1");
    assert_eq!(e["user_id"], bob.user_id.to_string());

    // His ticket, with what he wrote on it.
    let opened = e["tickets_opened"].as_array().expect("tickets");
    assert_eq!(opened.len(), 1, "only bob's ticket: {e:#}");
    assert_eq!(opened[0]["number"], b.number);
    assert_eq!(opened[0]["server_id"], app.guild.to_string());
    assert_eq!(opened[0]["subject"], BOB_SUBJECT);
    assert_eq!(opened[0]["status"], "closed");
    assert_eq!(opened[0]["close_reason"], BOB_REASON);
    assert_eq!(opened[0]["closed_by"], bob.user_id.to_string());
    assert!(opened[0]["opened_at"]
        .as_str()
        .expect("a time")
        .ends_with('Z'));
    // Alice's ticket only as one he was added to.
    let added = e["tickets_added_to"].as_array().expect("added");
    assert_eq!(added.len(), 1, "{e:#}");
    assert_eq!(added[0]["ticket_number"], a.number);

    // His own messages, in his ticket and in hers, with file names but never bytes.
    let mut said = messages(&e);
    said.sort();
    let mut expected = vec![
        (a.number, BOB_IN_ALICES.to_owned()),
        (b.number, BOB_WORDS.to_owned()),
    ];
    expected.sort();
    assert_eq!(said, expected, "{e:#}");
    let with_file = e["transcripts"]
        .as_array()
        .expect("transcripts")
        .iter()
        .flat_map(|t| t["messages"].as_array().expect("messages").iter())
        .find(|m| m["content"] == BOB_WORDS)
        .expect("bob's message");
    assert_eq!(with_file["attachments"][0]["filename"], "bob-proof.txt");
    assert_eq!(with_file["attachments"][0]["kept"], true);
    assert_eq!(e["transcripts_not_readable"], 0);

    // The integration that received his ID when he opened his ticket.
    let deliveries = e["integration_deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 1, "{e:#}");
    assert_eq!(deliveries[0]["plugin"], "example");
    assert_eq!(deliveries[0]["ticket_number"], b.number);
    assert_eq!(deliveries[0]["outcome"], "ok");
    assert_eq!(
        deliveries[0]["sha256"].as_str().map(str::len),
        Some(64),
        "{e:#}"
    );

    // Nothing of Alice's: not her words, her file, her subject, her ID, nor staff's words.
    let raw = String::from_utf8_lossy(&bytes);
    for theirs in [
        ALICE_WORDS,
        ALICE_SUBJECT,
        "alice.txt",
        STAFF_WORDS,
        "staff closing alice",
        &alice.user_id.to_string(),
        "alice",
    ] {
        assert!(
            !raw.contains(theirs),
            "{theirs:?} is in bob's export: {raw}"
        );
    }
    assert!(
        !raw.contains("bob-proof-bytes"),
        "file bytes are never exported"
    );

    // Alice's own export has her ticket and her words, and none of Bob's.
    let (_, bytes) = export(app, &alice).await;
    let theirs = parse(&bytes);
    assert_eq!(messages(&theirs), vec![(a.number, ALICE_WORDS.to_owned())]);
    assert_eq!(theirs["tickets_opened"][0]["subject"], ALICE_SUBJECT);
    assert!(!String::from_utf8_lossy(&bytes).contains(BOB_IN_ALICES));

    // In a DM with the bot, the same export.
    let i = app
        .emu
        .send_dm_command(&bob, "privacy", sub("export"))
        .await;
    let dm = app.reply(&i).await;
    let in_dm = parse(&attached(
        app,
        &dm,
        &format!("tessera-export-{}.json", bob.user_id),
    ));
    assert_eq!(messages(&in_dm).len(), 2);
    assert_eq!(in_dm["tickets_opened"], e["tickets_opened"]);
    w.app.finish().await;
}

on_both_backends!(
    deleting_replaces_a_members_messages_by_tombstones_and_leaves_everyone_elses,
    delete_is_complete_and_only_theirs
);
async fn delete_is_complete_and_only_theirs(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let (app, bob, alice) = (&w.app, bob(), alice());
    let (a, b) = (w.ticket(w.a).await, w.ticket(w.b).await);
    let (b_row_before, b_blobs_before) = app
        .store
        .transcript(b.guild_id, b.id)
        .await
        .expect("read")
        .expect("stored");
    let alice_deliveries = app
        .store
        .deliveries_for_user(alice.user_id)
        .await
        .expect("read");
    assert_eq!(alice_deliveries.len(), 1);

    // The confirm step first: nothing is deleted until Bob presses Delete.
    let ask = app.command(&bob, app.lobby, "privacy", sub("delete")).await;
    assert!(text(&ask).contains("Kept"), "{ask}");
    assert!(messages(&parse(&export(app, &bob).await.1))
        .iter()
        .any(|(_, m)| m == BOB_WORDS));
    let done = app
        .click(
            &bob,
            id(&ask["channel_id"]),
            id(&ask["id"]),
            "tessera:privacy:delete",
        )
        .await;
    let said = text(&done);
    assert!(said.contains("your data is deleted"), "{done}");
    assert!(said.contains("2 messages (in 2 transcripts)"), "{done}");
    assert!(said.contains("1 record of integrations"), "{done}");
    assert!(said.contains("everyone else's messages"), "{done}");
    assert!(
        said.contains("the record of the 1 ticket you opened"),
        "{done}"
    );

    // His ticket's transcript: his message is a tombstone, his file and avatar are gone,
    // staff's message stays; his subject and his own close reason are gone.
    let (t, assets) = w.transcript(w.b).await;
    let his = t
        .messages
        .iter()
        .find(|m| m.author_id == bob.user_id)
        .expect("bob's message is still there, as a tombstone");
    assert!(his.removed);
    assert_eq!(his.content, "");
    assert!(his.attachments.is_empty() && his.embeds.is_empty());
    let staff = t
        .messages
        .iter()
        .find(|m| m.content.starts_with(STAFF_WORDS))
        .expect("staff's message stays");
    assert!(!staff.removed);
    assert_eq!(staff.mentions[0].name, "Deleted user");
    let bob_there = t
        .participants
        .iter()
        .find(|p| p.id == bob.user_id)
        .expect("bob");
    assert_eq!(
        (bob_there.username.as_str(), bob_there.avatar),
        ("Deleted user", None)
    );
    assert!(
        !assets.iter().any(|a| a.bytes == BOB_FILE),
        "bob's file is still kept"
    );
    assert!(
        !assets.iter().any(|a| a.bytes == [4, 5, 6]),
        "bob's avatar is still kept"
    );
    assert_eq!(t.ticket.subject, None);
    assert_eq!(t.ticket.close_reason, None);
    assert!(
        t.messages.iter().all(|m| !m.content.contains(BOB_SUBJECT)),
        "the welcome message still shows his subject"
    );
    // Re-sealed without his file's blob, and not kept a day longer.
    let (b_row_after, b_blobs_after) = app
        .store
        .transcript(b.guild_id, b.id)
        .await
        .expect("read")
        .expect("stored");
    assert!(b_blobs_after.len() < b_blobs_before.len());
    assert_eq!(b_row_after.expires_at, b_row_before.expires_at);
    assert_eq!(b_row_after.created_at, b_row_before.created_at);

    // Alice's ticket: her message and file stay; his message there is a tombstone.
    let (t, assets) = w.transcript(w.a).await;
    let hers = t
        .messages
        .iter()
        .find(|m| m.author_id == alice.user_id)
        .expect("alice's message");
    assert_eq!(hers.content, ALICE_WORDS);
    assert!(!hers.removed);
    assert!(assets.iter().any(|a| a.bytes == ALICE_FILE), "alice's file");
    assert!(
        assets.iter().any(|a| a.bytes == [1, 2, 3]),
        "alice's avatar"
    );
    assert_eq!(t.ticket.subject.as_deref(), Some(ALICE_SUBJECT));
    assert!(
        t.messages.iter().any(|m| m.content.contains(ALICE_SUBJECT)),
        "her welcome message is untouched"
    );
    let his = t
        .messages
        .iter()
        .find(|m| m.author_id == bob.user_id)
        .expect("bob's message in alice's ticket");
    assert!(his.removed && his.content.is_empty());

    // The database: his deliveries and subject are gone, his ticket's record stays; hers stay.
    assert!(app
        .store
        .deliveries_for_user(bob.user_id)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(
        app.store
            .deliveries_for_user(alice.user_id)
            .await
            .expect("read"),
        alice_deliveries
    );
    let b_now = w.ticket(w.b).await;
    assert_eq!((b_now.subject, b_now.close_reason), (None, None));
    assert_eq!(
        (b_now.number, b_now.opener_id, b_now.status),
        (b.number, bob.user_id, TicketStatus::Closed)
    );
    let a_now = w.ticket(w.a).await;
    assert_eq!(a_now.subject.as_deref(), Some(ALICE_SUBJECT));
    assert_eq!(a_now.close_reason.as_deref(), Some("staff closing alice"));
    assert!(app
        .store
        .ticket_audit(b.id)
        .await
        .expect("read")
        .iter()
        .all(
            |e| e.detail.as_deref() != Some(BOB_SUBJECT) && e.detail.as_deref() != Some(BOB_REASON)
        ));

    // His export now shows only tombstones; hers is whole.
    let e = parse(&export(app, &bob).await.1);
    assert!(messages(&e).iter().all(|(_, m)| m.is_empty()), "{e:#}");
    assert!(e["transcripts"][0]["messages"][0]["removed"] == true);
    assert_eq!(e["integration_deliveries"], json!([]));
    assert_eq!(e["tickets_opened"][0]["subject"], Value::Null);
    let theirs = parse(&export(app, &alice).await.1);
    assert_eq!(messages(&theirs), vec![(a.number, ALICE_WORDS.to_owned())]);
    w.app.finish().await;
}

on_both_backends!(a_member_can_reach_only_their_own_data, only_their_own);
async fn only_their_own(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let (app, bob, alice) = (&w.app, bob(), alice());
    // No subcommand of /privacy takes an option: there is no way to name someone else.
    let commands = app.emu.global_commands();
    let privacy = commands
        .iter()
        .find(|c| c["name"] == "privacy")
        .expect("/privacy is registered");
    for s in privacy["options"].as_array().expect("subcommands") {
        assert!(
            s["options"].as_array().is_none_or(Vec::is_empty),
            "{} takes options: {s}",
            s["name"]
        );
    }
    // An option Discord would never send (a forged `user`) changes nothing.
    let forged = json!([{"name": "export", "type": 1, "options": [
        {"name": "user", "type": 6, "value": alice.user_id.to_string()}
    ]}]);
    let reply = app.command(&bob, app.lobby, "privacy", forged).await;
    let e = parse(&attached(
        app,
        &reply,
        &format!("tessera-export-{}.json", bob.user_id),
    ));
    assert_eq!(e["user_id"], bob.user_id.to_string());
    assert!(!e.to_string().contains(ALICE_WORDS));

    // The Delete button acts for whoever presses it: Alice pressing the button shown to Bob
    // deletes Alice's data, never Bob's.
    let ask = app.command(&bob, app.lobby, "privacy", sub("delete")).await;
    let done = app
        .click(
            &alice,
            id(&ask["channel_id"]),
            id(&ask["id"]),
            "tessera:privacy:delete",
        )
        .await;
    assert!(text(&done).contains("your data is deleted"), "{done}");
    let (t, _) = w.transcript(w.b).await;
    let his = t
        .messages
        .iter()
        .find(|m| m.author_id == bob.user_id)
        .expect("bob's");
    assert_eq!(his.content, BOB_WORDS, "bob's data was deleted by alice");
    assert!(!app
        .store
        .deliveries_for_user(bob.user_id)
        .await
        .expect("read")
        .is_empty());
    let (t, _) = w.transcript(w.a).await;
    assert!(t
        .messages
        .iter()
        .filter(|m| m.author_id == alice.user_id)
        .all(|m| m.removed));
    // Cancel deletes nothing.
    let ask = app.command(&bob, app.lobby, "privacy", sub("delete")).await;
    let cancelled = app
        .click(
            &bob,
            id(&ask["channel_id"]),
            id(&ask["id"]),
            "tessera:privacy:cancel",
        )
        .await;
    assert!(
        text(&cancelled).contains("nothing was deleted"),
        "{cancelled}"
    );
    assert_eq!(messages(&parse(&export(app, &bob).await.1)).len(), 2);
    w.app.finish().await;
}

on_both_backends!(
    deleting_while_a_ticket_is_open_leaves_what_was_written_until_then_out_of_its_transcript,
    delete_with_an_open_ticket
);
async fn delete_with_an_open_ticket(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    with_transcripts_and_an_integration(&mut app).await;
    let (bob, staff) = (bob(), app.staff(1));
    let channel = open(&app, &bob, BOB_SUBJECT).await;
    app.emu
        .add_member_message(channel, &bob, json!({"content": BOB_WORDS}));
    // In a DM, `integrations` (about one server) says where to use it.
    let i = app
        .emu
        .send_dm_command(&bob, "privacy", sub("integrations"))
        .await;
    let answer = app.reply(&i).await;
    assert!(text(&answer).contains("use it in that server"), "{answer}");
    // From a DM with the bot: the question, then the button.
    let i = app
        .emu
        .send_dm_command(&bob, "privacy", sub("delete"))
        .await;
    let ask = app.reply(&i).await;
    let i = app
        .emu
        .click_dm_button(
            id(&ask["channel_id"]),
            id(&ask["id"]),
            &bob,
            "tessera:privacy:delete",
        )
        .await;
    let done = app.reply(&i).await;
    assert!(
        text(&done).contains("**Your open ticket:** it stays open"),
        "{done}"
    );
    // The ticket stays open; what Bob writes from now on is kept.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.emu
        .add_member_message(channel, &bob, json!({"content": "written afterwards"}));
    app.emu
        .add_member_message(channel, &staff, json!({"content": STAFF_WORDS}));
    let ticket = app
        .store
        .ticket_by_channel(channel)
        .await
        .expect("read")
        .expect("ticket");
    assert_eq!(ticket.status, TicketStatus::Open);
    // Its welcome message shows the subject until it closes; then both go.
    assert_eq!(ticket.subject.as_deref(), Some(BOB_SUBJECT));
    close(&app, &staff, channel, None).await;
    let closed = app
        .store
        .ticket(ticket.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(closed.subject, None);
    let keys = Transcripts::from_settings(&app.settings()).expect("a key");
    let (t, _) = keys
        .load(&app.store, app.guild, ticket.id)
        .await
        .expect("opens")
        .expect("stored");
    let his: Vec<(&str, bool)> = t
        .messages
        .iter()
        .filter(|m| m.author_id == bob.user_id)
        .map(|m| (m.content.as_str(), m.removed))
        .collect();
    assert_eq!(his, vec![("", true), ("written afterwards", false)]);
    assert!(t.messages.iter().any(|m| m.content == STAFF_WORDS));
    assert_eq!(t.ticket.subject, None);
    assert!(
        t.messages.iter().all(|m| !m.content.contains(BOB_SUBJECT)),
        "the welcome message still shows his subject"
    );
    // The transcript posted to the log channel does not carry his earlier words either.
    let posted = app
        .emu
        .messages_in(app.log_channel)
        .into_iter()
        .filter_map(|m| m["attachments"].as_array().cloned())
        .flatten()
        .filter_map(|a| app.emu.attachment_bytes(id(&a["id"])))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect::<Vec<_>>();
    assert_eq!(posted.len(), 1, "one transcript posted");
    assert!(!posted[0].contains(BOB_WORDS));
    assert!(!posted[0].contains(BOB_SUBJECT));
    assert!(posted[0].contains("written afterwards"));
    // Once no ticket open at the time of the request is open, the request itself is forgotten.
    let purged = tessera::privacy::retention::purge(&app.store, 365, tessera::store::now_ms())
        .await
        .expect("purge");
    assert_eq!(purged.erasures, 1);
    app.finish().await;
}

on_both_backends!(
    an_export_too_large_to_attach_is_compressed_or_refused_in_words,
    too_large
);
async fn too_large(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let bob = bob();
    open(&app, &bob, BOB_SUBJECT).await;
    let (_, json) = export(&app, &bob).await;
    // Too small for the JSON (with room for its time stamp to be written shorter next time):
    // it comes compressed.
    app.emu.set_attachment_size_limit(json.len() as u64 - 40);
    let reply = app.command(&bob, app.lobby, "privacy", sub("export")).await;
    assert!(text(&reply).contains("gzip"), "{reply}");
    let gz = attached(
        &app,
        &reply,
        &format!("tessera-export-{}.json.gz", bob.user_id),
    );
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unpacked)
        .expect("gzip");
    assert_eq!(
        parse(&unpacked)["tickets_opened"][0]["subject"],
        BOB_SUBJECT
    );
    // Too small even for that: said in words, nothing attached.
    app.emu.set_attachment_size_limit(64);
    let reply = app.command(&bob, app.lobby, "privacy", sub("export")).await;
    assert!(
        text(&reply).contains("more than Discord lets Tessera attach here"),
        "{reply}"
    );
    assert!(
        reply["attachments"].as_array().is_none_or(Vec::is_empty),
        "{reply}"
    );
    app.finish().await;
}
