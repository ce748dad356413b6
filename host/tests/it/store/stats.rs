//! The statistics' tables (PRIVACY.md #13): counters only, per server and day, on both backends.

use std::collections::BTreeSet;

use tessera::stats::{ClosedSample, Day, DAY_MS, RETENTION_DAYS};
use tessera::store::Backend;

use super::{fresh, set_up, GUILD, OTHER_GUILD};
use crate::on_both_backends;

const MIN: i64 = 60 * 1000;
const HOUR: i64 = 60 * MIN;

/// Every column the statistics' tables may have. Anything else (a user, channel, message or
/// ticket id, a name, a text from a member) must not be added without changing this promise.
const ALLOWED: &[(&str, &str)] = &[
    ("stats_commands", "command"),
    ("stats_commands", "day"),
    ("stats_commands", "guild_id"),
    ("stats_commands", "n"),
    ("stats_daily", "close_ms_max"),
    ("stats_daily", "close_ms_sum"),
    ("stats_daily", "closed"),
    ("stats_daily", "day"),
    ("stats_daily", "first_action_count"),
    ("stats_daily", "first_action_ms_max"),
    ("stats_daily", "first_action_ms_sum"),
    ("stats_daily", "guild_id"),
    ("stats_daily", "opened"),
    ("stats_durations", "bucket"),
    ("stats_durations", "day"),
    ("stats_durations", "guild_id"),
    ("stats_durations", "metric"),
    ("stats_durations", "n"),
];

/// Column names that say "this holds someone", whatever table they are in.
fn names_a_person(column: &str) -> bool {
    let c = column.to_ascii_lowercase();
    c.ends_with("user_id")
        || c.ends_with("_by")
        || [
            "user", "opener", "author", "member", "actor", "claim", "closer", "staff",
        ]
        .iter()
        .any(|word| c.contains(word))
        || (c.ends_with("_id") && c != "guild_id")
}

on_both_backends!(
    the_statistics_tables_hold_counters_and_no_user_ids,
    only_counters_
);
async fn only_counters_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    let columns = store.columns_of_tables("stats_").await.expect("schema");
    let tables: BTreeSet<&str> = columns.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        tables,
        BTreeSet::from(["stats_commands", "stats_daily", "stats_durations"]),
        "a statistics table was added or renamed: list its columns here after checking them"
    );
    for (table, column) in &columns {
        assert!(
            !names_a_person(column),
            "{table}.{column} could hold a user id (PRIVACY.md #13: only counters)"
        );
        assert!(
            ALLOWED.contains(&(table.as_str(), column.as_str())),
            "{table}.{column} is not one of the statistics' allowed columns"
        );
    }
    let found: Vec<(&str, &str)> = columns
        .iter()
        .map(|(t, c)| (t.as_str(), c.as_str()))
        .collect();
    assert_eq!(found, ALLOWED, "the schema lists the allowed columns");
    // Every statistics table goes with its server.
    for table in tables {
        assert!(tessera::store::GUILD_TABLES.contains(&table), "{table}");
    }
}

#[test]
fn the_person_check_catches_the_usual_names() {
    for bad in [
        "user_id",
        "opener_id",
        "closed_by",
        "claimed_by",
        "author",
        "member_count",
        "channel_id",
        "ticket_id",
        "message_id",
    ] {
        assert!(names_a_person(bad), "{bad}");
    }
    for fine in ["guild_id", "day", "opened", "n", "close_ms_sum", "metric"] {
        assert!(!names_a_person(fine), "{fine}");
    }
}

on_both_backends!(counters_add_up_per_server_and_day, counters_add_up_);
async fn counters_add_up_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    // Tickets are opened and closed only in servers that are set up.
    set_up(&store, GUILD, 1).await;
    set_up(&store, OTHER_GUILD, 1).await;
    let today = Day::of(20_000 * DAY_MS + 5 * HOUR);
    let yesterday = today.minus(1);
    for (guild, day) in [
        (GUILD, today),
        (GUILD, today),
        (GUILD, yesterday),
        (GUILD, today.minus(10)),
        (OTHER_GUILD, today),
    ] {
        store.count_opened(guild, day).await.expect("count");
    }
    let samples = [
        ClosedSample::new(0, 10 * MIN, Some(5 * MIN), false),
        ClosedSample::new(0, 2 * HOUR, None, false),
        ClosedSample::new(0, 3 * DAY_MS, Some(HOUR), true),
    ];
    for (i, sample) in samples.iter().enumerate() {
        let day = if i == 0 { yesterday } else { today };
        store.count_closed(GUILD, day, sample).await.expect("count");
    }
    let elsewhere = ClosedSample::new(0, 9 * DAY_MS, Some(9 * DAY_MS), true);
    store
        .count_closed(OTHER_GUILD, today, &elsewhere)
        .await
        .expect("count");
    store
        .count_closed(GUILD, today.minus(10), &elsewhere)
        .await
        .expect("count");
    // Concurrent uses of one command on one day: the upsert loses none.
    let uses: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.count_command(GUILD, today, "open").await })
        })
        .collect();
    for done in uses {
        done.await.expect("task").expect("count");
    }
    store
        .count_command(GUILD, yesterday, "close")
        .await
        .expect("count");
    store
        .count_command(GUILD, yesterday, "claim")
        .await
        .expect("count");
    store
        .count_command(GUILD, today, "claim")
        .await
        .expect("count");
    store
        .count_command(OTHER_GUILD, today, "stats")
        .await
        .expect("count");

    let s = store
        .stats_summary(GUILD, yesterday, today)
        .await
        .expect("summary");
    assert_eq!((s.opened, s.closed), (3, 3), "{s:?}");
    let close = &s.time_to_close;
    assert_eq!(close.count, 3);
    assert_eq!(close.sum_ms, 10 * MIN + 2 * HOUR + 3 * DAY_MS);
    assert_eq!(close.max_ms, 3 * DAY_MS);
    assert_eq!(close.buckets, [1, 0, 1, 0, 0, 0, 1, 0]);
    assert_eq!(close.median_bucket(), Some(2));
    let first = &s.first_action;
    assert_eq!(
        (first.count, first.sum_ms, first.max_ms),
        (2, 5 * MIN + HOUR, HOUR)
    );
    assert_eq!(
        first.buckets,
        [1, 0, 1, 0, 0, 0, 0, 0],
        "an hour is in 1–4 h"
    );
    assert_eq!(
        s.commands,
        [
            ("open".to_owned(), 20),
            ("claim".to_owned(), 2),
            ("close".to_owned(), 1)
        ]
    );

    let only_today = store
        .stats_summary(GUILD, today, today)
        .await
        .expect("summary");
    assert_eq!((only_today.opened, only_today.closed), (2, 2));
    let other = store
        .stats_summary(OTHER_GUILD, yesterday, today)
        .await
        .expect("summary");
    assert_eq!((other.opened, other.closed), (1, 1));
    assert_eq!(other.time_to_close.buckets[7], 1);
    assert_eq!(other.commands, [("stats".to_owned(), 1)]);
    let nothing = store
        .stats_summary(GUILD, today.minus(5), today.minus(2))
        .await
        .expect("summary");
    assert_eq!(nothing, tessera::stats::Summary::default());
}

on_both_backends!(
    statistics_older_than_the_retention_are_purged,
    old_statistics_are_purged_
);
async fn old_statistics_are_purged_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let now = 20_000 * DAY_MS + 5 * HOUR;
    let today = Day::of(now);
    let too_old = today.minus(RETENTION_DAYS + 1);
    let kept = today.minus(RETENTION_DAYS);
    let sample = ClosedSample::new(0, HOUR, Some(MIN), true);
    for day in [too_old, kept] {
        store.count_opened(GUILD, day).await.expect("count");
        store
            .count_closed(GUILD, day, &sample)
            .await
            .expect("count");
        store
            .count_command(GUILD, day, "open")
            .await
            .expect("count");
    }
    let purged = tessera::privacy::retention::purge(&store, 365, now)
        .await
        .expect("purge");
    // One daily row, two duration buckets and one command row of the old day.
    assert_eq!(purged.stats, 4, "{purged:?}");
    let old = store
        .stats_summary(GUILD, too_old, too_old)
        .await
        .expect("summary");
    assert_eq!(old, tessera::stats::Summary::default());
    let left = store
        .stats_summary(GUILD, kept, kept)
        .await
        .expect("summary");
    assert_eq!((left.opened, left.closed, left.commands.len()), (1, 1, 1));
    assert_eq!(left.first_action.buckets[0], 1);
    let again = tessera::privacy::retention::purge(&store, 365, now)
        .await
        .expect("purge");
    assert_eq!(again.stats, 0);
}

on_both_backends!(
    a_ticket_counted_after_the_bot_left_the_server_is_not_written_back,
    late_count_
);
async fn late_count_(backend: Backend) {
    let Some((_db, store)) = fresh(backend).await else {
        return;
    };
    set_up(&store, GUILD, 1).await;
    let today = Day::of(20_000 * DAY_MS);
    store.delete_guild_data(GUILD).await.expect("delete");
    // A ticket that finished opening or closing just as the bot left.
    store.count_opened(GUILD, today).await.expect("count");
    let sample = ClosedSample::new(0, HOUR, Some(MIN), true);
    store
        .count_closed(GUILD, today, &sample)
        .await
        .expect("count");
    for (table, rows) in store.guild_row_counts(GUILD).await.expect("count") {
        assert_eq!(rows, 0, "{table}");
    }
}
