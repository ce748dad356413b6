//! Through the emulator: enabling integrations, running them at ticket open, privacy records,
//! the welcome template, and plugins that fail.

use serde_json::{json, Value};
use tessera::store::{Backend, ConsentAction};

use crate::app::{id, spawn_app, text, TestApp};
use crate::on_both_backends;

fn sub(name: &str, plugin: Option<&str>) -> Value {
    match plugin {
        Some(p) => {
            json!([{"name": name, "type": 1, "options": [{"name": "name", "type": 3, "value": p}]}])
        }
        None => json!([{"name": name, "type": 1, "options": []}]),
    }
}

async fn integrations(app: &TestApp, name: &str, plugin: Option<&str>) -> Value {
    app.command(&app.admin(), app.lobby, "integrations", sub(name, plugin))
        .await
}

async fn set_welcome(app: &TestApp, template: &str) -> Value {
    app.command(
        &app.admin(),
        app.lobby,
        "welcome",
        json!([{"name": "set", "type": 1, "options": [{"name": "message", "type": 3, "value": template}]}]),
    )
    .await
}

/// A loopback HTTP server answering "hi" after `delay`; its port and the requests it got.
async fn hi_server(
    delay: std::time::Duration,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    crate::plugins::serve(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi",
        delay,
    )
    .await
}

/// A second server in the emulator, set up by the same admin with a staff role of its own; its
/// id and its support channel.
async fn second_server(app: &TestApp) -> (u64, u64) {
    let emu = &app.emu;
    let guild2 = emu.add_guild(tessera_discord_emulator::GuildSpec::new(
        "Second",
        100_000_000_000_000_002,
    ));
    let staff2 = emu.add_role(guild2, "Staff", 0);
    let lobby2 = emu.add_channel(guild2, "support", 0, None);
    let i = emu
        .send_command(
            guild2,
            lobby2,
            &app.admin(),
            "setup",
            json!([{"name": "staff_role", "type": 8, "value": staff2.to_string()}]),
        )
        .await;
    let set = emu
        .wait_for_reply(&i, crate::app::WAIT)
        .await
        .expect("an answer");
    assert!(text(&set).contains("set up"), "{set}");
    (guild2, lobby2)
}

/// Restarts the bot with the test-only loopback switch on and `hosts` resolving to 127.0.0.1.
async fn resolve_to_loopback(app: &mut TestApp, hosts: &[&str]) {
    app.plugins.allow_loopback_for_tests = true;
    for host in hosts {
        app.plugins
            .test_resolve
            .insert((*host).to_owned(), "127.0.0.1".parse().expect("ip"));
    }
    app.restart_bot().await;
}

/// The body of the bot's POST of the welcome message to `channel`.
fn welcome_request(app: &TestApp, channel: u64) -> Value {
    app.emu
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == format!("/channels/{channel}/messages"))
        .and_then(|r| r.body)
        .expect("the welcome message request")
}

on_both_backends!(
    enabling_an_integration_shows_what_is_shared_then_fills_the_welcome_message,
    enable_and_use
);
async fn enable_and_use(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    app.install_plugin("example").await;
    app.restart_bot().await;

    // The registered command takes the id as text (servers' own uploads differ per server)
    // and has the upload subcommand with an attachment option.
    let commands = app.emu.global_commands();
    let registered = commands
        .iter()
        .find(|c| c["name"] == "integrations")
        .expect("/integrations is registered");
    let upload = registered["options"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "upload"))
        .expect("/integrations upload");
    assert_eq!(upload["options"][0]["type"], 11, "{upload}");

    let list = integrations(&app, "list", None).await;
    let t = text(&list);
    assert!(
        t.contains("**Example** (`example` 0.1.0) — not enabled"),
        "{t}"
    );
    assert!(t.contains("greets the ticket opener"), "{t}");

    // The prompt says exactly what is shared, with whom, under which policy and limits.
    let prompt = integrations(&app, "enable", Some("example")).await;
    let t = text(&prompt);
    for needle in [
        "that member's Discord user ID",
        "nothing: it has no network access",
        "<https://example.com/privacy>",
        "16 MiB of memory and 500 ms of CPU",
        "`greeting` (optional)",
        "Sends nothing anywhere",
    ] {
        assert!(t.contains(needle), "{needle:?} missing from {t}");
    }
    // Nothing is enabled by the prompt alone.
    assert!(app
        .store
        .guild_integrations(app.guild)
        .await
        .expect("read")
        .is_empty());

    // Confirming shows the settings form; submitting it enables the plugin.
    let admin = app.admin();
    let i = app
        .emu
        .click_button(
            app.guild,
            app.lobby,
            id(&prompt["id"]),
            &admin,
            "tessera:int:enable:example",
        )
        .await;
    let form = app.form(&i).await;
    assert_eq!(form["custom_id"], "tessera:int:form:enable:example");
    assert!(
        form["components"].to_string().contains("c:greeting"),
        "{form}"
    );
    let done = app
        .submit(
            &admin,
            "tessera:int:form:enable:example",
            &[("c:greeting", "Howdy")],
        )
        .await;
    assert!(text(&done).contains("**Example** is enabled"), "{done}");
    // Once enabled, the list says what it receives, where it goes and under which policy.
    let list = integrations(&app, "list", None).await;
    let t = text(&list);
    assert!(
        t.starts_with("**Example** (`example` 0.1.0) — ✅ enabled")
            && t.contains("Receives the ticket opener's user ID. Contacts nothing")
            && t.contains("<https://example.com/privacy>"),
        "{t}"
    );

    let rows = app.store.guild_integrations(app.guild).await.expect("read");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].enabled);
    assert_eq!(
        rows[0].config.get("greeting").map(String::as_str),
        Some("Howdy")
    );
    assert_eq!(rows[0].sealed_secrets, None);
    let consents = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read");
    assert_eq!(consents.len(), 1);
    let c = &consents[0];
    assert_eq!(
        (c.plugin_id.as_str(), c.version.as_str()),
        ("example", "0.1.0")
    );
    assert_eq!(c.sha256.len(), 64);
    assert_eq!(c.privacy_policy, "https://example.com/privacy");
    assert!(c.data_use.contains("Sends nothing anywhere"));
    assert_eq!(
        (c.action, c.actor_id),
        (ConsentAction::Enabled, Some(admin.user_id))
    );

    let set = set_welcome(
        &app,
        "%example.greeting%, %user%! You are %ticket%. Rank: %example.rank%",
    )
    .await;
    assert!(text(&set).contains("Saved"), "{set}");

    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    let welcome = app.welcome(channel);
    let content = text(&welcome);
    assert!(
        content.starts_with(&format!(
            "Howdy, <@{}>! You are #0001. Rank: *unavailable*",
            opener.user_id
        )),
        "{content}"
    );
    // The member is told who received their ID, with the policy link.
    assert!(
        content.contains("Your user ID was shared with an integration"),
        "{content}"
    );
    assert!(
        content.contains("**Example** ([privacy policy](<https://example.com/privacy>))"),
        "{content}"
    );
    // Only the opener may be pinged.
    let sent = welcome_request(&app, channel);
    assert_eq!(
        sent["allowed_mentions"]["users"],
        json!([opener.user_id.to_string()]),
        "{sent}"
    );
    assert!(
        sent["allowed_mentions"]["parse"]
            .as_array()
            .is_none_or(|p| p.is_empty()),
        "{sent}"
    );

    // The delivery is recorded: plugin, version, whose ID, which ticket, the outcome.
    let ticket = app
        .store
        .ticket_by_channel(channel)
        .await
        .expect("read")
        .expect("row");
    let deliveries = app
        .store
        .deliveries_for_user(opener.user_id)
        .await
        .expect("read");
    assert_eq!(deliveries.len(), 1);
    let d = &deliveries[0];
    assert_eq!(
        (d.plugin_id.as_str(), d.version.as_str(), d.outcome.as_str()),
        ("example", "0.1.0", "ok")
    );
    assert_eq!((d.guild_id, d.ticket_id), (app.guild, Some(ticket.id)));
    assert_eq!(d.sha256, c.sha256);

    // Any member can see the server's integrations and their policies.
    let privacy = app
        .command(
            &app.member(2),
            app.lobby,
            "privacy",
            sub("integrations", None),
        )
        .await;
    let t = text(&privacy);
    assert!(
        t.contains("**Example**") && t.contains("<https://example.com/privacy>"),
        "{t}"
    );
    assert!(t.contains("no network access"), "{t}");

    // Disabling stops the sharing and is recorded.
    let off = integrations(&app, "disable", Some("example")).await;
    assert!(text(&off).contains("is disabled"), "{off}");
    let consents = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read");
    assert_eq!(
        consents.last().map(|c| c.action),
        Some(ConsentAction::Disabled)
    );
    let second = app.open_via_panel(&app.member(3)).await;
    let content = text(&app.welcome(second)).to_owned();
    assert!(
        content.contains("*unavailable*") && !content.contains("shared with"),
        "{content}"
    );
    assert!(app
        .store
        .deliveries_for_user(app.member(3).user_id)
        .await
        .expect("read")
        .is_empty());
    let privacy = app
        .command(
            &app.member(2),
            app.lobby,
            "privacy",
            sub("integrations", None),
        )
        .await;
    assert!(
        text(&privacy).contains("shares your user ID with no one"),
        "{privacy}"
    );
    app.finish().await;
}

on_both_backends!(
    failing_plugins_never_stop_a_ticket_and_are_disabled_after_repeated_failures,
    failing_plugins
);
async fn failing_plugins(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(10).await;
    const HOSTILE: [(&str, &str, &str); 5] = [
        ("test_panic", "test-panic", "trap"),
        ("test_loop", "test-loop", "cpu-limit"),
        ("test_memory_bomb", "test-memory-bomb", "memory-limit"),
        ("test_recursion", "test-recursion", "trap"),
        ("test_flood", "test-flood", "output-limits"),
    ];
    for file in HOSTILE
        .iter()
        .map(|h| h.0)
        .chain(["test_wasi_escape", "test_state"])
    {
        app.install_plugin(file).await;
    }
    app.plugins.disable_after_failures = 2;
    app.restart_bot().await;
    // The first-party example ships in the binary.
    app.enable_plugin("example", &[]).await;
    for plugin in HOSTILE
        .iter()
        .map(|h| h.1)
        .chain(["test-wasi-escape", "test-state"])
    {
        // The flood plugin's defaults would blow its memory; this makes it flood output.
        let fields: &[(&str, &str)] = if plugin == "test-flood" {
            &[("c:count", "100"), ("c:value_len", "10")]
        } else {
            &[]
        };
        let done = app.enable_plugin(plugin, fields).await;
        assert!(text(&done).contains("is enabled"), "{done}");
    }
    set_welcome(
        &app,
        "G=%example.greeting% P=%test-panic.x% L=%test-loop.x% F=%test-flood.x% \
         S=%test-state.count% FS=%test-wasi-escape.fs%|ENV=%test-wasi-escape.env%|NET=%test-wasi-escape.net%",
    )
    .await;

    let opener = app.member(1);
    for round in 1..=3 {
        let (panel, custom_id) = app.post_panel().await;
        let reply = app.click(&opener, app.lobby, panel, &custom_id).await;
        assert!(
            text(&reply).contains("Your ticket is open"),
            "round {round}: {reply}"
        );
        let channel = crate::app::channel_mentioned(&reply).expect("a channel");
        let content = text(&app.welcome(channel)).to_owned();
        // The healthy plugins' placeholders are intact; the failed ones are neutral. A fresh
        // instance per event: the stateful plugin always counts 1.
        assert!(
            content.starts_with(
                "G=Hello P=*unavailable* L=*unavailable* F=*unavailable* S=1 FS=denied: "
            ),
            "round {round}: {content}"
        );
        assert!(
            !content.contains("ALLOWED"),
            "the sandbox let something through: {content}"
        );
        for (_, id, _) in HOSTILE {
            let listed = content.contains(&format!("**Test: {}**", &id[5..]));
            assert_eq!(listed, round < 3, "round {round}, {id}: {content}");
        }
        assert!(content.contains("**Example**"), "{content}");
    }
    let deliveries = app
        .store
        .deliveries_for_user(opener.user_id)
        .await
        .expect("read");
    let outcome = |plugin: &str| -> Vec<String> {
        deliveries
            .iter()
            .filter(|d| d.plugin_id == plugin)
            .map(|d| d.outcome.clone())
            .collect()
    };
    assert_eq!(outcome("example"), ["ok", "ok", "ok"]);
    assert_eq!(outcome("test-state"), ["ok", "ok", "ok"]);
    for (_, id, kind) in HOSTILE {
        // Disabled after two failures within the window: the third ticket did not give it the ID.
        assert_eq!(outcome(id), [kind, kind], "{id}");
    }

    // Admins are told once per plugin, in the log channel.
    let notices: Vec<String> = app
        .emu
        .messages_in(app.log_channel)
        .iter()
        .map(|m| text(m).to_owned())
        .filter(|t| t.contains("is now **disabled**"))
        .collect();
    assert_eq!(notices.len(), HOSTILE.len(), "{notices:#?}");
    assert!(notices
        .iter()
        .any(|n| n.contains("**Test: panic**") && n.contains("`/integrations enable test-panic`")));
    let consents = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read");
    let auto: Vec<_> = consents
        .iter()
        .filter(|c| c.action == ConsentAction::AutoDisabled)
        .collect();
    assert_eq!(auto.len(), HOSTILE.len(), "{consents:#?}");
    assert!(auto.iter().all(|c| c.actor_id.is_none()), "{auto:#?}");
    let list = integrations(&app, "list", None).await;
    assert!(
        text(&list).contains("(`test-panic` 0.1.0) — ⚠️ disabled after repeated failures"),
        "{list}"
    );
    // An admin can turn it back on; the streak starts again.
    let again = app.enable_plugin("test-panic", &[]).await;
    assert!(text(&again).contains("is enabled"), "{again}");
    let row = app
        .store
        .guild_integration(app.guild, "test-panic")
        .await
        .expect("read")
        .expect("row");
    assert!(row.enabled && row.recent_failures == 0 && row.disabled_reason.is_none());
    app.finish().await;
}

on_both_backends!(
    secrets_are_sealed_sent_only_to_their_host_and_never_shown_back,
    secrets_flow
);
async fn secrets_flow(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(10).await;
    app.install_plugin("test_fetch").await;
    let (port, seen) = hi_server(std::time::Duration::ZERO).await;
    resolve_to_loopback(&mut app, &["allowed.test", "other.allowed.test"]).await;

    let prompt = integrations(&app, "enable", Some("test-fetch")).await;
    let t = text(&prompt);
    assert!(t.contains("`allowed.test`, `*.allowed.test`"), "{t}");
    assert!(
        t.contains("`token` (secret, encrypted, never shown again; sent only to `allowed.test`)"),
        "{t}"
    );
    let url = format!("http://allowed.test:{port}/status");
    let done = app
        .enable_plugin(
            "test-fetch",
            &[("c:url", &url), ("s:token", "Bearer s3cret")],
        )
        .await;
    assert!(text(&done).contains("is enabled"), "{done}");
    assert!(!done.to_string().contains("s3cret"), "{done}");

    // Sealed at rest: neither the row nor its config holds the secret.
    let row = app
        .store
        .guild_integration(app.guild, "test-fetch")
        .await
        .expect("read")
        .expect("a row");
    let sealed = row.sealed_secrets.clone().expect("sealed secrets");
    assert!(
        sealed.starts_with(r#"{"v":2,"#)
            && sealed.contains(r#""host":"allowed.test""#)
            && !sealed.contains("s3cret"),
        "{sealed}"
    );
    assert!(!format!("{:?}", row.config).contains("s3cret"));

    set_welcome(
        &app,
        "status=%test-fetch.status% body=%test-fetch.body% error=%test-fetch.error%",
    )
    .await;
    let channel = app.open_via_panel(&app.member(1)).await;
    let content = text(&app.welcome(channel)).to_owned();
    assert!(
        content.starts_with("status=200 body=hi error=*unavailable*"),
        "{content}"
    );
    {
        let requests = seen.lock().expect("lock");
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert!(
            requests[0]
                .to_ascii_lowercase()
                .contains("authorization: bearer s3cret"),
            "{requests:?}"
        );
    }

    // The settings form shows the config back, never the secret; left empty, it is kept.
    let admin = app.admin();
    let i = app
        .emu
        .send_command(
            app.guild,
            app.lobby,
            &admin,
            "integrations",
            sub("config", Some("test-fetch")),
        )
        .await;
    let form = app.form(&i).await;
    let shown = form.to_string();
    assert!(shown.contains(&url) && !shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("Leave empty to keep the stored secret"),
        "{shown}"
    );
    // To a sibling host the plugin may call, the secret is not sent.
    let other = format!("http://other.allowed.test:{port}/x");
    let saved = app
        .submit(
            &admin,
            "tessera:int:form:config:test-fetch",
            &[("c:url", &other), ("s:token", "")],
        )
        .await;
    assert!(text(&saved).contains("Saved the settings"), "{saved}");
    app.open_via_panel(&app.member(2)).await;
    {
        let requests = seen.lock().expect("lock");
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert!(requests[1].starts_with("GET /x "), "{requests:?}");
        assert!(
            !requests[1].to_ascii_lowercase().contains("authorization"),
            "{requests:?}"
        );
    }
    // Back to its host: the kept secret is still sent. A plugin setting the secret's header
    // itself (to learn or replace it) is refused.
    app.submit(
        &admin,
        "tessera:int:form:config:test-fetch",
        &[
            ("c:url", &url),
            ("c:header_name", "Authorization"),
            ("c:header_value", "mine"),
        ],
    )
    .await;
    let channel = app.open_via_panel(&app.member(3)).await;
    let content = text(&app.welcome(channel)).to_owned();
    assert!(
        content.contains("error=denied: header Authorization is reserved"),
        "{content}"
    );
    app.submit(
        &admin,
        "tessera:int:form:config:test-fetch",
        &[("c:url", &url)],
    )
    .await;
    app.open_via_panel(&app.member(4)).await;
    {
        let requests = seen.lock().expect("lock");
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert!(
            requests[2]
                .to_ascii_lowercase()
                .contains("authorization: bearer s3cret"),
            "{requests:?}"
        );
    }

    // A member cannot change the settings, even by submitting the form directly.
    let forged = app
        .submit(
            &app.member(1),
            "tessera:int:form:config:test-fetch",
            &[("c:url", "http://evil.test/")],
        )
        .await;
    assert!(text(&forged).contains("Manage Server"), "{forged}");
    let row = app
        .store
        .guild_integration(app.guild, "test-fetch")
        .await
        .expect("read")
        .expect("a row");
    assert_eq!(row.config.get("url"), Some(&url));
    app.finish().await;
}

on_both_backends!(
    by_default_plugins_reach_no_loopback_server_and_secrets_need_a_key,
    defaults_refuse
);
async fn defaults_refuse(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(10).await;
    app.install_plugin("test_fetch").await;
    let (port, seen) = hi_server(std::time::Duration::ZERO).await;
    // Without a secrets key, a plugin with secrets cannot be enabled.
    app.plugins.secrets_key = None;
    app.restart_bot().await;
    let refused = integrations(&app, "enable", Some("test-fetch")).await;
    assert!(text(&refused).contains("plugins.secrets_key"), "{refused}");
    assert!(
        refused["components"]
            .as_array()
            .is_none_or(|c| c.is_empty()),
        "{refused}"
    );
    assert!(app
        .store
        .guild_integrations(app.guild)
        .await
        .expect("read")
        .is_empty());

    // With a key but the default egress policy, plain http and loopback are refused.
    app.plugins.secrets_key = Some(crate::app::TEST_SECRETS_KEY.to_owned().into());
    app.restart_bot().await;
    for (n, url) in [
        (1, format!("http://allowed.test:{port}/")),
        (2, format!("https://allowed.test:{port}/")),
        (3, format!("https://127.0.0.1:{port}/")),
    ] {
        if n == 1 {
            app.enable_plugin("test-fetch", &[("c:url", &url), ("s:token", "t")])
                .await;
            set_welcome(&app, "error=%test-fetch.error%").await;
        } else {
            app.configure_plugin("test-fetch", &[("c:url", &url)]).await;
        }
        let channel = app.open_via_panel(&app.member(n)).await;
        let content = text(&app.welcome(channel)).to_owned();
        assert!(content.starts_with("error=denied: "), "{url}: {content}");
    }
    assert!(
        seen.lock().expect("lock").is_empty(),
        "the loopback server was reached"
    );
    app.finish().await;
}

on_both_backends!(
    welcome_templates_can_be_set_shown_and_reset,
    welcome_commands
);
async fn welcome_commands(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let early = set_welcome(&app, "Hi").await;
    assert!(text(&early).contains("/setup"), "{early}");
    app.set_up(10).await;
    let set = set_welcome(&app, "Hello %user%, 100% ready. %nope.thing% %ticket%").await;
    assert!(
        text(&set).contains("`%nope.thing%` names an integration that is not enabled"),
        "{set}"
    );
    let shown = app
        .command(&app.admin(), app.lobby, "welcome", sub("show", None))
        .await;
    assert!(
        text(&shown).contains("Hello %user%, 100% ready."),
        "{shown}"
    );
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    assert_eq!(
        text(&app.welcome(channel)),
        format!(
            "Hello <@{}>, 100% ready. *unavailable* #0001",
            opener.user_id
        )
    );
    let member = app
        .command(&app.member(2), app.lobby, "welcome", sub("reset", None))
        .await;
    assert!(text(&member).contains("Manage Server"), "{member}");
    let reset = app
        .command(&app.admin(), app.lobby, "welcome", sub("reset", None))
        .await;
    assert!(text(&reset).contains("default"), "{reset}");
    let channel = app.open_via_panel(&app.member(3)).await;
    assert!(
        text(&app.welcome(channel)).starts_with("Welcome <@"),
        "{}",
        app.welcome(channel)
    );
    app.finish().await;
}

on_both_backends!(
    members_cannot_manage_integrations_and_leaving_a_server_deletes_its_integration_data,
    permissions_and_leave
);
async fn permissions_and_leave(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let member = app.member(1);
    for name in ["list", "enable", "disable"] {
        let plugin = (name != "list").then_some("example");
        let r = app
            .command(&member, app.lobby, "integrations", sub(name, plugin))
            .await;
        assert!(text(&r).contains("Manage Server"), "{name}: {r}");
    }
    // The first-party example ships inside the binary: no install needed.
    let done = app.enable_plugin("example", &[("c:greeting", "Hi")]).await;
    assert!(text(&done).contains("is enabled"), "{done}");
    app.open_via_panel(&member).await;
    assert_eq!(
        app.store
            .deliveries_for_user(member.user_id)
            .await
            .expect("read")
            .len(),
        1
    );
    // An enable prompt still waiting for its click is forgotten with the server too.
    integrations(&app, "enable", Some("example")).await;
    async fn waiting(app: &TestApp) -> bool {
        app.store
            .pending_enable(
                app.guild,
                "example",
                app.admin().user_id,
                tessera::store::now_ms(),
            )
            .await
            .expect("read")
            .is_ok()
    }
    assert!(waiting(&app).await);
    app.emu.remove_guild(app.guild);
    let deadline = tokio::time::Instant::now() + crate::app::WAIT;
    while !app
        .store
        .guild_integrations(app.guild)
        .await
        .expect("read")
        .is_empty()
        || waiting(&app).await
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "integration settings were not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read")
        .is_empty());
    assert!(app
        .store
        .deliveries_for_user(member.user_id)
        .await
        .expect("read")
        .is_empty());
    app.finish().await;
}

on_both_backends!(
    two_servers_using_one_plugin_at_once_share_no_settings_secrets_or_state,
    two_servers
);
async fn two_servers(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.install_plugin("test_fetch").await;
    let (port, seen) = hi_server(std::time::Duration::from_millis(100)).await;
    resolve_to_loopback(&mut app, &["allowed.test"]).await;
    app.set_up(10).await;
    app.enable_plugin(
        "test-fetch",
        &[
            ("c:url", &format!("http://allowed.test:{port}/one")),
            ("s:token", "token-one"),
        ],
    )
    .await;

    // A second server, set up and enabled by its own admin with its own settings.
    let emu = &app.emu;
    let (guild2, lobby2) = second_server(&app).await;
    let admin = app.admin();
    let answer = |i| async move {
        emu.wait_for_reply(&i, crate::app::WAIT)
            .await
            .expect("an answer")
    };
    let prompt = answer(
        emu.send_command(
            guild2,
            lobby2,
            &admin,
            "integrations",
            sub("enable", Some("test-fetch")),
        )
        .await,
    )
    .await;
    let form = answer(
        emu.click_button(
            guild2,
            lobby2,
            id(&prompt["id"]),
            &admin,
            "tessera:int:enable:test-fetch",
        )
        .await,
    )
    .await;
    assert_eq!(form["callback_type"], 9, "{form}");
    let url2 = format!("http://allowed.test:{port}/two");
    let done = answer(
        emu.submit_modal(
            guild2,
            lobby2,
            &admin,
            "tessera:int:form:enable:test-fetch",
            &[("c:url", &url2), ("s:token", "token-two")],
        )
        .await,
    )
    .await;
    assert!(text(&done).contains("is enabled"), "{done}");

    // Tickets open in both servers at the same time.
    let opener = app.member(1);
    let one = emu
        .send_command(app.guild, app.lobby, &opener, "open", json!([]))
        .await;
    let two = emu
        .send_command(guild2, lobby2, &opener, "open", json!([]))
        .await;
    let (one, two) = tokio::join!(answer(one), answer(two));
    assert!(
        text(&one).contains("Your ticket is open") && text(&two).contains("Your ticket is open"),
        "{one} {two}"
    );

    let requests = seen.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let to = |path: &str| {
        requests
            .iter()
            .find(|r| r.starts_with(&format!("GET {path} ")))
            .unwrap_or_else(|| panic!("no request for {path}: {requests:?}"))
            .to_ascii_lowercase()
    };
    assert!(to("/one").contains("authorization: token-one") && !to("/one").contains("token-two"));
    assert!(to("/two").contains("authorization: token-two") && !to("/two").contains("token-one"));
    // Each server's records stay its own.
    let deliveries = app
        .store
        .deliveries_for_user(opener.user_id)
        .await
        .expect("read");
    let mut guilds: Vec<u64> = deliveries.iter().map(|d| d.guild_id).collect();
    guilds.sort_unstable();
    assert_eq!(guilds, {
        let mut g = vec![app.guild, guild2];
        g.sort_unstable();
        g
    });
    assert_eq!(
        app.store
            .integration_consents(guild2)
            .await
            .expect("read")
            .len(),
        1
    );
    app.finish().await;
}

on_both_backends!(
    an_enable_prompt_outlives_a_restart_counts_once_and_expires,
    enable_prompt_in_database
);
async fn enable_prompt_in_database(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(5).await;
    let admin = app.admin();
    let prompt = integrations(&app, "enable", Some("example")).await;
    // The click reaches a process that never showed the prompt (here: the bot, restarted).
    app.restart_bot().await;
    let i = app
        .emu
        .click_button(
            app.guild,
            app.lobby,
            id(&prompt["id"]),
            &admin,
            "tessera:int:enable:example",
        )
        .await;
    let form = app.form(&i).await;
    assert_eq!(form["custom_id"], "tessera:int:form:enable:example");
    let done = app
        .submit(
            &admin,
            "tessera:int:form:enable:example",
            &[("c:greeting", "Howdy")],
        )
        .await;
    assert!(text(&done).contains("**Example** is enabled"), "{done}");

    // The prompt counts once: its button again, or the form sent again, enables nothing.
    let again = app
        .click(
            &admin,
            app.lobby,
            id(&prompt["id"]),
            "tessera:int:enable:example",
        )
        .await;
    assert!(text(&again).contains("no longer waiting"), "{again}");
    let resent = app
        .submit(
            &admin,
            "tessera:int:form:enable:example",
            &[("c:greeting", "Again")],
        )
        .await;
    assert!(text(&resent).contains("no longer waiting"), "{resent}");
    let consents = app
        .store
        .integration_consents(app.guild)
        .await
        .expect("read");
    assert_eq!(consents.len(), 1, "{consents:?}");

    // A prompt left past its expiry is refused (the clock is moved, not waited for).
    let prompt = integrations(&app, "enable", Some("example")).await;
    let mut shown = app
        .store
        .pending_enable(
            app.guild,
            "example",
            admin.user_id,
            tessera::store::now_ms(),
        )
        .await
        .expect("read")
        .expect("the prompt waits");
    let now = tessera::store::now_ms();
    shown.expires_at = now - 1;
    app.store.hold_enable(&shown, now - 2).await.expect("aged");
    let late = app
        .click(
            &admin,
            app.lobby,
            id(&prompt["id"]),
            "tessera:int:enable:example",
        )
        .await;
    assert!(
        text(&late).contains("waited more than 15 minutes"),
        "{late}"
    );
    let rows = app.store.guild_integrations(app.guild).await.expect("read");
    assert_eq!(
        rows[0].config.get("greeting").map(String::as_str),
        Some("Howdy")
    );
    app.finish().await;
}

on_both_backends!(
    stored_secrets_that_no_longer_open_are_reported_not_dropped,
    unopenable_secrets
);
async fn unopenable_secrets(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(10).await;
    app.install_plugin("test_fetch").await;
    let (port, _seen) = hi_server(std::time::Duration::ZERO).await;
    resolve_to_loopback(&mut app, &["allowed.test"]).await;
    let url = format!("http://allowed.test:{port}/status");
    let done = app
        .enable_plugin(
            "test-fetch",
            &[("c:url", &url), ("s:token", "Bearer s3cret")],
        )
        .await;
    assert!(text(&done).contains("is enabled"), "{done}");
    let before = app
        .store
        .guild_integration(app.guild, "test-fetch")
        .await
        .expect("read")
        .expect("a row");

    // The operator changes the key: the stored secret no longer opens.
    app.plugins.secrets_key = Some(secrecy::SecretString::from(
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
    ));
    app.restart_bot().await;

    // Tickets still open; the integration is not run (nothing is sent, nothing recorded), and
    // its admins are told once in the log channel and see it in the list, not a silent skip.
    for n in 1..=2 {
        let member = app.member(n);
        app.open_via_panel(&member).await;
        let records = app
            .store
            .deliveries_for_user(member.user_id)
            .await
            .expect("read");
        assert!(records.is_empty(), "{records:?}");
    }
    let notices: Vec<String> = app
        .emu
        .messages_in(app.log_channel)
        .iter()
        .map(|m| text(m).to_owned())
        .filter(|t| t.contains("needs an admin"))
        .collect();
    assert_eq!(notices.len(), 1, "told once: {notices:#?}");
    assert!(
        notices[0].contains("**Test: fetch**") && notices[0].contains("secrets no longer open"),
        "{}",
        notices[0]
    );
    let list = integrations(&app, "list", None).await;
    assert!(
        text(&list).contains("Needs attention") && text(&list).contains("secrets no longer open"),
        "{list}"
    );

    let saved = app
        .configure_plugin("test-fetch", &[("c:url", &url), ("s:token", "")])
        .await;
    let t = text(&saved);
    assert!(
        t.contains("cannot be used") && t.contains("Enter every secret again"),
        "{t}"
    );
    let after = app
        .store
        .guild_integration(app.guild, "test-fetch")
        .await
        .expect("read")
        .expect("a row");
    assert_eq!(
        after.sealed_secrets, before.sealed_secrets,
        "nothing was saved"
    );
    // Entered again, it is sealed with the new key.
    let saved = app
        .configure_plugin("test-fetch", &[("c:url", &url), ("s:token", "Bearer n3w")])
        .await;
    assert!(text(&saved).contains("Saved the settings"), "{saved}");
    app.finish().await;
}

on_both_backends!(a_server_may_enable_only_so_many_integrations, enabled_cap);
async fn enabled_cap(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(10).await;
    app.install_plugin("test_state").await;
    app.plugins.max_enabled_per_server = 1;
    app.restart_bot().await;
    let done = app.enable_plugin("example", &[]).await;
    assert!(text(&done).contains("is enabled"), "{done}");
    let refused = app.enable_plugin("test-state", &[]).await;
    assert!(
        text(&refused).contains("the most one server may run at once (1)"),
        "{refused}"
    );
    let row = app
        .store
        .guild_integration(app.guild, "test-state")
        .await
        .expect("read");
    assert!(row.as_ref().is_none_or(|r| !r.enabled), "{row:?}");
    // Saving the settings of one already enabled is not a new one.
    let again = app.enable_plugin("example", &[]).await;
    assert!(text(&again).contains("is enabled"), "{again}");
    app.finish().await;
}

on_both_backends!(
    a_server_whose_plugin_holds_every_slot_it_can_never_fails_another_servers_tickets,
    starvation
);
async fn starvation(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    // A small sandbox: 4 slots, 2 per server; events of up to 3 s (the default).
    app.plugins.max_concurrent_events = 4;
    app.plugins.max_concurrent_events_per_server = 2;
    app.install_plugin("test_sleep").await;
    app.restart_bot().await;
    app.set_up(10).await;
    // Server A's hostile plugin sleeps at no CPU for as long as any event may run.
    let enabled = app.enable_plugin("test-sleep", &[]).await;
    assert!(text(&enabled).contains("is enabled"), "{enabled}");

    // Server B, with the first-party example plugin.
    let emu = &app.emu;
    let (guild2, lobby2) = second_server(&app).await;
    let admin = app.admin();
    let answer = |i| async move {
        emu.wait_for_reply(&i, crate::app::WAIT)
            .await
            .expect("an answer")
    };
    let prompt = answer(
        emu.send_command(
            guild2,
            lobby2,
            &admin,
            "integrations",
            sub("enable", Some("example")),
        )
        .await,
    )
    .await;
    let done = answer(
        emu.click_button(
            guild2,
            lobby2,
            id(&prompt["id"]),
            &admin,
            "tessera:int:enable:example",
        )
        .await,
    )
    .await;
    let done = if done["callback_type"] == 9 {
        answer(
            emu.submit_modal(
                guild2,
                lobby2,
                &admin,
                "tessera:int:form:enable:example",
                &[],
            )
            .await,
        )
        .await
    } else {
        done
    };
    assert!(text(&done).contains("is enabled"), "{done}");

    // Six of server A's members open tickets at once: its plugin holds both of A's slots for
    // the whole event, and A's other events wait for them.
    let mut in_a = Vec::new();
    for n in 1..=6u64 {
        in_a.push(
            emu.send_command(app.guild, app.lobby, &app.member(n), "open", json!([]))
                .await,
        );
    }
    // Meanwhile server B's members open two tickets at once.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let one = emu
        .send_command(guild2, lobby2, &app.member(11), "open", json!([]))
        .await;
    let two = emu
        .send_command(guild2, lobby2, &app.member(12), "open", json!([]))
        .await;
    let (one, two) = tokio::join!(answer(one), answer(two));
    let took = started.elapsed();
    assert!(
        text(&one).contains("Your ticket is open") && text(&two).contains("Your ticket is open"),
        "{one} {two}"
    );
    for i in in_a {
        let a = answer(i).await;
        assert!(text(&a).contains("Your ticket is open"), "{a}");
    }
    // B never waited for A's plugin (which holds its slots for 3 s).
    assert!(took < std::time::Duration::from_millis(1500), "{took:?}");
    // B's integration ran for both tickets; A's own extra events were not run, which is
    // never counted against A's plugin either.
    for member in [11u64, 12] {
        let deliveries = app
            .store
            .deliveries_for_user(app.member(member).user_id)
            .await
            .expect("read");
        let outcomes: Vec<_> = deliveries
            .iter()
            .map(|d| (d.guild_id, d.plugin_id.as_str(), d.outcome.as_str()))
            .collect();
        assert_eq!(outcomes, [(guild2, "example", "ok")]);
    }
    let mut outcomes_in_a = Vec::new();
    for member in 1..=6u64 {
        for d in app
            .store
            .deliveries_for_user(app.member(member).user_id)
            .await
            .expect("read")
        {
            outcomes_in_a.push(d.outcome);
        }
    }
    assert!(
        outcomes_in_a.len() <= 4 && outcomes_in_a.iter().all(|o| o == "timeout"),
        "only events that ran are recorded: {outcomes_in_a:?}"
    );
    app.finish().await;
}

on_both_backends!(
    a_ticket_still_opening_when_the_bot_leaves_the_server_writes_nothing_back,
    in_flight_when_removed
);
async fn in_flight_when_removed(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.install_plugin("test_sleep").await;
    app.restart_bot().await;
    app.set_up(10).await;
    let enabled = app.enable_plugin("test-sleep", &[]).await;
    assert!(text(&enabled).contains("is enabled"), "{enabled}");
    // A ticket opens; its integration holds the open for the whole event (3 s).
    let opening = app
        .emu
        .send_command(app.guild, app.lobby, &app.member(1), "open", json!([]))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    // Meanwhile the bot is removed from the server.
    app.emu.remove_guild(app.guild);
    let deadline = tokio::time::Instant::now() + crate::app::WAIT;
    while app
        .store
        .guild_settings(app.guild)
        .await
        .expect("read")
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server's data stays"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The open finishes (or gives up) after the deletion...
    let _ = app.emu.wait_for_reply(&opening, crate::app::WAIT).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // ...and nothing of the server was written back.
    for (table, rows) in app.store.guild_row_counts(app.guild).await.expect("count") {
        assert_eq!(rows, 0, "{table} holds rows written after the bot left");
    }
    app.finish().await;
}
