//! Through the emulator: opening, closing, claiming, members, restarts and leaving a server.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tessera::store::{Backend, TicketStatus};

use crate::app::{channel_mentioned, id, perms, spawn_app, text, TestApp, WAIT};
use crate::on_both_backends;

/// The channel's overwrites as (id, type, allow, deny), order-independent.
fn overwrites(channel: &Value) -> BTreeSet<(u64, u64, u64, u64)> {
    channel["permission_overwrites"]
        .as_array()
        .expect("overwrites")
        .iter()
        .map(|o| {
            let num = |v: &Value| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| v.as_u64())
                    .expect("a number")
            };
            (
                id(&o["id"]),
                o["type"].as_u64().expect("type"),
                num(&o["allow"]),
                num(&o["deny"]),
            )
        })
        .collect()
}

async fn ticket_in(app: &TestApp, channel: u64) -> tessera::store::Ticket {
    app.store
        .ticket_by_channel(channel)
        .await
        .expect("read")
        .expect("a ticket row for the channel")
}

on_both_backends!(
    the_panel_button_opens_a_private_ticket_channel,
    panel_opens_ticket
);
async fn panel_opens_ticket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let (panel, custom_id) = app.post_panel().await;
    let i = app
        .emu
        .click_button(app.guild, app.lobby, panel, &opener, &custom_id)
        .await;
    let reply = app.reply(&i).await;
    let channel_id = channel_mentioned(&reply).expect("the reply links the channel");
    assert!(text(&reply).contains("Your ticket is open"), "{reply}");
    // Acknowledged first (an ephemeral deferral), before any slow work, to meet Discord's 3 s.
    let callback = app.emu.interaction_callback(&i).expect("a callback");
    assert_eq!(
        (
            callback["type"].as_u64(),
            callback["data"]["flags"].as_u64()
        ),
        (Some(5), Some(64))
    );
    let requests = app.emu.requests();
    let acked = requests
        .iter()
        .position(|r| r.path.starts_with(&format!("/interactions/{}/", i.id)));
    let created = requests
        .iter()
        .position(|r| r.method == "POST" && r.path.ends_with("/channels"));
    assert!(
        acked.expect("acknowledged") < created.expect("a channel"),
        "deferred before creating the channel"
    );

    let channel = app.emu.channel(channel_id).expect("the channel exists");
    assert_eq!(channel["name"], "ticket-0001");
    assert_eq!(channel["type"], 0);
    assert_eq!(id(&channel["parent_id"]), app.category);
    let expected: BTreeSet<_> = [
        (app.guild, 0, 0, perms::VIEW_CHANNEL),
        (opener.user_id, 1, perms::OPENER, 0),
        (app.staff_role, 0, perms::STAFF, 0),
        (app.emu.bot_user_id(), 1, perms::BOT, 0),
    ]
    .into_iter()
    .collect();
    assert_eq!(overwrites(&channel), expected);

    let welcome = app.welcome(channel_id);
    assert!(
        text(&welcome).contains(&format!("<@{}>", opener.user_id)),
        "{welcome}"
    );
    let buttons: Vec<&str> = welcome["components"][0]["components"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(buttons, ["tessera:close", "tessera:claim"]);

    let ticket = ticket_in(&app, channel_id).await;
    assert_eq!(
        (ticket.number, ticket.opener_id, ticket.status),
        (1, opener.user_id, TicketStatus::Open)
    );
    assert!(ticket.panel_id.is_some());
    let log = app.emu.messages_in(app.log_channel);
    assert!(
        text(&log[0]).contains("#0001") && text(&log[0]).contains("opened"),
        "{log:?}"
    );
    app.finish().await;
}

on_both_backends!(open_with_a_subject_and_sequential_numbers, open_command);
async fn open_command(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let reply = app
        .command(
            &app.member(1),
            app.lobby,
            "open",
            json!([{"name": "subject", "type": 3, "value": "Refund"}]),
        )
        .await;
    let first = channel_mentioned(&reply).expect("a channel");
    assert!(text(&app.welcome(first)).contains("**Subject:** Refund"));
    let reply = app
        .command(&app.member(2), app.lobby, "open", json!([]))
        .await;
    let second = channel_mentioned(&reply).expect("a channel");
    assert_eq!(
        app.emu.channel(second).expect("exists")["name"],
        "ticket-0002"
    );
    assert_eq!(
        ticket_in(&app, first).await.subject.as_deref(),
        Some("Refund")
    );
    app.finish().await;
}

on_both_backends!(opening_before_setup_says_so, open_before_setup);
async fn open_before_setup(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let reply = app
        .command(&app.member(1), app.lobby, "open", json!([]))
        .await;
    assert!(text(&reply).contains("/setup"), "{reply}");
    assert!(app
        .emu
        .requests()
        .iter()
        .all(|r| !(r.method == "POST" && r.path.ends_with("/channels"))));
    app.finish().await;
}

on_both_backends!(the_limit_names_the_open_ticket, limit_reached);
async fn limit_reached(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let first = app.open_via_panel(&opener).await;
    let reply = app.command(&opener, app.lobby, "open", json!([])).await;
    assert!(text(&reply).contains("limit is 1"), "{reply}");
    assert_eq!(
        channel_mentioned(&reply),
        Some(first),
        "the refusal names the open ticket"
    );
    assert_eq!(
        app.store
            .tickets_in_guild(app.guild)
            .await
            .expect("read")
            .len(),
        1
    );
    app.finish().await;
}

on_both_backends!(
    the_close_button_asks_then_closes_logs_and_deletes,
    close_button
);
async fn close_button(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    let welcome = id(&app.welcome(channel)["id"]);
    let ask = app.click(&opener, channel, welcome, "tessera:close").await;
    assert!(text(&ask).contains("Close ticket #0001?"), "{ask}");
    let confirm = ask["components"][0]["components"][0]["custom_id"]
        .as_str()
        .expect("confirm")
        .to_owned();
    let cancel = ask["components"][0]["components"][1]["custom_id"]
        .as_str()
        .expect("cancel")
        .to_owned();
    // Nothing happens until confirmed.
    assert_eq!(ticket_in(&app, channel).await.status, TicketStatus::Open);
    let reply = app.click(&opener, channel, id(&ask["id"]), &cancel).await;
    assert!(text(&reply).contains("stays open"), "{reply}");
    assert!(app.emu.channel(channel).is_some());

    let reply = app.click(&opener, channel, id(&ask["id"]), &confirm).await;
    assert!(text(&reply).contains("closed"), "{reply}");
    app.wait_deleted(channel).await;
    assert!(app.emu.channel(channel).is_none());
    let ticket = ticket_in(&app, channel).await;
    assert_eq!(ticket.status, TicketStatus::Closed);
    assert_eq!(ticket.closed_by, Some(opener.user_id));
    // The closure was logged before the channel went.
    let requests = app.emu.requests();
    let logged = requests.iter().position(|r| {
        r.method == "POST"
            && r.path == format!("/channels/{}/messages", app.log_channel)
            && text(r.body.as_ref().expect("body")).contains("closed")
    });
    let deleted = requests
        .iter()
        .position(|r| r.method == "DELETE" && r.path == format!("/channels/{channel}"));
    assert!(logged.expect("a close notice") < deleted.expect("a delete"));
    app.finish().await;
}

on_both_backends!(close_with_a_reason_by_staff_is_recorded, close_command);
/// A close reason with a masked link and a mention, as a hostile opener or staff member might type.
const REASON: &str = "Solved by refund [here](https://evil.example) @everyone";
async fn close_command(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let channel = app.open_via_panel(&app.member(1)).await;
    // Someone else (not staff, not the opener) is refused.
    let reply = app
        .command(&app.member(2), channel, "close", json!([]))
        .await;
    assert!(
        text(&reply).contains("Only the person who opened"),
        "{reply}"
    );
    let staff = app.staff(1);
    let reply = app
        .command(
            &staff,
            channel,
            "close",
            json!([{"name": "reason", "type": 3, "value": REASON}]),
        )
        .await;
    assert!(text(&reply).contains("closed"), "{reply}");
    let ticket = ticket_in(&app, channel).await;
    assert_eq!(
        (ticket.closed_by, ticket.close_reason.as_deref()),
        (Some(staff.user_id), Some(REASON)),
        "the reason is stored as written"
    );
    // In the staff log it is inert: no masked link, no mention, as the bot.
    let log = app.emu.messages_in(app.log_channel);
    let closed = log
        .iter()
        .map(text)
        .find(|t| t.contains("Solved by refund"))
        .unwrap_or_else(|| panic!("no close notice: {log:?}"));
    assert!(
        closed.contains("\\[here\\](https://evil.example)"),
        "{closed}"
    );
    assert!(closed.contains("\\@everyone"), "{closed}");
    app.wait_deleted(channel).await;
    app.finish().await;
}

on_both_backends!(claiming_is_for_staff_and_is_announced, claim_flow);
async fn claim_flow(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    let welcome = id(&app.welcome(channel)["id"]);
    let reply = app.click(&opener, channel, welcome, "tessera:claim").await;
    assert!(text(&reply).contains("Only staff"), "{reply}");
    let staff = app.staff(1);
    let reply = app.click(&staff, channel, welcome, "tessera:claim").await;
    assert!(text(&reply).contains("You claimed"), "{reply}");
    assert_eq!(
        ticket_in(&app, channel).await.claimed_by,
        Some(staff.user_id)
    );
    assert!(app
        .emu
        .messages_in(channel)
        .iter()
        .any(|m| text(m).contains(&format!("<@{}> has claimed", staff.user_id))));
    // A second staff member cannot take it over, nor unclaim it.
    let other = app.staff(2);
    let reply = app.command(&other, channel, "claim", json!([])).await;
    assert!(
        text(&reply).contains(&format!("already claimed by <@{}>", staff.user_id)),
        "{reply}"
    );
    let reply = app.command(&other, channel, "unclaim", json!([])).await;
    assert!(text(&reply).contains("only they or an admin"), "{reply}");
    let reply = app.command(&staff, channel, "unclaim", json!([])).await;
    assert!(text(&reply).contains("no longer claimed"), "{reply}");
    assert_eq!(ticket_in(&app, channel).await.claimed_by, None);
    let reply = app.command(&other, channel, "claim", json!([])).await;
    assert!(text(&reply).contains("You claimed"), "{reply}");
    app.finish().await;
}

on_both_backends!(add_and_remove_edit_the_channel_overwrites, add_remove);
async fn add_remove(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    let guest = app.member(5);
    let user_opt = json!([{"name": "user", "type": 6, "value": guest.user_id.to_string()}]);
    let reply = app.command(&opener, channel, "add", user_opt.clone()).await;
    assert!(text(&reply).contains("Only staff"), "{reply}");
    let staff = app.staff(1);
    let reply = app.command(&staff, channel, "add", user_opt.clone()).await;
    assert!(text(&reply).contains("can now see"), "{reply}");
    let put = app
        .emu
        .requests()
        .into_iter()
        .find(|r| {
            r.method == "PUT"
                && r.path == format!("/channels/{channel}/permissions/{}", guest.user_id)
        })
        .expect("an overwrite PUT");
    let body = put.body.expect("a body");
    assert_eq!(body["type"], 1);
    assert_eq!(
        body["allow"].as_str().and_then(|s| s.parse::<u64>().ok()),
        Some(perms::OPENER)
    );
    assert!(
        overwrites(&app.emu.channel(channel).expect("exists")).contains(&(
            guest.user_id,
            1,
            perms::OPENER,
            0
        ))
    );
    let ticket = ticket_in(&app, channel).await;
    assert_eq!(
        app.store.ticket_members(ticket.id).await.expect("read"),
        vec![guest.user_id]
    );

    let reply = app.command(&staff, channel, "remove", user_opt).await;
    assert!(text(&reply).contains("can no longer see"), "{reply}");
    assert!(!overwrites(&app.emu.channel(channel).expect("exists"))
        .iter()
        .any(|o| o.0 == guest.user_id));
    assert!(app
        .store
        .ticket_members(ticket.id)
        .await
        .expect("read")
        .is_empty());
    // Nor can Tessera itself be added (which would overwrite its own rights) or removed.
    let bot_opt = json!([{"name": "user", "type": 6, "value": app.emu.bot_user_id().to_string()}]);
    let reply = app.command(&staff, channel, "add", bot_opt.clone()).await;
    assert!(text(&reply).contains("already in every ticket"), "{reply}");
    let reply = app.command(&staff, channel, "remove", bot_opt).await;
    assert!(text(&reply).contains("can't be removed"), "{reply}");
    assert!(
        overwrites(&app.emu.channel(channel).expect("exists")).contains(&(
            app.emu.bot_user_id(),
            1,
            perms::BOT,
            0
        ))
    );
    // The opener cannot be removed.
    let reply = app
        .command(
            &staff,
            channel,
            "remove",
            json!([{"name": "user", "type": 6, "value": opener.user_id.to_string()}]),
        )
        .await;
    assert!(text(&reply).contains("Close the ticket instead"), "{reply}");
    app.finish().await;
}

on_both_backends!(
    a_ticket_opened_before_a_restart_closes_after_it,
    restart_between
);
async fn restart_between(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    let welcome = id(&app.welcome(channel)["id"]);
    app.stop_bot().await;
    app.start_bot().await;
    let (ask, confirm) = app.ask_close(&opener, channel, welcome).await;
    let reply = app.click(&opener, channel, id(&ask["id"]), &confirm).await;
    assert!(text(&reply).contains("closed"), "{reply}");
    assert_eq!(ticket_in(&app, channel).await.status, TicketStatus::Closed);
    // And numbering carries on.
    let next = app.open_via_panel(&opener).await;
    assert_eq!(
        app.emu.channel(next).expect("exists")["name"],
        "ticket-0002"
    );
    app.finish().await;
}

on_both_backends!(
    a_button_whose_ticket_is_gone_gets_a_clear_answer,
    stale_ticket_button
);
async fn stale_ticket_button(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    let welcome = id(&app.welcome(channel)["id"]);
    let (ask, confirm) = app.ask_close(&opener, channel, welcome).await;
    app.command(&opener, channel, "close", json!([])).await;
    // The confirm button of the earlier prompt, after the ticket was closed another way.
    let reply = app.click(&opener, channel, id(&ask["id"]), &confirm).await;
    assert!(
        text(&reply).contains("no longer exists or is already closed"),
        "{reply}"
    );
    app.finish().await;
}

on_both_backends!(leaving_a_server_deletes_its_data, leaving_a_server);
async fn leaving_a_server(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    app.open_via_panel(&app.member(1)).await;
    app.emu.remove_guild(app.guild);
    let deadline = tokio::time::Instant::now() + WAIT;
    while app
        .store
        .guild_settings(app.guild)
        .await
        .expect("read")
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "settings were not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
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
    a_ticket_whose_channel_is_deleted_by_hand_is_closed_and_its_member_can_open_again,
    deleted_by_hand
);
async fn deleted_by_hand(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let member = app.member(1);
    let first = app.open_via_panel(&member).await;
    // Someone with Manage Channels deletes the ticket's channel in Discord's client.
    assert!(app.emu.delete_channel_by_hand(first));
    let deadline = tokio::time::Instant::now() + WAIT;
    let closed = loop {
        let t = app
            .store
            .ticket_by_channel(first)
            .await
            .expect("read")
            .expect("the ticket");
        if t.status == tessera::store::TicketStatus::Closed {
            break t;
        }
        assert!(tokio::time::Instant::now() < deadline, "still open");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        closed.close_reason.as_deref(),
        Some(tessera::tickets::vanished::CHANNEL_GONE)
    );
    assert!(app
        .emu
        .messages_in(app.log_channel)
        .iter()
        .any(|m| m["content"]
            .as_str()
            .is_some_and(|c| c.contains("was deleted"))));
    // With a limit of one, the member is not locked out.
    let second = app.open_via_panel(&member).await;
    assert_ne!(second, first);

    // A channel deleted while the bot was offline: its ticket is closed when the bot is back.
    app.stop_bot().await;
    assert!(app.emu.delete_channel_by_hand(second));
    app.start_bot().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let t = app
            .store
            .ticket_by_channel(second)
            .await
            .expect("read")
            .expect("the ticket");
        if t.status == tessera::store::TicketStatus::Closed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still open after a restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.finish().await;
}

on_both_backends!(
    an_open_cooldown_and_a_server_wide_cap_refuse_with_why_and_when,
    abuse_controls
);
async fn abuse_controls(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(5).await;
    let options = json!([
        {"name": "staff_role", "type": 8, "value": app.staff_role.to_string()},
        {"name": "open_cooldown", "type": 4, "value": 3600},
        {"name": "max_open_total", "type": 4, "value": 2},
    ]);
    let set = app.command(&app.admin(), app.lobby, "setup", options).await;
    assert!(
        text(&set).contains("3600 s") && text(&set).contains("at most 2"),
        "{set}"
    );
    let app_ref = &app;
    let open = |n: u64| {
        let who = app_ref.member(n);
        async move {
            app_ref
                .command(&who, app_ref.lobby, "open", json!([]))
                .await
        }
    };
    assert!(text(&open(1).await).contains("Your ticket is open"));
    let again = open(1).await;
    assert!(
        text(&again).contains("a moment ago") && text(&again).contains(":R>"),
        "{again}"
    );
    assert!(text(&open(2).await).contains("Your ticket is open"));
    let full = open(3).await;
    assert!(text(&full).contains("already has 2 open tickets"), "{full}");
    assert_eq!(
        app.store
            .tickets_in_guild(app.guild)
            .await
            .expect("read")
            .len(),
        2,
        "refused opens leave nothing behind"
    );
    app.finish().await;
}
