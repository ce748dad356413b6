//! Work in flight per server, so that leaving a server waits for it: nothing started for a
//! server before the bot left it writes rows back after its data was deleted (PRIVACY.md #8).
//! Interactions of a server being left are not started at all.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The servers with work in flight, and those being left.
#[derive(Debug, Default)]
pub struct GuildWork {
    state: Mutex<State>,
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct State {
    running: HashMap<u64, usize>,
    leaving: HashSet<u64>,
}

/// One piece of work for a server; done when dropped.
#[derive(Debug)]
pub struct Working {
    work: Arc<GuildWork>,
    guild_id: u64,
}

impl Drop for Working {
    fn drop(&mut self) {
        let mut state = self.work.lock();
        if let Some(n) = state.running.get_mut(&self.guild_id) {
            *n -= 1;
            if *n == 0 {
                state.running.remove(&self.guild_id);
            }
        }
        drop(state);
        self.work.changed.notify_waiters();
    }
}

impl GuildWork {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts work for `guild_id`; `None` if the bot is leaving that server.
    pub fn enter(self: &Arc<Self>, guild_id: u64) -> Option<Working> {
        let mut state = self.lock();
        if state.leaving.contains(&guild_id) {
            return None;
        }
        *state.running.entry(guild_id).or_default() += 1;
        Some(Working {
            work: self.clone(),
            guild_id,
        })
    }

    /// Marks `guild_id` as being left (no new work starts for it) and waits, at most `patience`,
    /// for the work in flight for it to end. Whether it all ended.
    pub async fn leave(&self, guild_id: u64, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let changed = self.changed.notified();
            {
                let mut state = self.lock();
                state.leaving.insert(guild_id);
                if !state.running.contains_key(&guild_id) {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }

    /// The bot is in `guild_id` again (it was added back): work for it may start.
    pub fn rejoined(&self, guild_id: u64) {
        self.lock().leaving.remove(&guild_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leaving_waits_for_work_in_flight_and_refuses_new_work() {
        let work = Arc::new(GuildWork::default());
        let running = work.enter(1).expect("work starts");
        let other = work.enter(2).expect("another server's work");
        let leaving = {
            let work = work.clone();
            tokio::spawn(async move { work.leave(1, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!leaving.is_finished(), "it did not wait");
        assert!(
            work.enter(1).is_none(),
            "new work started for a server being left"
        );
        drop(running);
        assert!(leaving.await.unwrap(), "all work ended");
        // Another server was never affected; a server the bot rejoins works again.
        drop(other);
        assert!(work.enter(2).is_some());
        work.rejoined(1);
        assert!(work.enter(1).is_some());
    }

    #[tokio::test]
    async fn leaving_gives_up_waiting_after_its_patience() {
        let work = Arc::new(GuildWork::default());
        let _stuck = work.enter(1).expect("work starts");
        assert!(!work.leave(1, Duration::from_millis(50)).await);
    }
}
