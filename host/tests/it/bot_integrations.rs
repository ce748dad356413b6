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

    // The registered command offers the installed plugin as a choice.
    let commands = app.emu.global_commands();
    let registered = commands
        .iter()
        .find(|c| c["name"] == "integrations")
        .expect("/integrations is registered");
    assert!(
        registered.to_string().contains("\"value\":\"example\""),
        "{registered}"
    );

    let list = integrations(&app, "list", None).await;
    let t = text(&list);
    assert!(
        t.contains("**Example** (`example` 0.1.0) — not enabled"),
        "{t}"
    );
    assert!(
        t.contains("https://example.com/privacy") && t.contains("Sends nothing anywhere"),
        "{t}"
    );

    // The prompt says exactly what is shared, with whom, under which policy and limits.
    let prompt = integrations(&app, "enable", Some("example")).await;
    let t = text(&prompt);
    for needle in [
        "that member's Discord user ID",
        "nothing: it has no network access",
        "<https://example.com/privacy>",
        "16 MiB of memory and 500 ms of CPU",
        "`greeting` (optional)",
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
    for plugin in ["example", "test_panic", "test_loop"] {
        app.install_plugin(plugin).await;
    }
    app.plugins.disable_after_failures = 2;
    app.restart_bot().await;
    app.enable_plugin("example", &[]).await;
    for plugin in ["test-panic", "test-loop"] {
        let done = app.enable_plugin(plugin, &[]).await;
        assert!(text(&done).contains("is enabled"), "{done}");
    }
    set_welcome(
        &app,
        "G=%example.greeting% P=%test-panic.x% L=%test-loop.x%",
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
        // The healthy plugin's placeholder is intact; the failed ones are neutral.
        assert!(
            content.starts_with("G=Hello P=*unavailable* L=*unavailable*"),
            "round {round}: {content}"
        );
        if round < 3 {
            assert!(
                content.contains("**Test: panic**") && content.contains("**Test: loop**"),
                "{content}"
            );
        } else {
            // Disabled after two failures in a row: no longer given the ID.
            assert!(
                !content.contains("Test: panic") && !content.contains("Test: loop"),
                "{content}"
            );
            assert!(content.contains("**Example**"), "{content}");
        }
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
    assert_eq!(outcome("test-panic"), ["trap", "trap"]);
    assert_eq!(outcome("test-loop"), ["cpu-limit", "cpu-limit"]);

    // Admins are told once per plugin, in the log channel.
    let notices: Vec<String> = app
        .emu
        .messages_in(app.log_channel)
        .iter()
        .map(|m| text(m).to_owned())
        .filter(|t| t.contains("is now **disabled**"))
        .collect();
    assert_eq!(notices.len(), 2, "{notices:#?}");
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
    assert_eq!(auto.len(), 2, "{consents:#?}");
    assert!(auto.iter().all(|c| c.actor_id.is_none()), "{auto:#?}");
    let list = integrations(&app, "list", None).await;
    assert!(
        text(&list).contains("(`test-panic` 0.1.0) — ⚠️ disabled after repeated failures"),
        "{list}"
    );
    app.finish().await;
}
