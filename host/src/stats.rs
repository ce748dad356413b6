//! Aggregate statistics (PRIVACY.md #13): per server and UTC day, how many tickets were opened
//! and closed, which commands were used, and two durations (time to close, and time to the
//! first staff action) kept as sums, maxima and bucket counts. Only counters: no user, channel,
//! message or ticket ids, and no text from members.
//!
//! What "first staff action" measures. Tessera has only the GUILDS intent and reads a ticket's
//! messages only when it closes (and only with transcripts on), so it cannot see when staff
//! first *replied*. It measures instead, for each closed ticket, the time from its opening to the
//! first thing a staff member other than the opener did to it through Tessera: the first claim,
//! or the close itself, whichever came first. A ticket that nobody on staff claimed, and that its
//! opener closed, has no such time. Both durations are recorded when the ticket closes, on the
//! day it closes, so they describe the tickets closed in a period.
//!
//! Recording never fails the action it follows: a failure is logged and that count is lost.

use crate::store::{Store, Ticket};

/// One day, in milliseconds.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// The period `/stats` shows when no `days` are given.
pub const DEFAULT_DAYS: u32 = 7;
/// The longest period `/stats` shows.
pub const MAX_DAYS: u32 = 90;
/// Days statistics are kept before the retention purge deletes them.
pub const RETENTION_DAYS: u32 = 400;

/// A UTC day: the number of days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// The UTC day unix time `ms` falls in.
    pub fn of(ms: i64) -> Day {
        Day(ms.div_euclid(DAY_MS))
    }

    /// The day number, as stored.
    pub fn number(self) -> i64 {
        self.0
    }

    /// The day `days` before this one.
    pub fn minus(self, days: u32) -> Day {
        Day(self.0.saturating_sub(i64::from(days)))
    }
}

/// Which duration a bucket count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// From opening to closing.
    Close,
    /// From opening to the first staff action (see the module docs).
    FirstAction,
}

impl Metric {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Close => "close",
            Metric::FirstAction => "first_action",
        }
    }
}

/// How many duration buckets there are.
pub const BUCKETS: usize = 8;

/// Each bucket's exclusive upper bound; the last bucket has none.
const BUCKET_UPPER_MS: [i64; BUCKETS - 1] = [
    15 * 60 * 1000,
    60 * 60 * 1000,
    4 * 60 * 60 * 1000,
    12 * 60 * 60 * 1000,
    DAY_MS,
    3 * DAY_MS,
    7 * DAY_MS,
];

const BUCKET_LABELS: [&str; BUCKETS] = [
    "under 15 min",
    "15 min–1 h",
    "1–4 h",
    "4–12 h",
    "12 h–1 day",
    "1–3 days",
    "3–7 days",
    "over 7 days",
];

/// The bucket a duration falls in.
pub fn bucket_of(ms: i64) -> usize {
    BUCKET_UPPER_MS
        .iter()
        .position(|upper| ms < *upper)
        .unwrap_or(BUCKETS - 1)
}

/// A bucket in words ("1–4 h"); an unknown bucket reads as the last one.
pub fn bucket_label(bucket: usize) -> &'static str {
    BUCKET_LABELS
        .get(bucket)
        .copied()
        .unwrap_or(BUCKET_LABELS[BUCKETS - 1])
}

/// What one closed ticket adds to its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedSample {
    /// From opening to closing, ms.
    pub open_for_ms: i64,
    /// From opening to the first staff action, ms, if there was one.
    pub first_action_ms: Option<i64>,
}

impl ClosedSample {
    /// The sample of a ticket opened at `opened_at` and closed at `closed_at` (unix ms), first
    /// claimed by staff at `first_claim_at`, closed by staff or not. A clock that went backwards
    /// between two processes gives zero, never a negative duration.
    pub fn new(
        opened_at: i64,
        closed_at: i64,
        first_claim_at: Option<i64>,
        closed_by_staff: bool,
    ) -> ClosedSample {
        let since_open = |at: i64| at.saturating_sub(opened_at).max(0);
        let first = match (first_claim_at, closed_by_staff) {
            (Some(claim), true) => Some(claim.min(closed_at)),
            (Some(claim), false) => Some(claim),
            (None, true) => Some(closed_at),
            (None, false) => None,
        };
        ClosedSample {
            open_for_ms: since_open(closed_at),
            first_action_ms: first.map(since_open),
        }
    }
}

impl ClosedSample {
    /// The same sample, with a staff member's first reply (seen in the ticket's transcript, at
    /// `reply_at`) counted as a staff action if it came first.
    pub fn with_first_reply(mut self, opened_at: i64, reply_at: Option<i64>) -> ClosedSample {
        if let Some(at) = reply_at {
            let ms = at.saturating_sub(opened_at).max(0);
            self.first_action_ms = Some(self.first_action_ms.map_or(ms, |m| m.min(ms)));
        }
        self
    }
}

/// One duration over a period: how many, their sum and maximum, and how many per bucket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Durations {
    /// How many tickets had this duration.
    pub count: i64,
    /// Their sum, ms.
    pub sum_ms: i64,
    /// The longest, ms.
    pub max_ms: i64,
    /// How many fell in each bucket.
    pub buckets: [i64; BUCKETS],
}

impl Durations {
    /// The average, ms; `None` without any.
    pub fn average_ms(&self) -> Option<i64> {
        (self.count > 0).then(|| self.sum_ms / self.count)
    }

    /// The bucket holding the median (the lower one for an even count); `None` without any.
    pub fn median_bucket(&self) -> Option<usize> {
        let total: i64 = self.buckets.iter().sum();
        if total <= 0 {
            return None;
        }
        let middle = (total - 1) / 2;
        let mut seen = 0;
        for (bucket, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen > middle {
                return Some(bucket);
            }
        }
        None
    }
}

/// A server's statistics over a period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Tickets opened.
    pub opened: i64,
    /// Tickets closed.
    pub closed: i64,
    /// Time to close of the tickets closed.
    pub time_to_close: Durations,
    /// Time to the first staff action of the tickets closed.
    pub first_action: Durations,
    /// Commands used, most used first (ties by name).
    pub commands: Vec<(String, i64)>,
}

/// Counts a ticket opened (on the day it opened).
pub async fn ticket_opened(store: &Store, ticket: &Ticket) {
    if let Err(err) = store
        .count_opened(ticket.guild_id, Day::of(ticket.opened_at))
        .await
    {
        tracing::warn!(error = %err, guild_id = ticket.guild_id, "statistics: could not count an opened ticket");
    }
}

/// Counts a ticket closed (on the day it closed), with its durations. `closed_by_staff`: the
/// closer is staff and not the ticket's opener.
pub async fn ticket_closed(
    store: &Store,
    closed: &Ticket,
    closed_by_staff: bool,
    first_reply_at: Option<i64>,
) {
    let recorded = async {
        let first_claim = store
            .first_staff_claim_at(closed.id, closed.opener_id)
            .await?;
        let closed_at = closed.closed_at.unwrap_or(closed.opened_at);
        let sample = ClosedSample::new(closed.opened_at, closed_at, first_claim, closed_by_staff)
            .with_first_reply(closed.opened_at, first_reply_at);
        store
            .count_closed(closed.guild_id, Day::of(closed_at), &sample)
            .await
    };
    if let Err(err) = recorded.await {
        tracing::warn!(error = %err, guild_id = closed.guild_id, ticket_id = closed.id, "statistics: could not count a closed ticket");
    }
}

/// Counts one use of `command` (one of Tessera's own command names) in a server at `at_ms`.
pub async fn command_used(store: &Store, guild_id: u64, command: &'static str, at_ms: i64) {
    if let Err(err) = store.count_command(guild_id, Day::of(at_ms), command).await {
        tracing::warn!(error = %err, guild_id, command, "statistics: could not count a command");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * 1000;
    const HOUR: i64 = 60 * MIN;

    #[test]
    fn days_are_utc_days_since_the_epoch() {
        assert_eq!(Day::of(0), Day(0));
        assert_eq!(Day::of(DAY_MS - 1), Day(0));
        assert_eq!(Day::of(DAY_MS), Day(1));
        assert_eq!(
            Day::of(-1),
            Day(-1),
            "before 1970 is the day before, not day 0"
        );
        assert_eq!(Day::of(20_000 * DAY_MS + 5).minus(6), Day(19_994));
    }

    #[test]
    fn durations_fall_in_their_buckets() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(15 * MIN - 1), 0);
        assert_eq!(bucket_of(15 * MIN), 1);
        assert_eq!(bucket_of(2 * HOUR), 2);
        assert_eq!(bucket_of(DAY_MS), 5);
        assert_eq!(bucket_of(7 * DAY_MS), 7);
        assert_eq!(bucket_of(i64::MAX), 7);
        assert_eq!(bucket_label(2), "1–4 h");
        assert_eq!(bucket_label(99), "over 7 days");
    }

    #[test]
    fn the_first_staff_action_is_the_first_claim_or_a_staff_close() {
        let claimed_then_opener_closed =
            ClosedSample::new(1_000, 1_000 + 3 * HOUR, Some(1_000 + MIN), false);
        assert_eq!(claimed_then_opener_closed.open_for_ms, 3 * HOUR);
        assert_eq!(claimed_then_opener_closed.first_action_ms, Some(MIN));
        let staff_closed_unclaimed = ClosedSample::new(0, HOUR, None, true);
        assert_eq!(staff_closed_unclaimed.first_action_ms, Some(HOUR));
        let opener_closed_unclaimed = ClosedSample::new(0, HOUR, None, false);
        assert_eq!(opener_closed_unclaimed.first_action_ms, None);
        let skewed = ClosedSample::new(5_000, 1_000, Some(2_000), true);
        assert_eq!((skewed.open_for_ms, skewed.first_action_ms), (0, Some(0)));
    }

    #[test]
    fn the_median_is_the_bucket_of_the_middle_ticket() {
        let mut d = Durations::default();
        assert_eq!((d.median_bucket(), d.average_ms()), (None, None));
        d.buckets[0] = 1;
        d.buckets[2] = 1;
        d.buckets[6] = 1;
        assert_eq!(d.median_bucket(), Some(2));
        d.buckets[6] = 2;
        assert_eq!(d.median_bucket(), Some(2), "the lower middle of four");
        d.buckets[7] = 3;
        assert_eq!(d.median_bucket(), Some(6));
        d.count = 3;
        d.sum_ms = 10;
        assert_eq!(d.average_ms(), Some(3));
    }
}
