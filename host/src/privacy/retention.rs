//! Retention (PRIVACY.md #6 and #7): transcripts are deleted when they expire (the server's
//! retention, at most the operator's ceiling, fixed when each was stored), and closed tickets'
//! records a set number of days after they closed. Aggregate statistics (#13) are kept
//! [`RETENTION_DAYS`] days. A member's deletion request (#11) is forgotten once no ticket
//! that was open when they asked is still open. The purge runs at start and then
//! periodically; it takes the time as an argument, so tests drive it with any clock.

use std::time::Duration;

use crate::stats::{Day, RETENTION_DAYS};
use crate::store::{Store, StoreError};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What one purge deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Transcripts (with their files) past their retention.
    pub transcripts: u64,
    /// Closed tickets past the closed-ticket retention (with their transcripts, members and
    /// audit entries).
    pub tickets: u64,
    /// Rows of statistics of days more than [`RETENTION_DAYS`] ago.
    pub stats: u64,
    /// Records of members' deletions no open ticket needs any more.
    pub erasures: u64,
    /// Ticket reservations a crash left without a channel (older than
    /// [`crate::store::STALE_RESERVATION_MS`]).
    pub reservations: u64,
}

/// Deletes what has expired at `now_ms`: transcripts past their expiry, and tickets closed
/// more than `closed_ticket_days` days before, and statistics of the days before the last
/// [`RETENTION_DAYS`].
pub async fn purge(
    store: &Store,
    closed_ticket_days: u32,
    now_ms: i64,
) -> Result<Purged, StoreError> {
    let transcripts = store.purge_expired_transcripts(now_ms).await?;
    let cutoff = now_ms.saturating_sub(i64::from(closed_ticket_days) * DAY_MS);
    let tickets = store.purge_closed_tickets(cutoff).await?;
    let stats = store
        .purge_stats(Day::of(now_ms).minus(RETENTION_DAYS))
        .await?;
    let erasures = store.purge_erasures().await?;
    let reservations = store
        .discard_reservations_before(now_ms.saturating_sub(crate::store::STALE_RESERVATION_MS))
        .await?;
    Ok(Purged {
        transcripts,
        tickets,
        stats,
        erasures,
        reservations,
    })
}

/// Purges now, then every `every`, until the process ends; counts are logged, failures too
/// (the next run tries again).
pub async fn run_periodically(store: Store, closed_ticket_days: u32, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge(&store, closed_ticket_days, crate::store::now_ms()).await {
            Ok(purged) if purged == Purged::default() => {}
            Ok(purged) => tracing::info!(
                transcripts = purged.transcripts,
                tickets = purged.tickets,
                stats = purged.stats,
                erasures = purged.erasures,
                reservations = purged.reservations,
                "retention: deleted expired data"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "retention: the purge failed; it runs again later")
            }
        }
    }
}
