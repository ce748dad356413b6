//! `/stats [days]`: the server's ticket statistics, for staff (PRIVACY.md #13: counters only).

use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::{CommandOptionType, InteractionContext};

use super::{Ctx, Options, Result};
use crate::discord::reply::Reply;
use crate::stats::{bucket_label, Day, Durations, Summary, DEFAULT_DAYS, MAX_DAYS};
use crate::store::now_ms;
use crate::tickets::Doing;

/// What this command needs before it runs: a server; the command checks for staff itself
/// (the staff role is in the server's settings).
pub(super) const NEEDS: super::Needs = super::Needs::Server;

/// The most commands the answer lists.
const TOP_COMMANDS: usize = 10;

const STAFF_ONLY: &str = "Only staff can see the server's ticket statistics.";

/// The command definition.
pub fn register() -> CreateCommand {
    CreateCommand::new("stats")
        .description("Ticket statistics for this server (staff)")
        .contexts(vec![InteractionContext::Guild])
        .add_option(
            CreateCommandOption::new(
                CommandOptionType::Integer,
                "days",
                "How many days back, today (UTC) included: 1–90, default 7",
            )
            .min_int_value(1)
            .max_int_value(u64::from(MAX_DAYS)),
        )
}

/// Shows the server's totals over the last `days` days to staff and managers.
#[tracing::instrument(skip_all, fields(guild_id = ctx.guild_id.get()))]
pub async fn run(ctx: &Ctx<'_>, options: &Options<'_>) -> Result<Reply> {
    let store = &ctx.bot.store;
    let g = ctx.guild_id.get();
    let settings = store
        .guild_settings(g)
        .await
        .doing("reading the server's settings")?;
    // Before `/setup` there is no staff role: only managers.
    let staff = ctx.caller.is_manager()
        || settings
            .as_ref()
            .is_some_and(|settings| ctx.caller.is_staff(settings));
    if !staff {
        return Ok(Reply::text(STAFF_ONLY));
    }
    let days = period(options.integer("days"));
    let today = Day::of(now_ms());
    let summary = store
        .stats_summary(g, today.minus(days - 1), today)
        .await
        .doing("reading the statistics")?;
    Ok(Reply::text(describe(&summary, days)))
}

/// The period asked for, in days: the default without one, and within 1–90 whatever arrives.
fn period(asked: Option<i64>) -> u32 {
    asked.map_or(DEFAULT_DAYS, |days| {
        days.clamp(1, i64::from(MAX_DAYS)) as u32
    })
}

/// The statistics in words.
fn describe(summary: &Summary, days: u32) -> String {
    let period = if days == 1 {
        "today".to_owned()
    } else {
        format!("the last {days} days")
    };
    let mut lines = vec![
        format!("**Ticket statistics for {period}** (UTC days, today included)"),
        format!(
            "Opened: **{}** · Closed: **{}**",
            summary.opened, summary.closed
        ),
    ];
    lines.push(match durations(&summary.time_to_close) {
        Some(d) => format!("Time to close: {d} ({} closed)", summary.closed),
        None => "Time to close: no ticket was closed.".to_owned(),
    });
    const FIRST: &str = "Time to first staff action (a claim, or a close by staff)";
    lines.push(match durations(&summary.first_action) {
        Some(d) => format!(
            "{FIRST}: {d} ({} of {} closed tickets)",
            summary.first_action.count, summary.closed
        ),
        None => format!("{FIRST}: none among the closed tickets."),
    });
    if summary.commands.is_empty() {
        lines.push("Commands: none used.".to_owned());
    } else {
        let top: Vec<String> = summary
            .commands
            .iter()
            .take(TOP_COMMANDS)
            .map(|(name, uses)| format!("`/{name}` {uses}"))
            .collect();
        lines.push(format!("Most used commands: {}", top.join(" · ")));
    }
    lines.join("\n")
}

/// "average **3 h 12 min**, median 1–4 h, longest 2 d 4 h"; `None` without any.
fn durations(d: &Durations) -> Option<String> {
    let average = d.average_ms()?;
    let median = d
        .median_bucket()
        .map(|b| format!(", median {}", bucket_label(b)))
        .unwrap_or_default();
    Some(format!(
        "average **{}**{median}, longest {}",
        human(average),
        human(d.max_ms)
    ))
}

/// A duration for people: "42 s", "25 min", "3 h 12 min", "2 d 4 h".
fn human(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    if s < 60 {
        format!("{s} s")
    } else if m < 60 {
        format!("{m} min")
    } else if h < 24 {
        format!("{h} h {} min", m % 60)
    } else {
        format!("{d} d {} h", h % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::BUCKETS;

    #[test]
    fn the_period_is_one_to_ninety_days_seven_by_default() {
        assert_eq!(period(None), 7);
        assert_eq!(period(Some(30)), 30);
        assert_eq!(period(Some(0)), 1);
        assert_eq!(period(Some(-5)), 1);
        assert_eq!(period(Some(i64::MAX)), 90);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(-3), "0 s");
        assert_eq!(human(42_000), "42 s");
        assert_eq!(human(25 * 60_000), "25 min");
        assert_eq!(human((3 * 60 + 12) * 60_000), "3 h 12 min");
        assert_eq!(human((52 * 60) * 60_000), "2 d 4 h");
    }

    #[test]
    fn the_answer_names_every_total_and_fits_in_a_message() {
        let mut buckets = [0; BUCKETS];
        buckets[2] = 2;
        buckets[6] = 1;
        let summary = Summary {
            opened: 12,
            closed: 3,
            time_to_close: Durations {
                count: 3,
                sum_ms: 3 * 3_600_000,
                max_ms: 4 * 86_400_000,
                buckets,
            },
            first_action: Durations::default(),
            commands: (0..30).map(|i| (format!("command{i}"), 30 - i)).collect(),
        };
        let text = describe(&summary, 7);
        assert!(text.contains("the last 7 days"), "{text}");
        assert!(text.contains("Opened: **12** · Closed: **3**"), "{text}");
        assert!(
            text.contains(
                "Time to close: average **1 h 0 min**, median 1–4 h, longest 4 d 0 h (3 closed)"
            ),
            "{text}"
        );
        assert!(
            text.contains("first staff action (a claim, or a close by staff): none"),
            "{text}"
        );
        assert!(text.contains("`/command0` 30 · `/command1` 29"), "{text}");
        assert!(!text.contains("command10"), "only the top ten: {text}");
        assert!(Reply::text(text).content.chars().count() <= 2000);
        assert!(describe(&Summary::default(), 1).contains("statistics for today"));
    }
}
