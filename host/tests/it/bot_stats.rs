//! Through the emulator: the statistics (PRIVACY.md #13) count what happens in each server, and
//! `/stats` shows a server's staff that server's numbers only.

use serde_json::{json, Value};
use tessera::store::{Backend, TicketStatus};
use tessera_discord_emulator::{GuildSpec, MemberSpec};

use crate::app::{channel_mentioned, id, spawn_app, text, TestApp};
use crate::on_both_backends;

const STAFF_ONLY: &str = "Only staff can see the server's ticket statistics.";

/// A second server with its own staff role, set up by the same admin.
struct Second {
    guild: u64,
    lobby: u64,
    staff: MemberSpec,
}

impl Second {
    async fn set_up(app: &TestApp) -> Second {
        let guild = app
            .emu
            .add_guild(GuildSpec::new("Second", 100_000_000_000_000_002));
        let role = app.emu.add_role(guild, "Staff", 0);
        let lobby = app.emu.add_channel(guild, "support", 0, None);
        let second = Second {
            guild,
            lobby,
            staff: MemberSpec::new(800_000_000_000_000_001, "staff-b").with_roles([role]),
        };
        let options = json!([{"name": "staff_role", "type": 8, "value": role.to_string()}]);
        let set = second
            .command(app, &app.admin(), lobby, "setup", options)
            .await;
        assert!(text(&set).contains("set up"), "{set}");
        second
    }

    async fn command(
        &self,
        app: &TestApp,
        who: &MemberSpec,
        channel: u64,
        name: &str,
        options: Value,
    ) -> Value {
        let i = app
            .emu
            .send_command(self.guild, channel, who, name, options)
            .await;
        app.reply(&i).await
    }
}

on_both_backends!(each_server_sees_only_its_own_statistics, own_statistics);
async fn own_statistics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let staff = app.staff(1);
    app.set_up(5).await;
    // One ticket from the panel, claimed by staff, closed by staff.
    let first = app.open_via_panel(&app.member(1)).await;
    let welcome = id(&app.welcome(first)["id"]);
    let claimed = app.click(&staff, first, welcome, "tessera:claim").await;
    assert!(text(&claimed).contains("You claimed"), "{claimed}");
    let closed = app.command(&staff, first, "close", json!([])).await;
    assert!(text(&closed).contains("is closed"), "{closed}");
    app.wait_deleted(first).await;
    // One from `/open`, closed by its opener with the button, never claimed.
    let opener = app.member(2);
    let reply = app.command(&opener, app.lobby, "open", json!([])).await;
    let second_ticket = channel_mentioned(&reply).expect("a ticket");
    let welcome = id(&app.welcome(second_ticket)["id"]);
    let (ask, confirm) = app.ask_close(&opener, second_ticket, welcome).await;
    let done = app
        .click(&opener, second_ticket, id(&ask["id"]), &confirm)
        .await;
    assert!(text(&done).contains("is closed"), "{done}");
    app.wait_deleted(second_ticket).await;

    // Another server, busier, at the same time.
    let other = Second::set_up(&app).await;
    let mut theirs = Vec::new();
    for n in 1..=3 {
        let reply = other
            .command(&app, &app.member(n), other.lobby, "open", json!([]))
            .await;
        theirs.push(channel_mentioned(&reply).expect("a ticket"));
    }
    let closed = other
        .command(&app, &other.staff, theirs[0], "close", json!([]))
        .await;
    assert!(text(&closed).contains("is closed"), "{closed}");

    let ours = app.command(&staff, app.lobby, "stats", json!([])).await;
    let t = text(&ours);
    assert!(t.contains("for the last 7 days"), "{t}");
    assert!(t.contains("Opened: **2** · Closed: **2**"), "{t}");
    assert!(
        t.contains("Time to close: average")
            && t.contains("median under 15 min")
            && t.contains("(2 closed)"),
        "{t}"
    );
    // The claim counts for the first ticket; the second had no staff action.
    assert!(
        t.contains("first staff action (a claim, or a close by staff): average")
            && t.contains("(1 of 2 closed tickets)"),
        "{t}"
    );
    // The panel button counts as `/open`, the Close button as `/close` (its confirmation does
    // not count again), and this `/stats` is counted before it answers.
    assert!(
        t.contains(
            "Most used commands: `/close` 2 · `/open` 2 · `/claim` 1 · `/panel` 1 · `/setup` 1 · `/stats` 1"
        ),
        "{t}"
    );

    let days = json!([{"name": "days", "type": 4, "value": 30}]);
    let theirs = other
        .command(&app, &other.staff, other.lobby, "stats", days)
        .await;
    let t = text(&theirs);
    assert!(t.contains("for the last 30 days"), "{t}");
    assert!(t.contains("Opened: **3** · Closed: **1**"), "{t}");
    assert!(t.contains("(1 of 1 closed tickets)"), "{t}");
    assert!(
        t.contains("Most used commands: `/open` 3 · `/close` 1 · `/setup` 1 · `/stats` 1"),
        "{t}"
    );
    app.finish().await;
}

on_both_backends!(only_staff_and_managers_see_the_statistics, staff_only);
async fn staff_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let member = app.member(1);
    // Before `/setup` there is no staff role: managers only.
    let refused = app.command(&member, app.lobby, "stats", json!([])).await;
    assert_eq!(text(&refused), STAFF_ONLY);
    let shown = app
        .command(&app.admin(), app.lobby, "stats", json!([]))
        .await;
    assert!(
        text(&shown).contains("Opened: **0** · Closed: **0**"),
        "{shown}"
    );

    app.set_up(1).await;
    let refused = app.command(&member, app.lobby, "stats", json!([])).await;
    assert_eq!(text(&refused), STAFF_ONLY);
    let shown = app
        .command(
            &app.staff(1),
            app.lobby,
            "stats",
            json!([{"name": "days", "type": 4, "value": 1}]),
        )
        .await;
    assert!(text(&shown).contains("statistics for today"), "{shown}");
    // The refused asks were uses of `/stats` too: counted, with no one's id.
    assert!(text(&shown).contains("`/stats` 4"), "{shown}");

    // This server's staff role means nothing in another server.
    let other = Second::set_up(&app).await;
    let refused = other
        .command(&app, &app.staff(1), other.lobby, "stats", json!([]))
        .await;
    assert_eq!(text(&refused), STAFF_ONLY);
    app.finish().await;
}

on_both_backends!(
    a_broken_statistics_table_never_stops_a_ticket,
    broken_statistics
);
async fn broken_statistics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for table in ["stats_daily", "stats_durations", "stats_commands"] {
        app.db.execute(&format!("DROP TABLE {table}")).await;
    }
    app.set_up(1).await;
    let staff = app.staff(1);
    let reply = app
        .command(&app.member(1), app.lobby, "open", json!([]))
        .await;
    let channel = channel_mentioned(&reply).unwrap_or_else(|| panic!("no ticket: {reply}"));
    let claimed = app.command(&staff, channel, "claim", json!([])).await;
    assert!(text(&claimed).contains("You claimed"), "{claimed}");
    let closed = app.command(&staff, channel, "close", json!([])).await;
    assert!(text(&closed).contains("is closed"), "{closed}");
    app.wait_deleted(channel).await;
    let ticket = app
        .store
        .ticket_by_channel(channel)
        .await
        .expect("read")
        .expect("the ticket");
    assert_eq!(ticket.status, TicketStatus::Closed);
    // Reading them fails too: staff get a reference, never the database's words.
    let stats = app.command(&staff, app.lobby, "stats", json!([])).await;
    let t = text(&stats);
    assert!(t.contains("Something went wrong on Tessera's side"), "{t}");
    assert!(
        !t.contains("stats_") && !t.to_lowercase().contains("table"),
        "{t}"
    );
    app.finish().await;
}
