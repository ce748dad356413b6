//! Through the emulator: Discord refusing, a broken database, and shutting down mid-interaction.
//! Each failure must end with advice for the person and no half-made state.

use std::time::Duration;

use serde_json::json;
use tessera::store::{Backend, TicketStatus};

use crate::app::{spawn_app, text, TestApp, WAIT};
use crate::on_both_backends;

fn channel_posts(app: &TestApp) -> usize {
    app.emu
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST"
                && r.path == format!("/guilds/{}/channels", app.guild)
                && r.status < 300
        })
        .count()
}

/// Opening while Discord answers `status` to channel creation leaves no ticket and no channel.
async fn open_refused(backend: Backend, status: u16, advice: &str) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    app.emu.fail("POST", "/guilds/*/channels", status, 1);
    let reply = app
        .command(&app.member(1), app.lobby, "open", json!([]))
        .await;
    assert!(text(&reply).contains(advice), "{status}: {reply}");
    assert!(
        app.store
            .tickets_in_guild(app.guild)
            .await
            .expect("read")
            .is_empty(),
        "no ticket row without a channel"
    );
    assert_eq!(channel_posts(&app), 0);
    // The member can simply try again; the failed attempt's number is not reused.
    let reply = app
        .command(&app.member(1), app.lobby, "open", json!([]))
        .await;
    assert!(text(&reply).contains("Your ticket is open"), "{reply}");
    let tickets = app.store.tickets_in_guild(app.guild).await.expect("read");
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].number, 2);
    app.finish().await;
}

on_both_backends!(
    missing_permissions_to_create_the_channel_names_what_to_grant,
    forbidden_channel
);
async fn forbidden_channel(backend: Backend) {
    open_refused(backend, 403, "Manage Channels").await;
}

on_both_backends!(a_deleted_category_asks_for_setup_again, missing_category);
async fn missing_category(backend: Backend) {
    open_refused(backend, 404, "run `/setup` again").await;
}

on_both_backends!(a_discord_outage_says_try_again, discord_outage);
async fn discord_outage(backend: Backend) {
    open_refused(backend, 500, "try again").await;
}

on_both_backends!(a_rate_limit_says_try_again_shortly, rate_limited);
async fn rate_limited(backend: Backend) {
    open_refused(backend, 429, "rate-limiting").await;
}

on_both_backends!(
    a_welcome_message_refused_undoes_the_channel_and_the_row,
    welcome_refused
);
async fn welcome_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    app.emu.fail("POST", "/channels/*/messages", 403, 1);
    let reply = app
        .command(&app.member(1), app.lobby, "open", json!([]))
        .await;
    assert!(text(&reply).contains("Send Messages"), "{reply}");
    assert_eq!(
        channel_posts(&app),
        1,
        "the channel was created before the welcome failed"
    );
    let ticket_channels: Vec<_> = app
        .emu
        .channels_in_guild(app.guild)
        .into_iter()
        .filter(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("ticket-0"))
        })
        .collect();
    assert!(
        ticket_channels.is_empty(),
        "no channel without a row: {ticket_channels:?}"
    );
    assert!(app
        .store
        .tickets_in_guild(app.guild)
        .await
        .expect("read")
        .is_empty());
    app.finish().await;
}

on_both_backends!(
    a_channel_that_cannot_be_deleted_is_still_closed_and_the_closer_is_told,
    delete_refused
);
async fn delete_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    app.emu.fail("DELETE", "/channels/*", 403, 1);
    let i = app
        .emu
        .send_command(
            app.guild,
            channel,
            &opener,
            "close",
            json!([{"name": "reason", "type": 3, "value": "done"}]),
        )
        .await;
    // The follow-up after the failed delete carries the advice.
    let followup = app
        .emu
        .wait_for_request(WAIT, |r| {
            r.method == "POST" && r.path.starts_with("/webhooks/") && r.path.contains(&i.token)
        })
        .await
        .expect("a follow-up");
    let body = followup.body.expect("a body");
    assert!(text(&body).contains("Manage Channels"), "{body}");
    assert_eq!(body["flags"].as_u64().map(|f| f & 64), Some(64));
    let ticket = app
        .store
        .ticket_by_channel(channel)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        ticket.status,
        TicketStatus::Closed,
        "the closure is stored before the delete"
    );
    assert_eq!(ticket.close_reason.as_deref(), Some("done"));
    assert!(app.emu.channel(channel).is_some());
    // The server's admins are told in the log channel, naming the channel.
    assert!(app.emu.messages_in(app.log_channel).iter().any(|m| {
        m["content"]
            .as_str()
            .is_some_and(|c| c.contains("could not be deleted") && c.contains(&channel.to_string()))
    }));
    app.finish().await;
}

on_both_backends!(
    a_channel_delete_that_fails_for_a_moment_is_retried,
    delete_retried
);
async fn delete_retried(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let opener = app.member(1);
    let channel = app.open_via_panel(&opener).await;
    // Discord is unavailable for the first two attempts.
    app.emu.fail("DELETE", "/channels/*", 503, 2);
    app.command(
        &opener,
        channel,
        "close",
        json!([{"name": "reason", "type": 3, "value": "done"}]),
    )
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.emu.channel(channel).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the channel stays");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let attempts = app
        .emu
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path == format!("/channels/{channel}"))
        .count();
    assert_eq!(attempts, 3);
    assert!(!app.emu.messages_in(app.log_channel).iter().any(|m| {
        m["content"]
            .as_str()
            .is_some_and(|c| c.contains("could not be deleted"))
    }));
    app.finish().await;
}

on_both_backends!(
    adding_without_manage_roles_explains_and_records_nothing,
    add_refused
);
async fn add_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    let channel = app.open_via_panel(&app.member(1)).await;
    app.emu.fail("PUT", "/channels/*/permissions/*", 403, 1);
    let guest = app.member(5);
    let reply = app
        .command(
            &app.staff(1),
            channel,
            "add",
            json!([{"name": "user", "type": 6, "value": guest.user_id.to_string()}]),
        )
        .await;
    assert!(text(&reply).contains("Manage Roles"), "{reply}");
    let ticket = app
        .store
        .ticket_by_channel(channel)
        .await
        .expect("read")
        .expect("row");
    assert!(app
        .store
        .ticket_members(ticket.id)
        .await
        .expect("read")
        .is_empty());
    app.finish().await;
}

on_both_backends!(
    a_database_error_gets_a_reference_not_a_raw_error,
    database_error
);
async fn database_error(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    app.db
        .execute("ALTER TABLE blacklist RENAME TO broken_blacklist")
        .await;
    let i = app
        .emu
        .send_command(
            app.guild,
            app.lobby,
            &app.admin(),
            "blacklist",
            json!([{"name": "list", "type": 1, "options": []}]),
        )
        .await;
    let reply = app.reply(&i).await;
    let t = text(&reply);
    assert!(
        t.contains("Something went wrong") && t.contains(&i.id.to_string()),
        "{t}"
    );
    assert!(
        !t.to_lowercase().contains("sql") && !t.contains("error:"),
        "no raw error: {t}"
    );
    // Other commands still work.
    let reply = app
        .command(&app.member(1), app.lobby, "open", json!([]))
        .await;
    assert!(
        text(&reply).contains("Something went wrong")
            || text(&reply).contains("Your ticket is open"),
        "{reply}"
    );
    app.finish().await;
}

on_both_backends!(
    shutdown_lets_an_interaction_in_flight_finish,
    graceful_shutdown
);
async fn graceful_shutdown(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.set_up(1).await;
    app.emu
        .delay("POST", "/guilds/*/channels", Duration::from_millis(1500), 1);
    let i = app
        .emu
        .send_command(app.guild, app.lobby, &app.member(1), "open", json!([]))
        .await;
    // Wait until the bot has acknowledged it: the interaction is now in flight.
    app.emu
        .wait_for_request(WAIT, |r| {
            r.path.contains(&format!("/interactions/{}/", i.id))
        })
        .await
        .expect("acknowledged");
    app.stop_bot().await;
    // The bot stopped only after the ticket was made and the member answered.
    let reply = app
        .emu
        .wait_for_reply(&i, Duration::from_millis(10))
        .await
        .expect("answered before stopping");
    assert!(text(&reply).contains("Your ticket is open"), "{reply}");
    let tickets = app.store.tickets_in_guild(app.guild).await.expect("read");
    assert_eq!(tickets.len(), 1);
    assert!(tickets[0].channel_id.is_some());
    app.finish().await;
}
