//! Whether a server's integrations keep working, and whose fault it is when they do not.
//!
//! Each failed run is [`blame`]d: only failures that are the plugin's or its settings' fault
//! (a crash, a limit, a refused key, a plugin's own "bad config") count toward disabling it,
//! and they are weighed over a window ([`FailureWindow`]), not "in a row". A member opening
//! tickets can make the service slow or make it answer errors, but those are the service's
//! (not counted), and a service that says "slow down" (a 429 the host saw, or the plugin's
//! `rate-limited`) makes Tessera back off from that integration in that server for a while
//! instead of disabling it. Host-side stops (no sandbox slot in time, a backoff) are never the
//! plugin's failure.
//!
//! When the window's threshold is reached, Tessera disables the plugin for that server and
//! says so as an [`AutoDisabled`] event (derived from a ticket's runs by
//! [`Integrations::auto_disabled`](crate::integrations::Integrations::auto_disabled)), which
//! the Discord side renders for the server's admins.
//!
//! What admins see of a failure is [`host_message`]: written by Tessera for the failure's
//! class. The plugin's own words (which may carry upstream text) go to the operator's log only
//! (PRIVACY.md #1).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use crate::integrations::Available;
use crate::plugins::runtime::{NotRun, PluginFailure};
use crate::store::{ConsentAction, FailureWindow, Store, StoreError};

/// Tessera turned a plugin off in a server after repeated failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoDisabled {
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's display name (the plugin's own text: render it inert).
    pub name: String,
    /// Failures within the window that disabled it.
    pub failures: u32,
    /// What went wrong last, in Tessera's words ([`host_message`]).
    pub last_error: String,
}

/// Whose fault a failed run was, which decides what Tessera does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// Not a failure: nothing to show for this member.
    Nobody,
    /// The plugin or its settings: counted toward disabling it.
    Plugin,
    /// The service it calls answered an error or was slow: not counted (a member can cause
    /// it by opening tickets).
    Service,
    /// The service asked to slow down: Tessera backs off.
    RateLimited,
    /// Tessera did not run it: never counted.
    Host,
}

/// Whose fault `failure` was. `saw_429` says the host saw the service answer 429 during the
/// run: whatever the plugin made of it, that is a rate limit.
pub fn blame(failure: &PluginFailure, saw_429: bool) -> Blame {
    if saw_429 {
        return Blame::RateLimited;
    }
    match failure {
        PluginFailure::Plugin { kind, .. } => match *kind {
            "not-found" => Blame::Nobody,
            "upstream" => Blame::Service,
            "rate-limited" => Blame::RateLimited,
            // `denied` (a refused key), `bad-config`, `internal`.
            _ => Blame::Plugin,
        },
        PluginFailure::Timeout(_) => Blame::Service,
        PluginFailure::NotRun(_) => Blame::Host,
        PluginFailure::CpuLimit(_)
        | PluginFailure::MemoryLimit(_)
        | PluginFailure::Trap(_)
        | PluginFailure::Exit(_)
        | PluginFailure::Output(_) => Blame::Plugin,
    }
}

/// What admins are told about a failure: Tessera's words for its class, never the plugin's.
pub fn host_message(failure: &PluginFailure) -> &'static str {
    match failure {
        PluginFailure::Plugin { kind, .. } => match *kind {
            "not-found" => "the service has nothing for this member",
            "upstream" => "the service it calls answered with an error",
            "denied" => "the service refused the request: check the integration's key or permissions",
            "rate-limited" => "the service asked Tessera to slow down",
            "bad-config" => "the integration says its settings are wrong: check them with `/integrations enable`",
            _ => "the integration failed on its own",
        },
        PluginFailure::CpuLimit(_) => "it used more CPU time than it is allowed",
        PluginFailure::Timeout(_) => "it did not finish in time",
        PluginFailure::MemoryLimit(_) => "it used more memory than it is allowed",
        PluginFailure::Trap(_) => "it crashed",
        PluginFailure::Exit(_) => "it stopped itself (called exit) before answering",
        PluginFailure::Output(_) => "its answer broke the limits on placeholders",
        PluginFailure::NotRun(NotRun::BackingOff) => {
            "not run: the service asked Tessera to slow down, so it waits a while"
        }
        PluginFailure::NotRun(NotRun::Busy) => {
            "not run: no sandbox was free in time (the bot is busy; not the integration's fault)"
        }
        PluginFailure::NotRun(NotRun::SecretsLocked) => {
            "not run: its secrets no longer open (the operator changed the secrets key); enter them again with `/integrations enable`"
        }
    }
}

/// The first wait after a rate limit; each further one doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait after rate limits.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// One server's integration waiting out a rate limit.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    /// Unix ms until which it is not run.
    until: i64,
    /// Rate limits in a row.
    strikes: u32,
}

/// The lock's contents. A panic while holding one of these locks cannot leave its map
/// inconsistent (every change is one insert or retain), so a poisoned lock is used as is.
fn locked<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Failure counting and backoff for one process's settings.
#[derive(Debug)]
pub struct Health {
    window: FailureWindow,
    /// (server, plugin id) -> backoff. In memory: each process backs off on its own, and an
    /// entry goes when the service answers again (or the bot leaves the server).
    backoff: Mutex<HashMap<(u64, String), Backoff>>,
    /// (server, plugin id) whose admins this process told that the integration needs them.
    told: Mutex<HashSet<(u64, String)>>,
}

impl Health {
    /// Disables a plugin after `threshold` counted failures (at least one) within `window`
    /// (at least one minute) of the first, when it failed more often than it worked.
    pub fn new(threshold: u32, window: Duration) -> Health {
        Health {
            window: FailureWindow {
                threshold: threshold.max(1),
                window_ms: i64::try_from(window.as_millis())
                    .unwrap_or(i64::MAX)
                    .max(60_000),
            },
            backoff: Mutex::new(HashMap::new()),
            told: Mutex::new(HashSet::new()),
        }
    }

    /// The counted failures within one window that disable a plugin.
    pub fn disable_after(&self) -> u32 {
        self.window.threshold
    }

    /// Whether Tessera is waiting out a rate limit of this integration in this server at `now`.
    pub fn backing_off(&self, guild_id: u64, plugin_id: &str, now: i64) -> bool {
        self.backoffs()
            .get(&(guild_id, plugin_id.to_owned()))
            .is_some_and(|b| b.until > now)
    }

    /// `true` the first time this process asks about this integration in this server: its
    /// admins are told once that it needs them, not at every ticket.
    pub fn first_told(&self, guild_id: u64, plugin_id: &str) -> bool {
        locked(&self.told).insert((guild_id, plugin_id.to_owned()))
    }

    /// Forgets a server's backoffs and notices (the bot left it).
    pub fn forget_guild(&self, guild_id: u64) {
        self.backoffs().retain(|(g, _), _| *g != guild_id);
        locked(&self.told).retain(|(g, _)| *g != guild_id);
    }

    /// Starts (or lengthens) a backoff after a rate limit at `now`; returns the wait.
    fn back_off(&self, key: (u64, String), now: i64) -> Duration {
        let mut backoffs = self.backoffs();
        let strikes = backoffs.get(&key).map_or(0, |b| b.strikes) + 1;
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << (strikes - 1).min(10))
            .min(MAX_BACKOFF);
        let until = now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(0));
        backoffs.insert(key, Backoff { until, strikes });
        wait
    }

    fn backoffs(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, String), Backoff>> {
        locked(&self.backoff)
    }

    /// Counts one run's outcome at `now` (unix ms); `true` when this failure disabled the
    /// plugin (only one concurrent run ever gets `true`, so admins are told once). `saw_429`:
    /// the host saw the service answer 429 during the run.
    pub async fn note(
        &self,
        store: &Store,
        guild_id: u64,
        available: &Available,
        result: &Result<Vec<(String, String)>, PluginFailure>,
        saw_429: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let plugin_id = &available.manifest().id;
        let blame = match result {
            Ok(_) if saw_429 => Blame::RateLimited,
            Ok(_) => Blame::Nobody,
            Err(failure) => blame(failure, saw_429),
        };
        let key = (guild_id, plugin_id.clone());
        match blame {
            Blame::RateLimited => {
                let wait = self.back_off(key, now);
                tracing::warn!(plugin = %plugin_id, guild_id, wait_s = wait.as_secs(), "an integration's service is rate limiting; backing off");
                Ok(false)
            }
            Blame::Host => Ok(false),
            Blame::Plugin => {
                if let Err(failure) = result {
                    tracing::warn!(plugin = %plugin_id, guild_id, error = %failure, "an integration failed at ticket open");
                }
                self.backoffs().remove(&key);
                let consent = available.consent(guild_id, ConsentAction::AutoDisabled, None);
                let reason = result.as_ref().err().map_or("", host_message);
                store
                    .note_integration_failure(&consent, self.window, reason, now)
                    .await
            }
            Blame::Service | Blame::Nobody => {
                if let Err(failure) = result {
                    tracing::info!(plugin = %plugin_id, guild_id, error = %failure, "an integration's service failed at ticket open (not counted)");
                }
                self.backoffs().remove(&key);
                if matches!(blame, Blame::Nobody) {
                    store
                        .note_integration_success(guild_id, plugin_id, self.window, now)
                        .await?;
                }
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(kind: &'static str) -> PluginFailure {
        PluginFailure::Plugin {
            kind,
            message: "upstream said: <script>".into(),
        }
    }

    #[test]
    fn only_the_plugins_own_failures_count() {
        assert_eq!(blame(&plugin("not-found"), false), Blame::Nobody);
        assert_eq!(blame(&plugin("upstream"), false), Blame::Service);
        assert_eq!(blame(&plugin("rate-limited"), false), Blame::RateLimited);
        assert_eq!(blame(&plugin("denied"), false), Blame::Plugin);
        assert_eq!(blame(&plugin("bad-config"), false), Blame::Plugin);
        assert_eq!(blame(&plugin("internal"), false), Blame::Plugin);
        assert_eq!(
            blame(&PluginFailure::Timeout(Duration::from_secs(3)), false),
            Blame::Service
        );
        assert_eq!(
            blame(&PluginFailure::Trap("x".into()), false),
            Blame::Plugin
        );
        assert_eq!(
            blame(&PluginFailure::NotRun(NotRun::Busy), false),
            Blame::Host
        );
        // A 429 the host saw is a rate limit, whatever the plugin called it.
        assert_eq!(blame(&plugin("upstream"), true), Blame::RateLimited);
        assert_eq!(blame(&plugin("internal"), true), Blame::RateLimited);
    }

    #[test]
    fn admins_read_tessera_s_words_never_the_plugin_s() {
        for kind in [
            "not-found",
            "upstream",
            "denied",
            "rate-limited",
            "bad-config",
            "internal",
        ] {
            let message = host_message(&plugin(kind));
            assert!(!message.contains("upstream said"), "{kind}: {message}");
        }
        assert!(!host_message(&PluginFailure::Trap("guest text".into())).contains("guest text"));
        assert!(!host_message(&PluginFailure::Output("name \"evil\"".into())).contains("evil"));
    }

    #[test]
    fn rate_limits_pause_an_integration_in_one_server_for_longer_each_time() {
        let health = Health::new(5, Duration::from_secs(3600));
        let t0 = 1_800_000_000_000;
        let key = || (1, "lookup".to_owned());
        assert!(!health.backing_off(1, "lookup", t0));
        assert_eq!(health.back_off(key(), t0), Duration::from_secs(30));
        assert!(health.backing_off(1, "lookup", t0 + 29_999));
        assert!(!health.backing_off(2, "lookup", t0), "only in that server");
        assert!(!health.backing_off(1, "other", t0));
        assert!(
            !health.backing_off(1, "lookup", t0 + 30_000),
            "then tried again"
        );
        assert_eq!(health.back_off(key(), t0 + 30_000), Duration::from_secs(60));
        for _ in 0..20 {
            health.back_off(key(), t0);
        }
        assert_eq!(health.back_off(key(), t0), MAX_BACKOFF);
        health.forget_guild(1);
        assert!(!health.backing_off(1, "lookup", t0 + 1));
    }

    #[test]
    fn admins_are_told_once_per_process() {
        let health = Health::new(5, Duration::from_secs(3600));
        assert!(health.first_told(1, "lookup"));
        assert!(!health.first_told(1, "lookup"));
        assert!(health.first_told(2, "lookup"));
    }

    #[test]
    fn a_plugin_is_disabled_after_at_least_one_failure_within_at_least_a_minute() {
        assert_eq!(Health::new(0, Duration::ZERO).disable_after(), 1);
        assert_eq!(Health::new(3, Duration::ZERO).window.window_ms, 60_000);
        assert_eq!(Health::new(3, Duration::from_secs(3600)).disable_after(), 3);
    }
}
