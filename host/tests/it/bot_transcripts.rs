//! Through the emulator: transcripts (PRIVACY.md #3, #4, #5) — a per-server switch, off by
//! default and impossible without the operator's key; at close the whole channel is read (paged),
//! its files kept from the CDN, the transcript stored sealed and posted to the log channel as one
//! inert HTML file; with the switch off nothing is read or kept.

use secrecy::SecretString;
use serde_json::{json, Value};
use tessera::store::Backend;
use tessera_discord_emulator::MemberSpec;

use crate::app::{channel_mentioned, spawn_app, text, TestApp, WAIT};
use crate::on_both_backends;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The smallest valid PNG (1x1, transparent).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];
/// What the opener writes: it must reach the HTML, and never be stored in the clear.
const SECRET_LINE: &str = "my order 4471-XYZZY never arrived";

/// A test app whose operator configured a transcript key.
async fn with_key(backend: Backend) -> Option<TestApp> {
    let mut app = spawn_app(backend).await?;
    app.transcripts.key = Some(SecretString::from(KEY));
    app.restart_bot().await;
    Some(app)
}

async fn setup_transcripts(app: &TestApp, on: bool) -> Value {
    let options = json!([
        {"name": "staff_role", "type": 8, "value": app.staff_role.to_string()},
        {"name": "log_channel", "type": 7, "value": app.log_channel.to_string()},
        {"name": "transcripts", "type": 5, "value": on},
    ]);
    app.command(&app.admin(), app.lobby, "setup", options).await
}

/// Opens a ticket as `who` with `/open`; its channel.
async fn open(app: &TestApp, who: &MemberSpec) -> u64 {
    let reply = app.command(who, app.lobby, "open", json!([])).await;
    channel_mentioned(&reply).unwrap_or_else(|| panic!("a ticket channel: {reply}"))
}

async fn close(app: &TestApp, who: &MemberSpec, channel: u64) -> Value {
    let reply = app
        .command(
            who,
            channel,
            "close",
            json!([{"name": "reason", "type": 3, "value": "solved"}]),
        )
        .await;
    assert!(text(&reply).contains("is closed"), "{reply}");
    reply
}

/// The log channel's close notice once it arrives.
async fn close_notice(app: &TestApp) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(m) = app.emu.messages_in(app.log_channel).into_iter().find(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.contains("closed by"))
        }) {
            return m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no close notice");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The server's one ticket.
async fn only_ticket(app: &TestApp) -> tessera::store::Ticket {
    app.store
        .tickets_in_guild(app.guild)
        .await
        .expect("read")
        .into_iter()
        .next()
        .expect("the ticket")
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .map(|b| b.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
        {
            found.push(path);
        }
    }
    found
}

on_both_backends!(
    a_closed_tickets_conversation_reaches_the_log_channel_as_html_and_is_stored_only_sealed,
    captured
);
async fn captured(backend: Backend) {
    let Some(app) = with_key(backend).await else {
        return;
    };
    app.set_up(1).await;
    let set = setup_transcripts(&app, true).await;
    assert!(text(&set).contains("Transcripts: on"), "{set}");
    let opener = app.member(1).with_avatar(PNG.to_vec());
    let staff = app.staff(2);
    let channel = open(&app, &opener).await;

    let first = app.emu.add_member_message(
        channel,
        &opener,
        json!({"content": format!("Hello **staff**, {SECRET_LINE} <script>alert(1)</script>")}),
    );
    app.emu.add_member_message(
        channel,
        &staff,
        json!({"content": format!("On it, <@{}>! Asking <@&{}>.", opener.user_id, app.staff_role), "message_reference": {"message_id": first.to_string()}}),
    );
    let edited = app
        .emu
        .add_member_message(channel, &opener, json!({"content": "typo"}));
    app.emu
        .edit_member_message(edited, "fixed [click](javascript:alert(1))");
    app.emu.add_member_message(
        channel,
        &staff,
        json!({"content": "", "embeds": [{"title": "Order status", "description": "Shipped *today*"}]}),
    );
    app.emu.add_member_message_with_files(
        channel,
        &opener,
        json!({"content": "proof attached"}),
        vec![("proof.png".into(), "image/png".into(), PNG.to_vec())],
    );
    // More than two pages of history.
    app.emu.add_member_messages(channel, &staff, 230);

    close(&app, &opener, channel).await;
    let notice = close_notice(&app).await;
    let content = text(&notice);
    assert!(
        content.contains("Transcript:") && content.contains("attached"),
        "{notice}"
    );
    let attachment = &notice["attachments"][0];
    assert_eq!(attachment["filename"], "transcript-0001.html", "{notice}");
    let id: u64 = attachment["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an attachment id");
    let html =
        String::from_utf8(app.emu.attachment_bytes(id).expect("the file's bytes")).expect("utf-8");

    // Every message and author is in it; what members typed is inert.
    let doc = scraper::Html::parse_document(&html);
    let page = doc.root_element().text().collect::<String>();
    for needle in [
        SECRET_LINE,
        "On it,",
        "@Staff",
        "fixed",
        "Order status",
        "proof attached",
        "message 1",
        "message 230",
        "member1",
        "staff2",
        "solved",
    ] {
        assert!(
            page.contains(needle),
            "{needle:?} missing from the transcript"
        );
    }
    let all = scraper::Selector::parse("*").expect("selector");
    for element in doc.select(&all) {
        let name = element.value().name();
        assert_ne!(name, "script", "a script element");
        for (attr, value) in element.value().attrs() {
            assert!(!attr.starts_with("on"), "{name} has {attr}");
            assert!(
                !value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("javascript:"),
                "{name} {attr}={value}"
            );
        }
    }
    let strong = scraper::Selector::parse("strong").expect("selector");
    assert!(doc
        .select(&strong)
        .any(|s| s.text().collect::<String>() == "staff"));
    // The image is kept inside the file, fetched from the CDN, not linked.
    let img = scraper::Selector::parse("img").expect("selector");
    assert!(
        doc.select(&img).any(|i| i
            .value()
            .attr("src")
            .is_some_and(|s| s.starts_with("data:image/png;base64,"))),
        "the kept image is inline"
    );
    assert!(app.emu.cdn_downloads("/attachments/") >= 1);
    assert!(
        app.emu
            .cdn_downloads(&format!("/avatars/{}/", opener.user_id))
            >= 1
    );
    // History was read in pages of 100.
    let pages = app
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == format!("/channels/{channel}/messages"))
        .count();
    assert!(pages >= 3, "{pages} pages");

    // Stored, sealed: the transcript opens with the key, and its text is nowhere in the clear.
    let ticket = only_ticket(&app).await;
    let (row, blobs) = app
        .store
        .transcript(app.guild, ticket.id)
        .await
        .expect("read")
        .expect("a stored transcript");
    assert_eq!(row.message_count as usize, 5 + 230 + 1, "with the welcome");
    assert!(blobs.len() >= 3, "the document, the image and an avatar");
    let needle = b"4471-XYZZY";
    assert!(
        !blobs
            .iter()
            .any(|(_, b)| b.windows(needle.len()).any(|w| w == needle)),
        "a blob holds the text in the clear"
    );
    assert!(
        files_containing(app.data_dir(), needle).is_empty(),
        "the data directory holds the text in the clear"
    );
    if let Some(path) = app.db.url.strip_prefix("sqlite://") {
        let dir = std::path::Path::new(path)
            .parent()
            .expect("the database's folder");
        assert_eq!(
            files_containing(dir, needle),
            Vec::<std::path::PathBuf>::new(),
            "the SQLite files hold the text in the clear"
        );
    }
    app.finish().await;
}

on_both_backends!(
    with_the_servers_switch_off_no_message_is_read_or_kept,
    switched_off
);
async fn switched_off(backend: Backend) {
    let Some(app) = with_key(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = open(&app, &opener).await;
    app.emu
        .add_member_message(channel, &opener, json!({"content": SECRET_LINE}));
    close(&app, &opener, channel).await;
    let notice = close_notice(&app).await;
    assert!(
        notice["attachments"].as_array().is_none_or(Vec::is_empty),
        "{notice}"
    );
    assert!(
        !app.emu
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/messages")),
        "the channel's messages were read"
    );
    let ticket = only_ticket(&app).await;
    assert!(app
        .store
        .transcript(app.guild, ticket.id)
        .await
        .expect("read")
        .is_none());
    app.finish().await;
}

on_both_backends!(
    transcripts_cannot_be_turned_on_without_the_operators_key,
    no_key
);
async fn no_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let reply = setup_transcripts(&app, true).await;
    assert!(
        text(&reply).contains("hasn't configured a transcript key"),
        "{reply}"
    );
    let settings = app
        .store
        .guild_settings(app.guild)
        .await
        .expect("read")
        .expect("set up");
    assert!(!settings.transcripts);
    // Without a key the bot never asks Discord for message content.
    let intents = app.emu.last_identify_intents().expect("identified");
    assert_eq!(intents & (1 << 15), 0, "MESSAGE_CONTENT requested");
    app.finish().await;
}

#[tokio::test]
async fn the_bot_asks_for_message_content_only_with_a_transcript_key() {
    let Some(app) = with_key(Backend::Sqlite).await else {
        return;
    };
    let intents = app.emu.last_identify_intents().expect("identified");
    assert_ne!(intents & (1 << 15), 0, "MESSAGE_CONTENT not requested");
    assert!(app.emu.message_content_visible());
    app.finish().await;
}

on_both_backends!(
    the_opener_gets_the_transcript_by_dm_when_the_server_asks_and_closed_dms_are_quietly_skipped,
    by_dm
);
async fn by_dm(backend: Backend) {
    let Some(app) = with_key(backend).await else {
        return;
    };
    app.set_up(1).await;
    let options = json!([
        {"name": "staff_role", "type": 8, "value": app.staff_role.to_string()},
        {"name": "transcripts", "type": 5, "value": true},
        {"name": "transcript_dm", "type": 5, "value": true},
    ]);
    let set = app.command(&app.admin(), app.lobby, "setup", options).await;
    assert!(text(&set).contains("by DM"), "{set}");

    let open_dms = app.member(1);
    let channel = open(&app, &open_dms).await;
    app.emu
        .add_member_message(channel, &open_dms, json!({"content": "thanks!"}));
    close(&app, &open_dms, channel).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let dm = loop {
        if let Some(m) = app.emu.dm_messages(open_dms.user_id).into_iter().next() {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no DM");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        dm["attachments"][0]["filename"], "transcript-0001.html",
        "{dm}"
    );
    assert!(text(&dm).contains("was closed"), "{dm}");

    // A member who closed their DMs: the ticket closes, the log channel gets the transcript,
    // and nobody sees an error.
    let closed_dms = app.member(2);
    app.emu.close_dms(closed_dms.user_id);
    let channel = open(&app, &closed_dms).await;
    app.emu
        .add_member_message(channel, &closed_dms, json!({"content": "bye"}));
    let reply = close(&app, &closed_dms, channel).await;
    assert!(!text(&reply).contains("DM"), "{reply}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !app
        .emu
        .messages_in(app.log_channel)
        .iter()
        .any(|m| m["attachments"][0]["filename"] == "transcript-0002.html")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no transcript in the log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(app.emu.dm_messages(closed_dms.user_id).is_empty());
    app.finish().await;
}

async fn ask_transcript(app: &TestApp, who: &MemberSpec) -> Value {
    app.command(
        who,
        app.lobby,
        "transcript",
        json!([{"name": "number", "type": 4, "value": 1}]),
    )
    .await
}

on_both_backends!(
    staff_fetch_a_transcript_again_and_a_tampered_one_is_refused_not_shown,
    fetch_again
);
async fn fetch_again(backend: Backend) {
    let Some(app) = with_key(backend).await else {
        return;
    };
    app.set_up(1).await;
    setup_transcripts(&app, true).await;
    let opener = app.member(1);
    let channel = open(&app, &opener).await;
    app.emu
        .add_member_message(channel, &opener, json!({"content": SECRET_LINE}));
    close(&app, &opener, channel).await;
    close_notice(&app).await;

    // Members who are not staff cannot read transcripts, not even their own ticket's here.
    let refused = ask_transcript(&app, &opener).await;
    assert!(text(&refused).contains("Only staff"), "{refused}");
    assert!(refused["attachments"].as_array().is_none_or(Vec::is_empty));

    let reply = ask_transcript(&app, &app.staff(2)).await;
    assert!(text(&reply).contains("Transcript of ticket"), "{reply}");
    let file = &reply["attachments"][0];
    assert_eq!(file["filename"], "transcript-0001.html", "{reply}");
    let id: u64 = file["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let html = String::from_utf8(app.emu.attachment_bytes(id).expect("bytes")).expect("utf-8");
    assert!(html.contains(SECRET_LINE));

    // One flipped byte in the stored blob: detected, reported, never rendered.
    let ticket = only_ticket(&app).await;
    let (row, mut blobs) = app
        .store
        .transcript(app.guild, ticket.id)
        .await
        .expect("read")
        .expect("stored");
    let last = blobs[0].1.len() - 1;
    blobs[0].1[last] ^= 1;
    app.store
        .save_transcript(&row, &blobs, &[opener.user_id])
        .await
        .expect("write");
    let reply = ask_transcript(&app, &app.staff(2)).await;
    assert!(
        text(&reply).contains("cannot be opened") && text(&reply).contains("not shown"),
        "{reply}"
    );
    assert!(reply["attachments"].as_array().is_none_or(Vec::is_empty));
    assert!(!text(&reply).contains(SECRET_LINE));

    // A ticket that never had one.
    let reply = app
        .command(
            &app.staff(2),
            app.lobby,
            "transcript",
            json!([{"name": "number", "type": 4, "value": 7}]),
        )
        .await;
    assert!(text(&reply).contains("no ticket"), "{reply}");
    app.finish().await;
}

on_both_backends!(
    files_over_the_operators_caps_are_named_in_the_transcript_not_kept,
    capped
);
async fn capped(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.transcripts.key = Some(SecretString::from(KEY));
    // The test PNG is 67 bytes: one fits the per-file cap, and the transcript's total cap has
    // room for one file only.
    app.transcripts.max_file_bytes = 100;
    app.transcripts.max_total_bytes = 100;
    app.restart_bot().await;
    app.set_up(1).await;
    setup_transcripts(&app, true).await;
    let opener = app.member(1);
    let channel = open(&app, &opener).await;
    let big = vec![7u8; 500];
    app.emu.add_member_message_with_files(
        channel,
        &opener,
        json!({"content": "three files"}),
        vec![
            ("small.png".into(), "image/png".into(), PNG.to_vec()),
            ("huge.bin".into(), "application/octet-stream".into(), big),
            ("second.png".into(), "image/png".into(), PNG.to_vec()),
        ],
    );
    close(&app, &opener, channel).await;
    let notice = close_notice(&app).await;
    let id: u64 = notice["attachments"][0]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a transcript file");
    let html = String::from_utf8(app.emu.attachment_bytes(id).expect("bytes")).expect("utf-8");
    let doc = scraper::Html::parse_document(&html);
    let page = doc.root_element().text().collect::<String>();
    // The first file is kept inline; the big one is over the per-file cap; the third no
    // longer fits the transcript's total.
    let img = scraper::Selector::parse("img").expect("selector");
    assert_eq!(doc.select(&img).count(), 1, "{page}");
    assert!(
        page.contains("huge.bin") && page.contains("second.png"),
        "{page}"
    );
    assert!(page.contains("limit per file"), "{page}");
    assert!(page.contains("had reached its"), "{page}");
    let ticket = only_ticket(&app).await;
    let (_, blobs) = app
        .store
        .transcript(app.guild, ticket.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(blobs.len(), 2, "the document and the one kept file");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_of_ten_thousand_messages_is_captured_whole() {
    let Some(app) = with_key(Backend::Sqlite).await else {
        return;
    };
    app.set_up(1).await;
    setup_transcripts(&app, true).await;
    let opener = app.member(1);
    let channel = open(&app, &opener).await;
    app.emu.add_member_messages(channel, &opener, 10_000);
    close(&app, &opener, channel).await;
    let notice = close_notice(&app).await;
    assert!(text(&notice).contains("10001 messages"), "{notice}");
    let ticket = only_ticket(&app).await;
    let (row, _) = app
        .store
        .transcript(app.guild, ticket.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(row.message_count, 10_001, "with the welcome message");
    let pages = app
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == format!("/channels/{channel}/messages"))
        .count();
    assert_eq!(pages, 101, "100 messages a page");
    let id: u64 = notice["attachments"][0]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("the file");
    let html = String::from_utf8(app.emu.attachment_bytes(id).expect("bytes")).expect("utf-8");
    assert!(
        html.contains("message 1<") || html.contains("message 1 "),
        "the first message"
    );
    assert!(html.contains("message 10000"), "the last message");
    app.finish().await;
}
