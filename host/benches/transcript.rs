//! Transcripts: the target is rendering + compressing + encrypting a 10,000-message
//! transcript within 100 ms; and capturing one (100 pages of history) through the emulator.
//!
//! - `transcript/render_seal_10k`: `render` to HTML, plus serializing the document to JSON and
//!   sealing it (deflate, then AES-256-GCM) — everything done at close after capture.
//! - `transcript/capture_10k`: the Discord adapter's `capture` against the local emulator: 100
//!   REST pages of 100 messages, parsed into the transcript model. (The emulator hides member
//!   messages' content from a client that has not identified with MESSAGE_CONTENT, so these
//!   messages arrive without text; paging and parsing are what is measured.)

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tessera::discord::capture::{capture, Cdn};
use tessera::transcripts::model::{Message, Participant, TicketInfo, Transcript, FORMAT_VERSION};
use tessera::transcripts::render::render;
use tessera::transcripts::seal::{BlobRef, TranscriptKeys};
use tessera::transcripts::CaptureLimits;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn ten_thousand() -> Transcript {
    let participants = (0..5)
        .map(|i| Participant {
            id: 100 + i,
            username: format!("person{i}"),
            display_name: Some(format!("Person {i}")),
            avatar: None,
            bot: false,
        })
        .collect();
    let messages = (0..10_000u64)
        .map(|i| Message {
            id: 1_000 + i,
            author_id: 100 + i % 5,
            content: format!(
                "Message {i}: **bold** and *italic* text, `code`, a link https://example.com/{i} and <@{}> — some more words to make it a realistic length.",
                100 + (i + 1) % 5
            ),
            sent_at: 1_700_000_000_000 + i as i64 * 60_000,
            edited_at: (i % 10 == 0).then_some(1_700_000_000_000 + i as i64 * 60_000 + 5_000),
            reply_to: (i % 7 == 0 && i > 0).then_some(1_000 + i - 1),
            embeds: Vec::new(),
            attachments: Vec::new(),
            mentions: Vec::new(),
            removed: false,
        })
        .collect();
    Transcript {
        version: FORMAT_VERSION,
        guild_id: 1,
        guild_name: "Bench".into(),
        ticket: TicketInfo {
            number: 1,
            opener_id: 100,
            subject: Some("A long ticket".into()),
            opened_at: 1_700_000_000_000,
            closed_at: 1_700_600_000_000,
            closed_by: 101,
            close_reason: Some("done".into()),
            claimed_by: Some(101),
        },
        participants,
        messages,
    }
}

fn render_and_seal(c: &mut Criterion) {
    let transcript = ten_thousand();
    let keys = TranscriptKeys::parse(KEY, &[]).expect("a key");
    let blob = BlobRef {
        guild_id: 1,
        ticket_id: 1,
        blob_no: 0,
    };
    let started = std::time::Instant::now();
    let html = render(&transcript, &[]);
    let json = serde_json::to_vec(&transcript).expect("json");
    let sealed = keys.seal(blob, &json);
    println!(
        "10,000 messages: {} bytes of HTML, {} bytes of JSON sealed to {} bytes, once in {:?}",
        html.len(),
        json.len(),
        sealed.len(),
        started.elapsed()
    );
    let mut group = c.benchmark_group("transcript");
    group.sample_size(20);
    group.bench_function("render_seal_10k", |b| {
        b.iter(|| {
            let html = render(&transcript, &[]);
            let json = serde_json::to_vec(&transcript).expect("json");
            let sealed = keys.seal(blob, &json);
            (html.len(), sealed.len())
        })
    });
    group.finish();
}

fn capture_through_the_emulator(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (emu, guild, channel) = runtime.block_on(async {
        let emu = tessera_discord_emulator::Emulator::start()
            .await
            .expect("the emulator");
        let guild = emu.add_guild(tessera_discord_emulator::GuildSpec::default());
        let channel = emu.add_channel(guild, "ticket-0001", 0, None);
        let author = tessera_discord_emulator::MemberSpec::new(700_000_000_000_000_001, "member1");
        emu.add_member_messages(channel, &author, 10_000);
        (emu, guild, channel)
    });
    let http = serenity::http::HttpBuilder::new(emu.bot_token())
        .proxy(emu.base_url())
        .ratelimiter_disabled(true)
        .build();
    let cache = tessera::cache::DiscordCache::new(1_000);
    let cdn = Cdn::new(&emu.cdn_base()).expect("a client");
    let limits = CaptureLimits {
        max_file_bytes: 8 << 20,
        max_total_bytes: 50 << 20,
    };
    let mut group = c.benchmark_group("transcript");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("capture_10k", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let captured = capture(&http, &cache, &cdn, guild, channel, limits)
                    .await
                    .expect("captured");
                assert_eq!(captured.messages.len(), 10_000);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, render_and_seal, capture_through_the_emulator);
criterion_main!(benches);
