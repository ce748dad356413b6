//! Running a server's integrations when a ticket opens: each enabled plugin gets the opener's
//! user ID, concurrently and within the event timeout; each delivery is recorded (PRIVACY.md
//! #17) and counted toward the plugin's health. Whatever the plugins do, the ticket opens.

use std::time::Duration;

use tracing::Instrument as _;

use crate::integrations::health::host_message;
use crate::integrations::settings::{plugin_config, Destination};
use crate::integrations::{AutoDisabled, Integrations};
use crate::plugins::runtime::{NotRun, PluginFailure};
use crate::privacy::records::{self, Received};
use crate::store::Store;

/// A plugin's placeholders, or why there are none.
pub type RunResult = Result<Vec<(String, String)>, PluginFailure>;

/// What one plugin did for one ticket.
#[derive(Debug, Clone)]
pub struct PluginRun {
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's display name.
    pub name: String,
    /// The declared privacy policy.
    pub privacy_policy: String,
    /// Its placeholders, or why there are none.
    pub result: RunResult,
    /// Set when this failure made Tessera disable the plugin for the server (see
    /// [`Integrations::auto_disabled`] for the event).
    pub disabled_now: bool,
    /// Set on the first run this process could not make because the integration's secrets no
    /// longer open (see [`needing_attention`] for the event).
    pub locked_now: bool,
}

impl PluginRun {
    /// Whether the plugin received the opener's ID in this run (a run Tessera did not make
    /// sent it nothing, and the member is not told it did).
    pub fn received(&self) -> bool {
        !matches!(self.result, Err(PluginFailure::NotRun(_)))
    }
}

/// An integration that cannot run until an admin acts (its secrets no longer open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsAttention {
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's display name (the plugin's own text: render it inert).
    pub name: String,
    /// What is wrong and what to do, in Tessera's words.
    pub why: &'static str,
}

/// How long past the event timeout a ticket waits for a plugin task that did not end itself.
const GRACE: Duration = Duration::from_millis(500);

impl Integrations {
    /// Gives `user_id` to every plugin `guild_id` enabled, concurrently; returns within the
    /// event timeout whatever the plugins do. Each delivery is recorded, and each outcome
    /// weighed by [`Health`](crate::integrations::health::Health): a plugin failing through its
    /// own fault often enough within the failure window is disabled for the server.
    #[tracing::instrument(skip_all, fields(guild_id = guild_id, ticket_id = ticket_id))]
    pub async fn run_at_open(
        &self,
        store: &Store,
        guild_id: u64,
        ticket_id: i64,
        user_id: u64,
    ) -> Vec<PluginRun> {
        let configured = match store.guild_integrations(guild_id).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the server's integrations; opening the ticket without them");
                return Vec::new();
            }
        };
        // Only servers running their own uploads pay for checking them against the database.
        if configured
            .iter()
            .any(|r| r.enabled && !self.is_global(&r.plugin_id))
        {
            self.sync_uploads(store, guild_id).await;
        }
        let now = crate::store::now_ms();
        let mut tasks = tokio::task::JoinSet::new();
        let mut order = Vec::new();
        // Runs Tessera did not make, by index into `order`.
        let mut not_run: Vec<Option<NotRun>> = Vec::new();
        for row in configured.into_iter().filter(|r| r.enabled) {
            let Some(available) = self.get(guild_id, &row.plugin_id) else {
                tracing::warn!(plugin = %row.plugin_id, "an enabled integration is no longer installed; skipped");
                continue;
            };
            let index = order.len();
            if self.health().backing_off(guild_id, &row.plugin_id, now) {
                order.push(available);
                not_run.push(Some(NotRun::BackingOff));
                continue;
            }
            let to = Destination::of(&available, guild_id, &row.config);
            let secrets = match self.secrets().open(&row, &to) {
                Ok(secrets) => secrets,
                Err(problem) => {
                    tracing::error!(plugin = %row.plugin_id, %problem, "an integration's secrets cannot be opened; the ID was not sent and its admins are told");
                    order.push(available);
                    not_run.push(Some(NotRun::SecretsLocked));
                    continue;
                }
            };
            let runtime = self.runtime().clone();
            let plugin = available.plugin.clone();
            let config = plugin_config(available.manifest(), guild_id, row.config.into_iter());
            let span = tracing::info_span!("plugin_at_open", plugin = %row.plugin_id);
            order.push(available);
            not_run.push(None);
            tasks.spawn(
                async move {
                    (
                        index,
                        runtime
                            .on_ticket_opened_in(guild_id, &plugin, user_id, config, secrets)
                            .await,
                    )
                }
                .instrument(span),
            );
        }
        let mut results: Vec<Option<RunResult>> = not_run
            .iter()
            .map(|n| n.map(|n| Err(PluginFailure::NotRun(n))))
            .collect();
        let mut saw_429 = vec![false; order.len()];
        // The runtime bounds each event already; this bounds the ticket even if that failed.
        let deadline = tokio::time::Instant::now() + self.event_timeout() + GRACE;
        loop {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(Ok((index, outcome)))) => {
                    for line in &outcome.log {
                        tracing::debug!(plugin = %order[index].manifest().id, line, "plugin log");
                    }
                    saw_429[index] = outcome.saw_429;
                    results[index] = Some(outcome.result.map_err(PluginFailure::from));
                }
                Ok(Some(Err(err))) => {
                    tracing::error!(error = %err, "a plugin task failed");
                }
                Ok(None) => break,
                Err(_) => {
                    tasks.abort_all();
                    break;
                }
            }
        }
        let mut runs = Vec::with_capacity(order.len());
        let mut deliveries = Vec::with_capacity(order.len());
        for (available, result) in order.iter().zip(results) {
            let m = available.manifest();
            let result = result.unwrap_or(Err(PluginFailure::Timeout(self.event_timeout())));
            let run = PluginRun {
                plugin_id: m.id.clone(),
                name: m.name.clone(),
                privacy_policy: m.privacy_policy.clone(),
                result,
                disabled_now: false,
                locked_now: false,
            };
            // PRIVACY.md #17: a record for each plugin that received the ID, and only those.
            if run.received() {
                deliveries.push(records::delivery(
                    &available.plugin.inspection,
                    Received {
                        guild_id,
                        ticket_id: Some(ticket_id),
                        user_id,
                        at: now,
                        result: &run.result,
                    },
                ));
            }
            runs.push(run);
        }
        if let Err(err) = store.record_deliveries(&deliveries).await {
            tracing::error!(error = %err, "cannot record which integrations received a user ID");
        }
        for ((run, available), saw_429) in runs.iter_mut().zip(&order).zip(saw_429) {
            if matches!(
                run.result,
                Err(PluginFailure::NotRun(NotRun::SecretsLocked))
            ) {
                run.locked_now = self.health().first_told(guild_id, &run.plugin_id);
                continue;
            }
            match self
                .health()
                .note(store, guild_id, available, &run.result, saw_429, now)
                .await
            {
                Ok(disabled) => run.disabled_now = disabled,
                Err(err) => {
                    tracing::error!(plugin = %run.plugin_id, error = %err, "cannot update an integration's failure count")
                }
            }
        }
        runs
    }

    /// The plugins one ticket's runs disabled, as events for the server's admins.
    pub fn auto_disabled(&self, runs: &[PluginRun]) -> Vec<AutoDisabled> {
        auto_disabled(runs, self.disable_after())
    }
}

/// The integrations one ticket found unable to run until an admin acts, as events for the
/// server's admins (each told once per process).
pub fn needing_attention(runs: &[PluginRun]) -> Vec<NeedsAttention> {
    runs.iter()
        .filter(|r| r.locked_now)
        .filter_map(|r| {
            r.result.as_ref().err().map(|f| NeedsAttention {
                plugin_id: r.plugin_id.clone(),
                name: r.name.clone(),
                why: host_message(f),
            })
        })
        .collect()
}

/// The plugins that one ticket's runs disabled after `failures` failures within the failure
/// window, as events for the server's admins. What went wrong is said in Tessera's words.
pub fn auto_disabled(runs: &[PluginRun], failures: u32) -> Vec<AutoDisabled> {
    runs.iter()
        .filter(|r| r.disabled_now)
        .map(|r| AutoDisabled {
            plugin_id: r.plugin_id.clone(),
            name: r.name.clone(),
            failures,
            last_error: r
                .result
                .as_ref()
                .err()
                .map(|f| host_message(f).to_owned())
                .unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_that_disabled_their_plugin_become_events() {
        let run = |id: &str, disabled_now: bool| PluginRun {
            plugin_id: id.to_owned(),
            name: format!("The {id}"),
            privacy_policy: String::new(),
            result: Err(PluginFailure::Trap("boom".into())),
            disabled_now,
            locked_now: false,
        };
        let events = auto_disabled(&[run("a", false), run("b", true)], 3);
        assert_eq!(
            events,
            [AutoDisabled {
                plugin_id: "b".to_owned(),
                name: "The b".to_owned(),
                failures: 3,
                last_error: "it crashed".to_owned(),
            }]
        );
    }
}
