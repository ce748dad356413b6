//! Through the emulator: command registration, `/setup`, `/panel`, `/blacklist`, and odd input.

use std::collections::BTreeSet;

use serde_json::json;
use tessera::store::Backend;
use tessera_discord_emulator::MemberSpec;

use crate::app::{spawn_app, text, WAIT};
use crate::on_both_backends;

on_both_backends!(
    commands_are_registered_by_bulk_overwrite_at_start,
    commands_registered
);
async fn commands_registered(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let names: BTreeSet<String> = app
        .emu
        .global_commands()
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: BTreeSet<String> = [
        "add",
        "blacklist",
        "claim",
        "close",
        "integrations",
        "open",
        "panel",
        "privacy",
        "remove",
        "setup",
        "stats",
        "transcript",
        "unclaim",
        "welcome",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(names, expected);
    let setup = app
        .emu
        .global_commands()
        .into_iter()
        .find(|c| c["name"] == "setup")
        .expect("setup");
    // Manage Server (0x20) by default, so Discord hides it from others.
    assert_eq!(setup["default_member_permissions"].as_str(), Some("32"));
    for admin_only in ["integrations", "welcome", "blacklist"] {
        let c = app
            .emu
            .global_commands()
            .into_iter()
            .find(|c| c["name"] == admin_only)
            .expect("registered");
        assert_eq!(c["default_member_permissions"].as_str(), Some("32"), "{c}");
    }
    // Every member may ask what is shared about them.
    let privacy = app
        .emu
        .global_commands()
        .into_iter()
        .find(|c| c["name"] == "privacy")
        .expect("registered");
    assert!(privacy["default_member_permissions"].is_null(), "{privacy}");
    app.finish().await;
}

on_both_backends!(setup_saves_the_settings_and_shows_them, setup_saves);
async fn setup_saves(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let reply = app.set_up(3).await;
    let t = text(&reply);
    assert!(t.contains(&format!("<@&{}>", app.staff_role)), "{t}");
    assert!(t.contains(&format!("<#{}>", app.category)), "{t}");
    assert!(t.contains(&format!("<#{}>", app.log_channel)), "{t}");
    assert!(t.contains('3'), "{t}");
    let saved = app
        .store
        .guild_settings(app.guild)
        .await
        .expect("read")
        .expect("saved");
    assert_eq!(saved.staff_role_id, app.staff_role);
    assert_eq!(saved.category_id, Some(app.category));
    assert_eq!(saved.log_channel_id, Some(app.log_channel));
    assert_eq!(saved.max_open, 3);
    app.finish().await;
}

on_both_backends!(setup_is_for_server_managers_only, setup_managers_only);
async fn setup_managers_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let options = json!([{"name": "staff_role", "type": 8, "value": app.staff_role.to_string()}]);
    let reply = app
        .command(&app.member(1), app.lobby, "setup", options)
        .await;
    assert!(text(&reply).contains("Manage Server"), "{reply}");
    assert!(app
        .store
        .guild_settings(app.guild)
        .await
        .expect("read")
        .is_none());
    app.finish().await;
}

on_both_backends!(
    setup_refuses_a_text_channel_as_category,
    setup_wrong_category
);
async fn setup_wrong_category(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let options = json!([
        {"name": "staff_role", "type": 8, "value": app.staff_role.to_string()},
        {"name": "category", "type": 7, "value": app.lobby.to_string()},
    ]);
    let reply = app.command(&app.admin(), app.lobby, "setup", options).await;
    assert!(text(&reply).contains("pick a category"), "{reply}");
    assert!(app
        .store
        .guild_settings(app.guild)
        .await
        .expect("read")
        .is_none());
    app.finish().await;
}

on_both_backends!(setup_refuses_everyone_as_staff, setup_everyone_staff);
async fn setup_everyone_staff(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let options = json!([{"name": "staff_role", "type": 8, "value": app.guild.to_string()}]);
    let reply = app.command(&app.admin(), app.lobby, "setup", options).await;
    assert!(text(&reply).contains("@everyone"), "{reply}");
    app.finish().await;
}

on_both_backends!(
    panel_posts_an_open_ticket_button_in_the_channel,
    panel_posts
);
async fn panel_posts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let options = json!([
        {"name": "title", "type": 3, "value": "Support"},
        {"name": "button_label", "type": 3, "value": "Get help"},
    ]);
    let reply = app.command(&app.admin(), app.lobby, "panel", options).await;
    assert!(text(&reply).contains("Panel posted"), "{reply}");
    let panel = app
        .emu
        .messages_in(app.lobby)
        .pop()
        .expect("a panel message");
    assert_eq!(panel["embeds"][0]["title"], "Support");
    let button = &panel["components"][0]["components"][0];
    assert_eq!(button["label"], "Get help");
    assert!(button["custom_id"]
        .as_str()
        .expect("custom id")
        .starts_with("tessera:open:"));
    app.finish().await;
}

on_both_backends!(panel_before_setup_is_refused, panel_before_setup);
async fn panel_before_setup(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let reply = app
        .command(&app.admin(), app.lobby, "panel", json!([]))
        .await;
    assert!(text(&reply).contains("/setup"), "{reply}");
    assert!(app.emu.messages_in(app.lobby).is_empty());
    app.finish().await;
}

on_both_backends!(
    panel_without_permission_to_post_explains_what_to_grant,
    panel_forbidden
);
async fn panel_forbidden(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    app.emu.fail("POST", "/channels/*/messages", 403, 1);
    let reply = app
        .command(&app.admin(), app.lobby, "panel", json!([]))
        .await;
    assert!(text(&reply).contains("Send Messages"), "{reply}");
    app.finish().await;
}

on_both_backends!(blacklist_add_list_remove, blacklist_flow);
async fn blacklist_flow(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let target = app.member(9);
    let sub = |name: &str, extra: serde_json::Value| {
        let mut options =
            vec![json!({"name": "user", "type": 6, "value": target.user_id.to_string()})];
        if let serde_json::Value::Array(more) = extra {
            options.extend(more);
        }
        json!([{"name": name, "type": 1, "options": options}])
    };
    let reply = app
        .command(
            &app.admin(),
            app.lobby,
            "blacklist",
            sub(
                "add",
                json!([{"name": "reason", "type": 3, "value": "spam"}]),
            ),
        )
        .await;
    assert!(
        text(&reply).contains("can no longer open tickets"),
        "{reply}"
    );
    let reply = app
        .command(
            &app.admin(),
            app.lobby,
            "blacklist",
            json!([{"name": "list", "type": 1, "options": []}]),
        )
        .await;
    assert!(
        text(&reply).contains(&format!("<@{}> — spam", target.user_id)),
        "{reply}"
    );

    // A blacklisted member is refused, with a reason.
    let reply = app.command(&target, app.lobby, "open", json!([])).await;
    assert!(text(&reply).contains("can't open tickets"), "{reply}");
    assert!(app
        .store
        .tickets_in_guild(app.guild)
        .await
        .expect("read")
        .is_empty());

    let reply = app
        .command(
            &app.admin(),
            app.lobby,
            "blacklist",
            sub("remove", json!([])),
        )
        .await;
    assert!(text(&reply).contains("can open tickets again"), "{reply}");
    let reply = app.command(&target, app.lobby, "open", json!([])).await;
    assert!(text(&reply).contains("Your ticket is open"), "{reply}");

    // Members cannot manage the blacklist.
    let reply = app
        .command(
            &app.member(2),
            app.lobby,
            "blacklist",
            sub("add", json!([])),
        )
        .await;
    assert!(text(&reply).contains("Manage Server"), "{reply}");
    app.finish().await;
}

on_both_backends!(a_command_from_a_dm_gets_a_clear_answer, dm_command);
async fn dm_command(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let i = app
        .emu
        .send_dm_command(&MemberSpec::new(42, "someone"), "open", json!([]))
        .await;
    let reply = app.emu.wait_for_reply(&i, WAIT).await.expect("an answer");
    assert!(text(&reply).contains("inside servers"), "{reply}");
    app.finish().await;
}

on_both_backends!(
    an_unknown_button_and_a_malformed_dispatch_do_not_stop_the_bot,
    odd_input
);
async fn odd_input(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    // Dispatches serenity cannot parse are dropped by it; the bot must keep serving.
    app.emu
        .dispatch_raw(
            "INTERACTION_CREATE",
            json!({"id": "not-a-number", "type": 3}),
        )
        .await;
    app.emu
        .dispatch_raw("INTERACTION_CREATE", json!(null))
        .await;
    // A button from an unknown (or older) version of the bot.
    let stale = app.emu.add_bot_message(
        app.lobby,
        json!({"content": "old panel", "components": [{"type": 1, "components": [
            {"type": 2, "style": 1, "label": "Open", "custom_id": "legacy-open"},
            {"type": 2, "style": 1, "label": "Open", "custom_id": "tessera:open:not-a-number"}
        ]}]}),
    );
    for custom_id in ["legacy-open", "tessera:open:not-a-number"] {
        let reply = app.click(&app.member(1), app.lobby, stale, custom_id).await;
        assert!(
            text(&reply).contains("don't recognise this button"),
            "{reply}"
        );
    }
    // A command the bot does not know (Discord showing a stale list).
    let reply = app
        .command(&app.member(1), app.lobby, "nonsense", json!([]))
        .await;
    assert!(text(&reply).contains("don't know that command"), "{reply}");
    // A required option missing.
    let reply = app
        .command(&app.admin(), app.lobby, "setup", json!([]))
        .await;
    assert!(text(&reply).contains("`staff_role`"), "{reply}");
    // A ticket command outside a ticket.
    for name in ["close", "claim", "unclaim"] {
        let reply = app
            .command(&app.member(1), app.lobby, name, json!([]))
            .await;
        assert!(
            text(&reply).contains("only works inside an open ticket"),
            "{name}: {reply}"
        );
    }
    assert!(app
        .store
        .tickets_in_guild(app.guild)
        .await
        .expect("read")
        .is_empty());
    app.finish().await;
}

on_both_backends!(
    a_server_the_bot_was_removed_from_while_offline_is_forgotten_at_start,
    removed_while_offline
);
async fn removed_while_offline(backend: tessera::store::Backend) {
    let Some(mut app) = crate::app::spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    // A server with data here that the bot is no longer in (it was removed while offline).
    let ghost = 100_000_000_000_000_077;
    let update = tessera::store::SettingsUpdate {
        staff_role_id: 5,
        ..Default::default()
    };
    app.store.save_settings(ghost, &update).await.expect("save");
    app.store
        .blacklist_add(ghost, 9, None, 1)
        .await
        .expect("blacklist");
    app.stop_bot().await;
    app.start_bot().await;
    let deadline = tokio::time::Instant::now() + crate::app::WAIT;
    while app
        .store
        .guild_settings(ghost)
        .await
        .expect("read")
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ghost server's data stays"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for (table, rows) in app.store.guild_row_counts(ghost).await.expect("count") {
        assert_eq!(rows, 0, "{table}");
    }
    // The server the bot is in keeps everything, and Discord was asked before deleting.
    assert!(app
        .store
        .guild_settings(app.guild)
        .await
        .expect("read")
        .is_some());
    assert!(app
        .emu
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/users/@me/guilds"));
    app.finish().await;
}

#[tokio::test]
async fn every_command_stays_within_discords_limits() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let commands = app.emu.global_commands();
    assert!(commands.len() <= 100, "{} global commands", commands.len());
    fn check(path: &str, item: &serde_json::Value) {
        let name = item["name"].as_str().unwrap_or_default();
        assert!(
            (1..=32).contains(&name.chars().count())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'),
            "{path}{name}: a name Discord refuses"
        );
        let description = item["description"].as_str().unwrap_or_default();
        assert!(
            (1..=100).contains(&description.chars().count()),
            "{path}{name}: description of {} characters",
            description.chars().count()
        );
        if let Some(options) = item["options"].as_array() {
            assert!(
                options.len() <= 25,
                "{path}{name}: {} options",
                options.len()
            );
            for option in options {
                check(&format!("{path}{name} "), option);
                if let Some(choices) = option["choices"].as_array() {
                    assert!(
                        choices.len() <= 25,
                        "{path}{name}: {} choices",
                        choices.len()
                    );
                }
            }
        }
    }
    for command in &commands {
        check("/", command);
    }
    app.finish().await;
}

on_both_backends!(
    a_blacklisted_role_stops_its_members_from_opening,
    role_blacklist
);
async fn role_blacklist(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let raiders = app.emu.add_role(app.guild, "Raiders", 0);
    let raider = MemberSpec::new(700_000_000_000_000_031, "raider").with_roles([raiders]);
    let role_sub = |name: &str| {
        json!([{"name": name, "type": 1, "options": [
            {"name": "role", "type": 8, "value": raiders.to_string()},
        ]}])
    };
    let reply = app
        .command(&app.admin(), app.lobby, "blacklist", role_sub("add_role"))
        .await;
    assert!(
        text(&reply).contains("can no longer open tickets"),
        "{reply}"
    );
    let listed = app
        .command(
            &app.admin(),
            app.lobby,
            "blacklist",
            json!([{"name": "list", "type": 1, "options": []}]),
        )
        .await;
    assert!(
        text(&listed).contains(&format!("<@&{raiders}>")),
        "{listed}"
    );
    let refused = app.command(&raider, app.lobby, "open", json!([])).await;
    assert!(text(&refused).contains("blocked you"), "{refused}");
    // Someone without the role is unaffected.
    let fine = app
        .command(&app.member(2), app.lobby, "open", json!([]))
        .await;
    assert!(text(&fine).contains("Your ticket is open"), "{fine}");
    // Members (not managers) cannot change the blacklist.
    let denied = app
        .command(
            &app.member(3),
            app.lobby,
            "blacklist",
            role_sub("remove_role"),
        )
        .await;
    assert!(text(&denied).contains("Manage Server"), "{denied}");
    let lifted = app
        .command(
            &app.admin(),
            app.lobby,
            "blacklist",
            role_sub("remove_role"),
        )
        .await;
    assert!(text(&lifted).contains("can open tickets again"), "{lifted}");
    let opened = app.command(&raider, app.lobby, "open", json!([])).await;
    assert!(text(&opened).contains("Your ticket is open"), "{opened}");
    app.finish().await;
}
