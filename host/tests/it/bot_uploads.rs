//! Through the emulator: `/integrations upload` — a server's own plugins, downloaded from the
//! attachment host only, validated, confirmed, and seen by that server alone.

use serde_json::{json, Value};
use tessera::store::{Backend, ConsentAction};

use crate::app::{id, spawn_app, text, TestApp, WAIT};
use crate::on_both_backends;
use crate::plugin_files::plugin;

/// `/integrations upload` with `bytes` attached as `filename`, by `who`; the answer and the
/// attachment's id.
async fn upload_as(
    app: &TestApp,
    who: &tessera_discord_emulator::MemberSpec,
    filename: &str,
    bytes: Vec<u8>,
) -> (Value, u64) {
    let attachment = app.emu.add_attachment(app.lobby, filename, bytes);
    (upload_attachment(app, who, attachment).await, attachment)
}

async fn upload_attachment(
    app: &TestApp,
    who: &tessera_discord_emulator::MemberSpec,
    attachment: u64,
) -> Value {
    app.command(
        who,
        app.lobby,
        "integrations",
        json!([{"name": "upload", "type": 1, "options": [
            {"name": "file", "type": 11, "value": attachment.to_string()}
        ]}]),
    )
    .await
}

/// Clicks a button of an upload prompt as `who`.
async fn press(
    app: &TestApp,
    who: &tessera_discord_emulator::MemberSpec,
    prompt: &Value,
    prefix: &str,
) -> Value {
    let custom_id = prompt["components"]
        .to_string()
        .split('"')
        .find(|s| s.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} button in {prompt}"))
        .to_owned();
    app.click(who, app.lobby, id(&prompt["id"]), &custom_id)
        .await
}

/// The same component with another version in its embedded manifest (same length, so the
/// custom section stays valid): a new release of the plugin.
fn with_version(mut bytes: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let needle = format!("version = \"{from}\"");
    let mut found = 0;
    while let Some(at) = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
    {
        bytes[at..at + needle.len()].copy_from_slice(format!("version = \"{to}\"").as_bytes());
        found += 1;
    }
    assert!(found > 0, "the manifest's version line");
    bytes
}

on_both_backends!(
    an_uploaded_plugin_is_confirmed_then_runs_in_its_server_only,
    upload_and_use
);
async fn upload_and_use(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(5).await;
    let admin = app.admin();

    let (prompt, attachment) =
        upload_as(&app, &admin, "test_state.wasm", plugin("test_state")).await;
    let t = text(&prompt);
    for needle in [
        "**Add",
        "(`test-state` 0.1.0) to this server?**",
        "the ticket opener's user ID",
        "nothing: it has no network access",
        "sends it nowhere",
        "<https://example.com/privacy>",
        "Only this server will see it",
    ] {
        assert!(t.contains(needle), "{needle:?} missing from {t}");
    }
    assert_eq!(app.emu.attachment_downloads(attachment), 1);
    // Shown, not compiled: nothing of it is in the compile cache until the admin adds it.
    let sha = tessera::plugins::component::sha256_hex(&plugin("test_state"));
    let compiled = |app: &TestApp| {
        std::fs::read_dir(app.data_dir().join("compile-cache"))
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&sha))
            })
            .unwrap_or(false)
    };
    assert!(!compiled(&app), "compiled before the admin added it");
    // Shown, not stored: nothing exists until the admin confirms.
    assert!(app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read")
        .is_empty());

    // Another admin cannot confirm someone else's upload.
    let other = tessera_discord_emulator::MemberSpec::new(500_000_000_000_000_009, "other-admin")
        .with_permissions(1 << 5);
    let refused = press(&app, &other, &prompt, "tessera:int:upload:").await;
    assert!(
        text(&refused).contains("Only the admin who uploaded"),
        "{refused}"
    );

    let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&added).contains("is added to this server"), "{added}");
    assert!(compiled(&app), "compiled once added");
    let consents = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read");
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].action, ConsentAction::Uploaded);
    assert_eq!(consents[0].plugin_id, "test-state");
    assert_eq!(consents[0].actor_id, Some(admin.user_id));

    // Listed as this server's own, enabled like any other, and run at ticket open.
    let list = app
        .command(
            &admin,
            app.lobby,
            "integrations",
            json!([{"name": "list", "type": 1, "options": []}]),
        )
        .await;
    assert!(
        text(&list).contains("uploaded by this server's admins"),
        "{list}"
    );
    let enabled = app.enable_plugin("test-state", &[]).await;
    assert!(text(&enabled).contains("is enabled"), "{enabled}");
    app.command(
        &admin,
        app.lobby,
        "welcome",
        json!([{"name": "set", "type": 1, "options": [{"name": "message", "type": 3, "value": "count=%test-state.count%"}]}]),
    )
    .await;
    let channel = app.open_via_panel(&app.member(1)).await;
    assert!(
        app.welcome(channel)["content"]
            .as_str()
            .unwrap_or_default()
            .contains("count=1"),
        "{}",
        app.welcome(channel)
    );

    // A second server never sees it.
    let emu = &app.emu;
    let guild2 = emu.add_guild(tessera_discord_emulator::GuildSpec::new(
        "Second",
        100_000_000_000_000_002,
    ));
    let lobby2 = emu.add_channel(guild2, "support", 0, None);
    let elsewhere = emu
        .send_command(
            guild2,
            lobby2,
            &admin,
            "integrations",
            json!([{"name": "enable", "type": 1, "options": [{"name": "name", "type": 3, "value": "test-state"}]}]),
        )
        .await;
    let elsewhere = emu.wait_for_reply(&elsewhere, WAIT).await.expect("answer");
    assert!(
        text(&elsewhere).contains("No integration called `test-state`"),
        "{elsewhere}"
    );

    // It survives a restart (kept in the database), and a new version is a new upload that
    // replaces it; the privacy record keeps both.
    app.restart_bot().await;
    let v2 = with_version(plugin("test_state"), "0.1.0", "0.2.0");
    let (prompt, _) = upload_as(&app, &admin, "test_state.wasm", v2).await;
    assert!(text(&prompt).contains("replaces version 0.1.0"), "{prompt}");
    let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&added).contains("this version runs"), "{added}");
    let consents = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read");
    let uploaded: Vec<&str> = consents
        .iter()
        .filter(|c| c.action == ConsentAction::Uploaded)
        .map(|c| c.version.as_str())
        .collect();
    assert_eq!(uploaded, ["0.1.0", "0.2.0"]);
    assert_eq!(
        consents.last().map(|c| (c.action, c.version.as_str())),
        Some((ConsentAction::Enabled, "0.2.0"))
    );
    let channel = app.open_via_panel(&app.member(2)).await;
    let delivered = app
        .store
        .deliveries_for_user(app.member(2).user_id)
        .await
        .expect("read");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].version, "0.2.0");
    assert!(app.welcome(channel)["content"]
        .as_str()
        .unwrap_or_default()
        .contains("count=1"));

    // Uploading the older version again makes it current again: a new consent record, the
    // only version kept, and still current after a restart.
    let (prompt, _) = upload_as(&app, &admin, "test_state.wasm", plugin("test_state")).await;
    assert!(text(&prompt).contains("replaces version 0.2.0"), "{prompt}");
    let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&added).contains("is added to this server"), "{added}");
    let uploaded: Vec<String> = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read")
        .iter()
        .filter(|c| c.action == ConsentAction::Uploaded)
        .map(|c| c.version.clone())
        .collect();
    assert_eq!(uploaded, ["0.1.0", "0.2.0", "0.1.0"]);
    let kept: Vec<String> = app
        .store
        .guild_plugins()
        .await
        .expect("read")
        .into_iter()
        .map(|p| p.version)
        .collect();
    assert_eq!(kept, ["0.1.0"], "only the current version is kept");
    app.restart_bot().await;
    let member = app.member(3);
    app.open_via_panel(&member).await;
    let delivered = app
        .store
        .deliveries_for_user(member.user_id)
        .await
        .expect("read");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].version, "0.1.0");

    // Leaving the server deletes its uploads with the rest of its data.
    app.emu.remove_guild(app.guild);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let gone = app
            .store
            .integration_consents(app.guild)
            .await
            .expect("read")
            .is_empty();
        if gone {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server's data stays"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Its compiled code goes from the compile cache at once, not at the next start.
    assert!(
        !compiled(&app),
        "the left server's upload is still compiled on disk"
    );
    app.finish().await;
}

on_both_backends!(
    uploads_that_are_not_usable_plugins_are_refused_with_a_reason,
    refusals
);
async fn refusals(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.plugins.upload_max_bytes = 2 * 1024 * 1024;
    app.plugins.uploads_per_hour = 100;
    app.restart_bot().await;
    app.set_up(1).await;
    let admin = app.admin();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage.wasm",
            b"this is not webassembly at all".to_vec(),
            "not a usable Tessera integration",
        ),
        (
            "test_wrong_world.wasm",
            plugin("test_wrong_world"),
            "not a usable Tessera integration",
        ),
        (
            "test_foreign_import.wasm",
            plugin("test_foreign_import"),
            "evil:backdoor",
        ),
        (
            "test_made_up_import.wasm",
            plugin("test_made_up_import"),
            "wasi:cli/made-up",
        ),
        (
            "test_wrong_export.wasm",
            plugin("test_wrong_export"),
            "on-ticket-opened",
        ),
        (
            "example.wasm",
            plugin("example"),
            "already offers to every server",
        ),
        (
            "notes.txt",
            b"hello".to_vec(),
            "Upload the plugin's `.wasm` file",
        ),
    ];
    for (filename, bytes, expect) in cases {
        let (answer, _) = upload_as(&app, &admin, filename, bytes).await;
        let t = text(&answer);
        assert!(
            t.contains(expect),
            "{filename}: {expect:?} missing from {t}"
        );
        assert!(
            answer["components"].as_array().is_none_or(Vec::is_empty),
            "{filename}: no buttons on a refusal: {answer}"
        );
    }

    // Too large by what Discord says: refused before anything is downloaded.
    let big = app.emu.add_attachment(app.lobby, "big.wasm", vec![0; 16]);
    app.emu.set_attachment_size(big, 3 * 1024 * 1024);
    let answer = upload_attachment(&app, &admin, big).await;
    assert!(text(&answer).contains("at most 2097152 bytes"), "{answer}");
    assert_eq!(app.emu.attachment_downloads(big), 0);
    // Too large in fact, whatever it claimed: the download stops at the cap.
    let liar = app
        .emu
        .add_attachment(app.lobby, "liar.wasm", vec![0; 3 * 1024 * 1024]);
    app.emu.set_attachment_size(liar, 1000);
    let answer = upload_attachment(&app, &admin, liar).await;
    assert!(text(&answer).contains("at most 2097152 bytes"), "{answer}");

    // An attachment pointing anywhere but the attachment host is never fetched.
    let (port, seen) = crate::plugins::serve(b"HTTP/1.1 200 OK\r\n\r\n", Default::default()).await;
    let foreign = app.emu.add_attachment_at(
        "evil.wasm",
        &format!("http://127.0.0.1:{port}/attachments/1/2/evil.wasm"),
        100,
    );
    let answer = upload_attachment(&app, &admin, foreign).await;
    assert!(
        text(&answer).contains("does not come from Discord's attachment host"),
        "{answer}"
    );
    assert!(seen.lock().expect("lock").is_empty());

    // Members without Manage Server cannot upload.
    let (answer, attachment) =
        upload_as(&app, &app.member(1), "test_noop.wasm", plugin("test_noop")).await;
    assert!(text(&answer).contains("Manage Server"), "{answer}");
    assert_eq!(app.emu.attachment_downloads(attachment), 0);

    // Nothing above was stored.
    assert!(app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read")
        .is_empty());

    // A server uploads within its own hourly quota: past it, nothing is even downloaded.
    app.plugins.uploads_per_hour = 1;
    app.restart_bot().await;
    let (answer, attachment) = upload_as(&app, &admin, "test_noop.wasm", plugin("test_noop")).await;
    assert!(
        text(&answer).contains("already started 1 uploads in the last hour"),
        "{answer}"
    );
    assert_eq!(app.emu.attachment_downloads(attachment), 0);

    // The operator can turn uploads off.
    app.plugins.uploads = false;
    app.restart_bot().await;
    let (answer, attachment) = upload_as(&app, &admin, "test_noop.wasm", plugin("test_noop")).await;
    assert!(text(&answer).contains("turned off uploading"), "{answer}");
    assert_eq!(app.emu.attachment_downloads(attachment), 0);
    app.finish().await;
}

on_both_backends!(
    an_upload_waits_in_the_database_across_a_restart_and_is_refused_once_expired,
    held_across_restart
);
async fn held_across_restart(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(5).await;
    let admin = app.admin();
    let (prompt, _) = upload_as(&app, &admin, "test_state.wasm", plugin("test_state")).await;
    // The click reaches a process that never saw the file (here: the bot, restarted).
    app.restart_bot().await;
    let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&added).contains("is added to this server"), "{added}");
    let again = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&again).contains("no longer waiting"), "{again}");

    // The Enable button checks the version the admin was shown: a newer upload in between
    // makes it refuse rather than enable what the admin never saw.
    let enable_prompt = app
        .command(
            &admin,
            app.lobby,
            "integrations",
            json!([{"name": "enable", "type": 1, "options": [{"name": "name", "type": 3, "value": "test-state"}]}]),
        )
        .await;
    assert!(text(&enable_prompt).contains("0.1.0"), "{enable_prompt}");
    let v2 = with_version(plugin("test_state"), "0.1.0", "0.2.0");
    let (upload2, _) = upload_as(&app, &admin, "test_state.wasm", v2.clone()).await;
    let added = press(&app, &admin, &upload2, "tessera:int:upload:").await;
    assert!(text(&added).contains("is added to this server"), "{added}");
    let stale = app
        .click(
            &admin,
            app.lobby,
            id(&enable_prompt["id"]),
            "tessera:int:enable:test-state",
        )
        .await;
    assert!(
        text(&stale).contains("changed since you were shown it"),
        "{stale}"
    );
    assert!(app
        .store
        .guild_integrations(app.guild)
        .await
        .expect("read")
        .is_empty());

    // An upload left waiting past its expiry is refused and forgotten (the clock is moved).
    let v3 = with_version(plugin("test_state"), "0.1.0", "0.3.0");
    let (prompt3, _) = upload_as(&app, &admin, "test_state.wasm", v3.clone()).await;
    let now = tessera::store::now_ms();
    app.store
        .hold_upload(
            &tessera::store::PendingUpload {
                guild_id: app.guild,
                sha256: tessera::plugins::component::sha256_hex(&v3),
                uploaded_by: admin.user_id,
                wasm: v3,
                expires_at: now - 1,
            },
            3,
            now - 2,
        )
        .await
        .expect("aged");
    let late = press(&app, &admin, &prompt3, "tessera:int:upload:").await;
    assert!(
        text(&late).contains("waited more than 15 minutes"),
        "{late}"
    );
    let gone = press(&app, &admin, &prompt3, "tessera:int:discard:").await;
    assert!(text(&gone).contains("no longer waiting"), "{gone}");
    let uploaded: Vec<String> = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read")
        .into_iter()
        .filter(|c| c.action == ConsentAction::Uploaded)
        .map(|c| c.version)
        .collect();
    assert_eq!(uploaded, ["0.1.0", "0.2.0"]);

    // Discarding stores nothing, and the file stops waiting.
    let v4 = with_version(plugin("test_state"), "0.1.0", "0.4.0");
    let (prompt4, _) = upload_as(&app, &admin, "test_state.wasm", v4).await;
    let discarded = press(&app, &admin, &prompt4, "tessera:int:discard:").await;
    assert!(text(&discarded).contains("discarded"), "{discarded}");
    let late = press(&app, &admin, &prompt4, "tessera:int:upload:").await;
    assert!(text(&late).contains("no longer waiting"), "{late}");
    app.finish().await;
}

/// Stores an upload the way another process confirming it would: only the database knows it.
async fn uploaded_elsewhere(app: &TestApp, bytes: Vec<u8>) {
    let admin = app.admin();
    let inspection = tessera::plugins::component::inspect(&bytes).expect("inspects");
    let consent = tessera::privacy::records::consent(
        &inspection,
        app.guild,
        ConsentAction::Uploaded,
        Some(admin.user_id),
    );
    let row = tessera::store::GuildPlugin {
        guild_id: app.guild,
        plugin_id: inspection.manifest.id.clone(),
        version: inspection.manifest.version.clone(),
        sha256: inspection.sha256.clone(),
        manifest: String::new(),
        wasm: bytes,
        uploaded_by: admin.user_id,
        uploaded_at: 0,
    };
    assert!(app
        .store
        .add_guild_plugin(&row, &consent)
        .await
        .expect("stored"));
}

on_both_backends!(
    an_upload_confirmed_by_another_process_is_used_here_without_a_restart,
    upload_from_elsewhere
);
async fn upload_from_elsewhere(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(5).await;
    uploaded_elsewhere(&app, plugin("test_state")).await;
    let enabled = app.enable_plugin("test-state", &[]).await;
    assert!(text(&enabled).contains("is enabled"), "{enabled}");
    app.command(
        &app.admin(),
        app.lobby,
        "welcome",
        json!([{"name": "set", "type": 1, "options": [{"name": "message", "type": 3, "value": "count=%test-state.count%"}]}]),
    )
    .await;
    let channel = app.open_via_panel(&app.member(1)).await;
    assert!(
        text(&app.welcome(channel)).contains("count=1"),
        "{}",
        app.welcome(channel)
    );

    // A newer version added elsewhere runs from the next ticket on.
    uploaded_elsewhere(&app, with_version(plugin("test_state"), "0.1.0", "0.2.0")).await;
    app.open_via_panel(&app.member(2)).await;
    let delivered = app
        .store
        .deliveries_for_user(app.member(2).user_id)
        .await
        .expect("read");
    assert_eq!(
        delivered
            .iter()
            .map(|d| d.version.as_str())
            .collect::<Vec<_>>(),
        ["0.2.0"]
    );
    app.finish().await;
}

on_both_backends!(
    a_new_upload_of_a_plugin_does_not_inherit_the_old_ones_secrets,
    new_upload_secrets
);
async fn new_upload_secrets(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.plugins.allow_loopback_for_tests = true;
    app.plugins
        .test_resolve
        .insert("allowed.test".to_owned(), "127.0.0.1".parse().expect("ip"));
    app.restart_bot().await;
    app.set_up(5).await;
    let admin = app.admin();
    let (prompt, _) = upload_as(&app, &admin, "test_fetch.wasm", plugin("test_fetch")).await;
    let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&added).contains("is added to this server"), "{added}");
    let url = "http://allowed.test:9/status";
    let done = app
        .enable_plugin(
            "test-fetch",
            &[("c:url", url), ("s:token", "Bearer s3cret")],
        )
        .await;
    assert!(text(&done).contains("is enabled"), "{done}");

    // The same id, uploaded again as a new version: it may not use the old one's secret.
    let v2 = with_version(plugin("test_fetch"), "0.1.0", "0.2.0");
    let (prompt, _) = upload_as(&app, &admin, "test_fetch.wasm", v2).await;
    assert!(
        text(&prompt).contains("its secrets must be entered again"),
        "{prompt}"
    );
    let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&added).contains("this version runs"), "{added}");
    // Tickets open without it (nothing is sent), and its admins are told it needs them.
    let member = app.member(1);
    app.open_via_panel(&member).await;
    assert!(app
        .store
        .deliveries_for_user(member.user_id)
        .await
        .expect("read")
        .is_empty());
    assert!(
        app.emu
            .messages_in(app.log_channel)
            .iter()
            .any(|m| text(m).contains("needs an admin")),
        "the log channel is told"
    );
    // Keeping the field empty is refused, with the reason; entering it again works.
    let kept = app
        .configure_plugin("test-fetch", &[("c:url", url), ("s:token", "")])
        .await;
    assert!(
        text(&kept).contains("another version of this uploaded plugin")
            && text(&kept).contains("Enter every secret again"),
        "{kept}"
    );
    let entered = app
        .configure_plugin("test-fetch", &[("c:url", url), ("s:token", "Bearer n3w")])
        .await;
    assert!(text(&entered).contains("Saved the settings"), "{entered}");
    app.finish().await;
}

/// `bytes` with every `id = "from"` of its manifest replaced by `id = "to"` (same length).
fn with_id(mut bytes: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let needle = format!("id = \"{from}\"");
    let mut found = 0;
    while let Some(at) = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
    {
        bytes[at..at + needle.len()].copy_from_slice(format!("id = \"{to}\"").as_bytes());
        found += 1;
    }
    assert!(found > 0, "the manifest's id line");
    bytes
}

on_both_backends!(
    a_server_keeps_only_so_many_uploaded_integrations,
    upload_room
);
async fn upload_room(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.plugins.uploads_per_hour = 100;
    app.restart_bot().await;
    app.set_up(5).await;
    let admin = app.admin();
    for n in 0..=10 {
        let bytes = with_id(plugin("test_noop"), "test-noop", &format!("test-n{n:03}"));
        let (prompt, _) = upload_as(&app, &admin, "noop.wasm", bytes).await;
        let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
        if n < 10 {
            assert!(
                text(&added).contains("is added to this server"),
                "{n}: {added}"
            );
        } else {
            assert!(
                text(&added).contains("10 uploaded integrations, the most one server may have"),
                "{added}"
            );
        }
    }
    // A new version of one already uploaded still fits: it replaces the old one.
    let v2 = with_version(
        with_id(plugin("test_noop"), "test-noop", "test-n000"),
        "0.1.0",
        "0.2.0",
    );
    let (prompt, _) = upload_as(&app, &admin, "noop.wasm", v2).await;
    let added = press(&app, &admin, &prompt, "tessera:int:upload:").await;
    assert!(text(&added).contains("is added to this server"), "{added}");
    let stored = app.store.guild_plugins().await.expect("read");
    assert_eq!(stored.len(), 10, "only the current version of each is kept");
    app.finish().await;
}

on_both_backends!(
    an_upload_is_compiled_within_the_operators_limits_or_refused_with_a_reason,
    compile_limits
);
async fn compile_limits(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.plugins.uploads_per_hour = 100;
    // Compiling even the smallest plugin takes more memory than this (test-noop needs 3 MiB).
    app.plugins.compile_memory_mib = 1;
    app.restart_bot().await;
    app.set_up(1).await;
    let admin = app.admin();
    let (answer, _) = upload_as(&app, &admin, "test_noop.wasm", plugin("test_noop")).await;
    let t = text(&answer);
    assert!(
        t.contains("Compiling that file needs more memory than this bot allows (1 MiB)"),
        "{t}"
    );
    assert!(answer["components"].as_array().is_none_or(Vec::is_empty));

    // A compiler that does not finish in time is stopped, and the admin told so.
    let dir = tempfile::tempdir().expect("a temp dir");
    let hanging = dir.path().join("worker.sh");
    std::fs::write(&hanging, "#!/bin/sh\nexec sleep 30\n").expect("write");
    std::fs::set_permissions(
        &hanging,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    app.plugins.compile_memory_mib = 1024;
    app.plugins.compile_secs = 1;
    app.plugins.compile_worker = Some(hanging);
    app.restart_bot().await;
    let (answer, _) = upload_as(&app, &admin, "test_noop.wasm", plugin("test_noop")).await;
    assert!(
        text(&answer).contains("took too long to compile"),
        "{answer}"
    );

    // Within the limits, the same file is shown for confirmation.
    app.plugins.compile_secs = 60;
    app.plugins.compile_worker = Some(env!("CARGO_BIN_EXE_tessera").into());
    app.restart_bot().await;
    let (answer, _) = upload_as(&app, &admin, "test_noop.wasm", plugin("test_noop")).await;
    assert!(
        text(&answer).contains("(`test-noop` 0.1.0) to this server?"),
        "{answer}"
    );
    // Nothing refused was stored.
    assert!(app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read")
        .is_empty());
    app.finish().await;
}
