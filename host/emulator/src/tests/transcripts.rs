//! What capturing a ticket's transcript needs from the emulator: history paging, members'
//! messages, the CDN, the MESSAGE_CONTENT intent, DMs and the bot's guild list. REST goes
//! through serenity's own `Http` (so every answer is also proven to deserialize), the CDN
//! through a bare HTTP/1.1 client, the gateway through serenity's `Client` or in-process
//! sessions.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serenity::all::{
    ChannelId, Client, CreateAttachment, CreateMessage, GatewayIntents, GuildId, Http, HttpBuilder,
    MessageId, MessageType, UserId,
};
use serenity::http::{GuildPagination, MessagePagination};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{frames, identify_as, serenity_event, FAKE_CONN};
use crate::{Emulator, GuildSpec, MemberSpec, MESSAGE_CONTENT_INTENT};
use serenity::model::event::Event;

const WAIT: Duration = Duration::from_secs(10);
/// GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT.
const READS_MESSAGES: u64 = 1 | (1 << 9) | MESSAGE_CONTENT_INTENT;

fn http(emu: &Emulator) -> Http {
    HttpBuilder::new(emu.bot_token())
        .proxy(emu.base_url())
        .application_id(emu.application_id().into())
        .ratelimiter_disabled(true)
        .build()
}

fn discord_error(e: &serenity::Error) -> Option<(u16, isize, Value)> {
    match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => Some((
            r.status_code.as_u16(),
            r.error.code,
            json!(r
                .error
                .errors
                .iter()
                .map(|e| json!({"code": e.code, "path": e.path, "message": e.message}))
                .collect::<Vec<_>>()),
        )),
        _ => None,
    }
}

/// A GET over a bare HTTP/1.1 connection: status, `content-type`, body.
async fn http_get(url: &str) -> (u16, String, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("response read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
                .expect("hex chunk size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 4 + size..];
        }
        body = out;
    }
    (status, header("content-type").unwrap_or_default(), body)
}

fn ids_of(messages: &[serenity::all::Message]) -> Vec<u64> {
    messages.iter().map(|m| m.id.get()).collect()
}

/// `ids[range]` newest first.
fn newest_first(ids: &[u64], range: std::ops::Range<usize>) -> Vec<u64> {
    ids[range].iter().rev().copied().collect()
}

#[tokio::test]
async fn history_pages_with_before_after_around_and_limit_bounds() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "ticket-0001", 0, None);
    let other = emu.add_channel(guild, "general", 0, None);
    let _rx = identify_as(&emu, FAKE_CONN, READS_MESSAGES);
    let alice = MemberSpec::new(7, "alice");
    let bob = MemberSpec::new(8, "bob");
    // Interleaved with another channel's messages, which must never show up.
    let mut ids = Vec::new();
    for i in 0..250 {
        let author = if i % 2 == 0 { &alice } else { &bob };
        ids.push(emu.add_member_message(chan, author, json!({"content": format!("m{i}")})));
        emu.add_member_message(other, author, json!({"content": "elsewhere"}));
    }
    let http = http(&emu);
    let c = ChannelId::new(chan);

    // No anchor: the newest 50, newest first.
    let latest = http.get_messages(c, None, None).await.expect("latest");
    assert_eq!(ids_of(&latest), newest_first(&ids, 200..250));
    assert_eq!(latest[0].content, "m249");
    assert_eq!(latest[0].author.name, "bob");

    // before: the `limit` messages just older than the id, newest first.
    let before = http
        .get_messages(
            c,
            Some(MessagePagination::Before(ids[100].into())),
            Some(100),
        )
        .await
        .expect("before");
    assert_eq!(ids_of(&before), newest_first(&ids, 0..100));
    let before_few = http
        .get_messages(c, Some(MessagePagination::Before(ids[10].into())), Some(3))
        .await
        .expect("before, 3");
    assert_eq!(ids_of(&before_few), newest_first(&ids, 7..10));

    // after: the `limit` messages just newer than the id, still newest first.
    let after = http
        .get_messages(c, Some(MessagePagination::After(ids[9].into())), Some(5))
        .await
        .expect("after");
    assert_eq!(ids_of(&after), newest_first(&ids, 10..15));
    let after_end = http
        .get_messages(
            c,
            Some(MessagePagination::After(ids[245].into())),
            Some(100),
        )
        .await
        .expect("after near the end");
    assert_eq!(ids_of(&after_end), newest_first(&ids, 246..250));
    let after_zero = http
        .get_messages(
            c,
            Some(MessagePagination::After(MessageId::new(1))),
            Some(100),
        )
        .await
        .expect("after the beginning of time");
    assert_eq!(ids_of(&after_zero), newest_first(&ids, 0..100));

    // around: limit/2 newer, the message itself, then older ones.
    let around = http
        .get_messages(
            c,
            Some(MessagePagination::Around(ids[100].into())),
            Some(10),
        )
        .await
        .expect("around");
    assert_eq!(ids_of(&around), newest_first(&ids, 96..106));
    let around_one = http
        .get_messages(c, Some(MessagePagination::Around(ids[100].into())), Some(1))
        .await
        .expect("around, 1");
    assert_eq!(ids_of(&around_one), [ids[100]]);
    let around_start = http
        .get_messages(c, Some(MessagePagination::Around(ids[1].into())), Some(10))
        .await
        .expect("around the start");
    assert_eq!(ids_of(&around_start), newest_first(&ids, 0..7));

    // Paging backwards with before covers all 250, in order, without repeats.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = http
            .get_messages(c, cursor.map(MessagePagination::Before), Some(100))
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        cursor = page.last().map(|m| m.id);
        seen.extend(ids_of(&page));
    }
    assert_eq!(seen, newest_first(&ids, 0..250));
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());

    // limit outside 1..=100 is Discord's form error, and a violation.
    for (limit, code) in [(0u8, "NUMBER_TYPE_MIN"), (101, "NUMBER_TYPE_MAX")] {
        let e = http
            .get_messages(c, None, Some(limit))
            .await
            .expect_err("limit out of range");
        let (status, discord_code, errors) = discord_error(&e).expect("a Discord error");
        assert_eq!((status, discord_code), (400, 50035), "{errors}");
        assert_eq!(errors[0]["code"], code, "{errors}");
        assert_eq!(errors[0]["path"], "limit", "{errors}");
    }
    let v = emu.violations();
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v.iter().all(|v| v.contains("$.limit")), "{v:#?}");

    // An unknown channel is 10003.
    let e = http
        .get_messages(ChannelId::new(12345), None, None)
        .await
        .expect_err("unknown channel");
    assert_eq!(discord_error(&e).map(|e| (e.0, e.1)), Some((404, 10003)));
}

#[tokio::test]
async fn history_rejects_two_anchors_at_once() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "t", 0, None);
    let http = http(&emu);
    // serenity cannot send two anchors, so the route is called with a hand-made query.
    let route = serenity::http::Route::ChannelMessages {
        channel_id: ChannelId::new(chan),
    };
    let request =
        serenity::http::Request::new(route, serenity::http::LightMethod::Get).params(Some(vec![
            ("before", "5".to_owned()),
            ("after", "1".to_owned()),
        ]));
    let e = http.fire::<Value>(request).await.expect_err("two anchors");
    assert_eq!(discord_error(&e).map(|e| (e.0, e.1)), Some((400, 50035)));
    let v = emu.violations();
    assert!(v.iter().any(|v| v.contains("mutually exclusive")), "{v:#?}");
}

#[tokio::test]
async fn ten_thousand_messages_page_completely_in_order() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "busy", 0, None);
    let _rx = identify_as(&emu, FAKE_CONN, READS_MESSAGES);
    let alice = MemberSpec::new(7, "alice");
    let started = Instant::now();
    let ids = emu.add_member_messages(chan, &alice, 10_000);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "adding took {took:?}");
    assert_eq!(ids.len(), 10_000);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let http = http(&emu);
    let c = ChannelId::new(chan);

    // Backwards from the newest, as a transcript is captured.
    let mut backwards = Vec::new();
    let mut cursor = None;
    loop {
        let page = http
            .get_messages(c, cursor.map(MessagePagination::Before), Some(100))
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() == 100, "full pages: {}", page.len());
        cursor = page.last().map(|m| m.id);
        for m in &page {
            backwards.push((m.id.get(), m.content.clone()));
        }
    }
    assert_eq!(backwards.len(), 10_000);
    for (i, (id, content)) in backwards.iter().rev().enumerate() {
        assert_eq!(*id, ids[i]);
        assert_eq!(*content, format!("message {}", i + 1));
    }

    // Forwards from the start with after: each page newest first, pages in ascending order.
    let mut forwards = Vec::new();
    let mut cursor = MessageId::new(1);
    loop {
        let page = http
            .get_messages(c, Some(MessagePagination::After(cursor)), Some(100))
            .await
            .expect("page");
        let Some(newest) = page.first() else { break };
        cursor = newest.id;
        forwards.extend(ids_of(&page).into_iter().rev());
    }
    assert_eq!(forwards, ids);
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}

#[tokio::test]
async fn member_messages_carry_replies_edits_embeds_attachments_and_mentions() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "ticket-0002", 0, None);
    let staff = emu.add_role(guild, "Staff", 0);
    let mut rx = identify_as(&emu, FAKE_CONN, READS_MESSAGES);
    let _ = frames(&mut rx);
    let png = b"\x89PNG\r\n\x1a\nalice".to_vec();
    let alice = MemberSpec::new(7, "alice").with_avatar(png);
    let bob = MemberSpec::new(8, "bob");
    let bot = emu.bot_user_id();

    let first = emu.add_member_message(chan, &bob, json!({"content": "first!"}));
    let reply = emu.add_member_message_with_files(
        chan,
        &alice,
        json!({
            "content": format!("<@8> please ask <@&{staff}>, or <@{bot}>; not <@999> @everyone"),
            "embeds": [{"title": "Logs", "description": "see file", "color": 0xff0000}],
            "message_reference": {"message_id": first.to_string()},
        }),
        vec![(
            "error log.txt".into(),
            "text/plain".into(),
            b"boom".to_vec(),
        )],
    );
    let base64_file = emu.add_member_message(
        chan,
        &bob,
        json!({"content": "", "attachments": [
            {"filename": "a.bin", "content_type": "application/octet-stream", "bytes": "AAEC"},
            {"filename": "b.bin", "bytes": [3, 4]},
        ]}),
    );

    let http = http(&emu);
    let c = ChannelId::new(chan);
    let m = c
        .message(&http, MessageId::new(reply))
        .await
        .expect("reply");
    assert_eq!(m.kind, MessageType::InlineReply);
    assert_eq!(m.author.id.get(), 7);
    assert_eq!(
        m.author.avatar.map(|h| h.to_string()),
        alice.avatar_hash(),
        "the author's avatar hash"
    );
    assert_eq!(m.author.global_name.as_deref(), Some("alice"));
    let referenced = m.referenced_message.as_ref().expect("referenced message");
    assert_eq!(referenced.id.get(), first);
    assert_eq!(referenced.content, "first!");
    let reference = m.message_reference.as_ref().expect("message_reference");
    assert_eq!(reference.message_id.map(|i| i.get()), Some(first));
    assert_eq!(reference.guild_id.map(|g| g.get()), Some(guild));
    let mut mentioned: Vec<u64> = m.mentions.iter().map(|u| u.id.get()).collect();
    mentioned.sort_unstable();
    assert_eq!(
        mentioned,
        [8, bot],
        "bob (pinged and replied to) and the bot; not 999"
    );
    assert_eq!(
        m.mention_roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
        [staff]
    );
    assert!(!m.mention_everyone, "alice may not mention everyone");
    assert_eq!(m.embeds.len(), 1);
    assert_eq!(m.embeds[0].title.as_deref(), Some("Logs"));
    assert_eq!(m.attachments.len(), 1);
    let a = &m.attachments[0];
    assert_eq!(a.filename, "error_log.txt");
    assert_eq!(a.size, 4);
    assert_eq!(a.content_type.as_deref(), Some("text/plain"));
    assert!(
        a.url
            .starts_with(&format!("{}/attachments/{chan}/", emu.cdn_base())),
        "{}",
        a.url
    );
    assert_eq!(a.proxy_url, a.url);
    assert_eq!(
        emu.attachment_bytes(a.id.get()).as_deref(),
        Some(&b"boom"[..])
    );
    assert!(m.edited_timestamp.is_none());

    let files = c
        .message(&http, MessageId::new(base64_file))
        .await
        .expect("files");
    assert_eq!(files.attachments.len(), 2);
    assert_eq!(
        emu.attachment_bytes(files.attachments[0].id.get())
            .as_deref(),
        Some(&[0u8, 1, 2][..])
    );
    assert_eq!(
        emu.attachment_bytes(files.attachments[1].id.get())
            .as_deref(),
        Some(&[3u8, 4][..])
    );

    // An edit: new content and mentions, edited_timestamp set.
    emu.edit_member_message(reply, "never mind, <@8>");
    let edited = c
        .message(&http, MessageId::new(reply))
        .await
        .expect("edited");
    assert_eq!(edited.content, "never mind, <@8>");
    assert!(edited.edited_timestamp.is_some());
    assert!(edited.mention_roles.is_empty());
    assert_eq!(
        edited
            .mentions
            .iter()
            .map(|u| u.id.get())
            .collect::<Vec<_>>(),
        [8]
    );

    // Once the replied-to message is deleted, the reply reads referenced_message: null.
    assert!(emu.delete_message(first));
    let orphan = c
        .message(&http, MessageId::new(reply))
        .await
        .expect("orphan");
    assert!(orphan.referenced_message.is_none());
    assert_eq!(orphan.kind, MessageType::InlineReply);
    assert!(orphan.message_reference.is_some());

    // The gateway told a session with GUILD_MESSAGES, in events serenity understands.
    let events = frames(&mut rx);
    let kinds: Vec<&str> = events.iter().filter_map(|f| f["t"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "MESSAGE_CREATE",
            "MESSAGE_CREATE",
            "MESSAGE_CREATE",
            "MESSAGE_UPDATE",
            "MESSAGE_DELETE"
        ]
    );
    let Event::MessageCreate(created) = serenity_event(&events[1]) else {
        panic!("not a MESSAGE_CREATE: {}", events[1]);
    };
    assert_eq!(created.message.id.get(), reply);
    assert_eq!(created.message.guild_id.map(|g| g.get()), Some(guild));
    assert!(created.message.member.is_some());
    assert!(matches!(
        serenity_event(&events[3]),
        Event::MessageUpdate(_)
    ));
    assert!(matches!(
        serenity_event(&events[4]),
        Event::MessageDelete(_)
    ));

    // A bulk history is not dispatched.
    emu.add_member_messages(chan, &bob, 3);
    assert!(frames(&mut rx).is_empty());

    // The bot's own reply through REST gets the reply fields too.
    let target = emu.add_member_message(chan, &bob, json!({"content": "help"}));
    let bot_reply = c
        .send_message(
            &http,
            CreateMessage::new()
                .content("on it")
                .reference_message((c, MessageId::new(target))),
        )
        .await
        .expect("bot reply");
    assert_eq!(bot_reply.kind, MessageType::InlineReply);
    assert_eq!(
        bot_reply.referenced_message.as_ref().map(|r| r.id.get()),
        Some(target)
    );
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}

#[tokio::test]
async fn cdn_serves_attachments_and_avatars_and_counts_downloads() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "ticket-0003", 0, None);
    let _rx = identify_as(&emu, FAKE_CONN, READS_MESSAGES);
    let png = b"\x89PNG\r\n\x1a\navatar bytes".to_vec();
    let alice = MemberSpec::new(7, "alice").with_avatar(png.clone());
    let hash = alice.avatar_hash().expect("a hash");
    assert_eq!(hash.len(), 32);
    assert!(emu.avatar_url(7).is_none(), "not seen yet");
    let id = emu.add_member_message_with_files(
        chan,
        &alice,
        json!({"content": "screenshot"}),
        vec![("shot.png".into(), "image/png".into(), b"pixels".to_vec())],
    );
    let avatar_url = emu.avatar_url(7).expect("seen now");
    assert_eq!(
        avatar_url,
        format!("{}/avatars/7/{hash}.png", emu.cdn_base())
    );
    assert_eq!(emu.cdn_downloads("/"), 0);

    let msg = emu
        .messages_in(chan)
        .into_iter()
        .find(|m| m["id"] == json!(id.to_string()))
        .expect("stored");
    assert_eq!(msg["author"]["avatar"], json!(hash));
    let url = msg["attachments"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let (status, ctype, body) = http_get(&url).await;
    assert_eq!(
        (status, ctype.as_str(), body.as_slice()),
        (200, "image/png", &b"pixels"[..])
    );
    let (status, _, body) = http_get(&avatar_url).await;
    assert_eq!((status, body), (200, png.clone()));
    let webp = format!("{}/avatars/7/{hash}.webp?size=128", emu.cdn_base());
    let (status, _, body) = http_get(&webp).await;
    assert_eq!((status, body), (200, png));
    let (status, _, _) = http_get(&format!("{webp}0")).await;
    assert_eq!(status, 400, "size=1280 is not a power of two");
    let (status, _, _) = http_get(&format!(
        "{}/avatars/7/{}.png",
        emu.cdn_base(),
        "0".repeat(32)
    ))
    .await;
    assert_eq!(status, 404, "a stale hash");
    let (status, _, _) =
        http_get(&format!("{}/attachments/{chan}/1/shot.png", emu.cdn_base())).await;
    assert_eq!(status, 404);

    assert_eq!(emu.cdn_downloads("/avatars/7/"), 2);
    assert_eq!(emu.cdn_downloads(&format!("/attachments/{chan}/")), 1);
    assert_eq!(emu.cdn_downloads("/"), 3);
    let log = emu.cdn_requests();
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(
        log.iter()
            .any(|(p, s)| p.ends_with(".webp?size=128") && *s == 200),
        "{log:?}"
    );

    // A file the bot uploads is kept and served too.
    let http = http(&emu);
    let sent = ChannelId::new(chan)
        .send_message(
            &http,
            CreateMessage::new()
                .content("transcript")
                .add_file(CreateAttachment::bytes(
                    b"<html></html>".to_vec(),
                    "transcript-0003.html",
                )),
        )
        .await
        .expect("upload");
    let file = &sent.attachments[0];
    assert_eq!(file.filename, "transcript-0003.html");
    assert_eq!(
        emu.attachment_bytes(file.id.get()).as_deref(),
        Some(&b"<html></html>"[..])
    );
    let (status, _, body) = http_get(&file.url).await;
    assert_eq!((status, body.as_slice()), (200, &b"<html></html>"[..]));
    assert_eq!(
        emu.cdn_downloads(&format!("/attachments/{chan}/{}/", file.id)),
        1
    );
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}

#[tokio::test]
async fn identify_with_message_content_is_closed_with_4014_after_refusal() {
    let emu = Emulator::start().await.expect("starts");
    emu.add_guild(GuildSpec::default());
    let intents = GatewayIntents::GUILDS | GatewayIntents::MESSAGE_CONTENT;

    // Allowed at first: the session identifies and content is visible.
    let _rx = identify_as(&emu, FAKE_CONN, intents.bits());
    assert!(emu.message_content_visible());
    assert_eq!(emu.last_identify_intents(), Some(intents.bits()));

    emu.refuse_message_content();
    assert!(!emu.message_content_visible(), "the app lost the intent");

    // The real serenity client is turned away with 4014.
    let mut client: Client = serenity::client::ClientBuilder::new_with_http(http(&emu), intents)
        .await
        .expect("client");
    let outcome = tokio::time::timeout(WAIT, client.start())
        .await
        .expect("the client gives up instead of hanging");
    match outcome {
        Err(serenity::Error::Gateway(
            serenity::gateway::GatewayError::DisallowedGatewayIntents,
        )) => {}
        other => panic!("expected DisallowedGatewayIntents, got {other:?}"),
    }
    assert_eq!(emu.last_identify_intents(), Some(intents.bits()));
    assert_eq!(emu.identify_count(), 2);

    // The frame-level answer: a 4014 close, no READY.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    emu.shared.lock().sessions.insert(
        FAKE_CONN - 1,
        crate::state::Session {
            tx,
            seq: 0,
            identified: false,
            ready_sent: false,
            intents: 0,
        },
    );
    let identify = json!({"op": 2, "d": {"token": emu.bot_token(), "intents": intents.bits(),
        "properties": {"os": "linux", "browser": "x", "device": "x"}}});
    let ending = crate::gateway::on_frame(&emu.shared, FAKE_CONN - 1, &identify.to_string())
        .expect("the connection ends");
    assert_eq!(ending.close, Some((4014, "Disallowed intent(s).")));
    assert!(frames(&mut rx).is_empty(), "no READY");

    // Without MESSAGE_CONTENT the same client is welcome.
    let mut client =
        serenity::client::ClientBuilder::new_with_http(http(&emu), GatewayIntents::GUILDS)
            .await
            .expect("client");
    let shards = client.shard_manager.clone();
    let run = tokio::spawn(async move { client.start().await });
    let deadline = Instant::now() + WAIT;
    while emu.last_identify_intents() != Some(GatewayIntents::GUILDS.bits())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    emu.wait_for_ready(WAIT).await.expect("identified");
    shards.shutdown_all().await;
    let _ = tokio::time::timeout(WAIT, run).await;
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}

#[tokio::test]
async fn content_is_hidden_without_the_intent_except_where_discord_shows_it() {
    let emu = Emulator::start().await.expect("starts");
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "ticket-0004", 0, None);
    let alice = MemberSpec::new(7, "alice");
    let bot = emu.bot_user_id();
    let plain = emu.add_member_message_with_files(
        chan,
        &alice,
        json!({"content": "secret", "embeds": [{"title": "t"}]}),
        vec![("f.txt".into(), "text/plain".into(), b"x".to_vec())],
    );
    let mention = emu.add_member_message(chan, &alice, json!({"content": format!("hey <@{bot}>")}));
    let own = emu.add_bot_message(chan, json!({"content": "Welcome"}));
    let reply = emu.add_member_message(
        chan,
        &alice,
        json!({"content": format!("<@{bot}> about this"), "message_reference": {"message_id": plain.to_string()}}),
    );
    let dm = emu.dm_channel(&alice);
    emu.add_member_message(dm, &alice, json!({"content": "private"}));
    let http = http(&emu);
    let c = ChannelId::new(chan);
    let by_id = |page: &[serenity::all::Message], id: u64| {
        page.iter()
            .find(|m| m.id.get() == id)
            .cloned()
            .expect("listed")
    };

    // GUILDS only (what the bot asks for today): other people's content is empty.
    let _rx = identify_as(&emu, FAKE_CONN, 1);
    assert!(!emu.message_content_visible());
    let page = http.get_messages(c, None, None).await.expect("page");
    let hidden = by_id(&page, plain);
    assert_eq!(hidden.content, "");
    assert!(hidden.embeds.is_empty());
    assert!(hidden.attachments.is_empty());
    assert_eq!(hidden.author.id.get(), 7, "everything else is still there");
    assert_eq!(by_id(&page, mention).content, format!("hey <@{bot}>"));
    assert_eq!(by_id(&page, own).content, "Welcome");
    let r = by_id(&page, reply);
    assert_eq!(r.content, format!("<@{bot}> about this"));
    assert_eq!(
        r.referenced_message.as_ref().map(|m| m.content.as_str()),
        Some(""),
        "the replied-to message follows the rule on its own"
    );
    let single = c.message(&http, MessageId::new(plain)).await.expect("one");
    assert_eq!(single.content, "");
    let dm_page = http
        .get_messages(ChannelId::new(dm), None, None)
        .await
        .expect("dm");
    assert_eq!(dm_page[0].content, "private", "DMs are exempt");
    // What the emulator stored is untouched.
    assert_eq!(emu.messages_in(chan)[0]["content"], "secret");

    // A session with MESSAGE_CONTENT reads everything.
    let _rx2 = identify_as(&emu, FAKE_CONN - 1, 1 | MESSAGE_CONTENT_INTENT);
    let single = c.message(&http, MessageId::new(plain)).await.expect("one");
    assert_eq!(single.content, "secret");
    assert_eq!(single.embeds.len(), 1);
    assert_eq!(single.attachments.len(), 1);

    // Losing the intent hides it again, whatever the session asked for.
    emu.refuse_message_content();
    let single = c.message(&http, MessageId::new(plain)).await.expect("one");
    assert_eq!(single.content, "");
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}

#[tokio::test]
async fn dm_channels_are_reused_and_closed_dms_answer_50007() {
    let emu = Emulator::start().await.expect("starts");
    emu.add_guild(GuildSpec::default());
    let carol = MemberSpec::new(77, "carol").with_avatar(b"png".to_vec());
    let guild = emu.add_guild(GuildSpec::default());
    let chan = emu.add_channel(guild, "general", 0, None);
    emu.add_member_message(chan, &carol, json!({"content": "hi"}));
    let http = http(&emu);

    let dm = UserId::new(77).create_dm_channel(&http).await.expect("dm");
    assert_eq!(dm.recipient.id.get(), 77);
    assert_eq!(dm.recipient.name, "carol");
    assert_eq!(
        dm.recipient.avatar.map(|h| h.to_string()),
        carol.avatar_hash()
    );
    let again = UserId::new(77)
        .create_dm_channel(&http)
        .await
        .expect("dm again");
    assert_eq!(again.id, dm.id, "one DM channel per user");
    assert_eq!(emu.dm_channel(&carol), dm.id.get());
    let stranger = UserId::new(4242)
        .create_dm_channel(&http)
        .await
        .expect("any user");
    assert_ne!(stranger.id, dm.id);

    dm.id
        .say(&http, "Your ticket was closed")
        .await
        .expect("dm sent");
    dm.id
        .send_message(
            &http,
            CreateMessage::new()
                .content("Transcript attached")
                .add_file(CreateAttachment::bytes(b"log".to_vec(), "transcript.txt")),
        )
        .await
        .expect("upload to a DM");
    let sent = emu.dm_messages(77);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["content"], "Your ticket was closed");
    assert_eq!(sent[1]["attachments"][0]["filename"], "transcript.txt");
    let (status, _, body) = http_get(sent[1]["attachments"][0]["url"].as_str().expect("url")).await;
    assert_eq!((status, body.as_slice()), (200, &b"log"[..]));
    assert!(emu.dm_messages(4242).is_empty());

    emu.close_dms(77);
    let e = dm.id.say(&http, "again").await.expect_err("closed");
    assert_eq!(discord_error(&e).map(|e| (e.0, e.1)), Some((403, 50007)));
    assert_eq!(emu.dm_messages(77).len(), 2);
    // Other users' DMs still work.
    stranger.id.say(&http, "hello").await.expect("open DMs");
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());
}

#[tokio::test]
async fn my_guilds_page_by_id_and_forget_removed_guilds() {
    let emu = Emulator::start().await.expect("starts");
    let guilds: Vec<u64> = (0..5)
        .map(|i| emu.add_guild(GuildSpec::new(&format!("Guild {i}"), 42)))
        .collect();
    let http = http(&emu);
    let ids =
        |list: &[serenity::all::GuildInfo]| list.iter().map(|g| g.id.get()).collect::<Vec<_>>();

    let all = http.get_guilds(None, None).await.expect("all");
    assert_eq!(ids(&all), guilds);
    assert_eq!(all[0].name, "Guild 0");
    assert!(!all[0].owner);
    let after = http
        .get_guilds(
            Some(GuildPagination::After(GuildId::new(guilds[1]))),
            Some(2),
        )
        .await
        .expect("after");
    assert_eq!(ids(&after), guilds[2..4]);
    let before = http
        .get_guilds(
            Some(GuildPagination::Before(GuildId::new(guilds[4]))),
            Some(2),
        )
        .await
        .expect("before");
    assert_eq!(ids(&before), guilds[2..4]);
    let first = http.get_guilds(None, Some(1)).await.expect("limit 1");
    assert_eq!(ids(&first), guilds[..1]);
    assert!(emu.violations().is_empty(), "{:#?}", emu.violations());

    for limit in [0, 201] {
        let e = http
            .get_guilds(None, Some(limit))
            .await
            .expect_err("limit out of range");
        assert_eq!(discord_error(&e).map(|e| (e.0, e.1)), Some((400, 50035)));
    }

    emu.remove_guild(guilds[2]);
    let left = http.get_guilds(None, None).await.expect("after removal");
    assert_eq!(ids(&left), [guilds[0], guilds[1], guilds[3], guilds[4]]);
}
