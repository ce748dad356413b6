//! Running a server's integrations when a ticket opens: each enabled plugin gets the opener's
//! user ID, concurrently and within the event timeout; each delivery is recorded (PRIVACY.md
//! #17) and counted toward the plugin's health. Whatever the plugins do, the ticket opens.

use std::time::Duration;

use tracing::Instrument as _;

use crate::integrations::settings::plugin_config;
use crate::integrations::{AutoDisabled, Integrations};
use crate::plugins::runtime::PluginFailure;
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
}

/// How long past the event timeout a ticket waits for a plugin task that did not end itself.
const GRACE: Duration = Duration::from_millis(500);

impl Integrations {
    /// Gives `user_id` to every plugin `guild_id` enabled, concurrently; returns within the
    /// event timeout whatever the plugins do. Each delivery is recorded; a plugin failing
    /// `disable_after_failures` times in a row is disabled for the server.
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
        let mut tasks = tokio::task::JoinSet::new();
        let mut order = Vec::new();
        for row in configured.into_iter().filter(|r| r.enabled) {
            let Some(available) = self.get(guild_id, &row.plugin_id) else {
                tracing::warn!(plugin = %row.plugin_id, "an enabled integration is no longer installed; skipped");
                continue;
            };
            let secrets = match self.secrets().open(&row) {
                Ok(secrets) => secrets,
                Err(problem) => {
                    tracing::error!(plugin = %row.plugin_id, %problem, "skipping an integration whose secrets cannot be opened; the ID was not sent");
                    continue;
                }
            };
            let runtime = self.runtime().clone();
            let plugin = available.plugin.clone();
            let config = plugin_config(available.manifest(), guild_id, row.config.into_iter());
            let index = order.len();
            let span = tracing::info_span!("plugin_at_open", plugin = %row.plugin_id);
            order.push(available);
            tasks.spawn(
                async move {
                    (
                        index,
                        runtime
                            .on_ticket_opened(&plugin, user_id, config, secrets)
                            .await,
                    )
                }
                .instrument(span),
            );
        }
        let mut results: Vec<Option<RunResult>> = vec![None; order.len()];
        // The runtime bounds each event already; this bounds the ticket even if that failed.
        let deadline = tokio::time::Instant::now() + self.event_timeout() + GRACE;
        loop {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(Ok((index, outcome)))) => {
                    for line in &outcome.log {
                        tracing::debug!(plugin = %order[index].manifest().id, line, "plugin log");
                    }
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
        let now = crate::store::now_ms();
        let mut runs = Vec::with_capacity(order.len());
        let mut deliveries = Vec::with_capacity(order.len());
        for (available, result) in order.iter().zip(results) {
            let m = available.manifest();
            let result = result.unwrap_or(Err(PluginFailure::Timeout(self.event_timeout())));
            deliveries.push(records::delivery(
                &available.plugin.inspection,
                Received {
                    guild_id,
                    ticket_id: Some(ticket_id),
                    user_id,
                    at: now,
                    result: &result,
                },
            ));
            runs.push(PluginRun {
                plugin_id: m.id.clone(),
                name: m.name.clone(),
                privacy_policy: m.privacy_policy.clone(),
                result,
                disabled_now: false,
            });
        }
        if let Err(err) = store.record_deliveries(&deliveries).await {
            tracing::error!(error = %err, "cannot record which integrations received a user ID");
        }
        for (run, available) in runs.iter_mut().zip(&order) {
            match self
                .health()
                .note(store, guild_id, available, &run.result)
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

/// The plugins that one ticket's runs disabled after `failures` failures in a row, as events
/// for the server's admins.
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
                .map(ToString::to_string)
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
        };
        let events = auto_disabled(&[run("a", false), run("b", true)], 3);
        assert_eq!(
            events,
            [AutoDisabled {
                plugin_id: "b".to_owned(),
                name: "The b".to_owned(),
                failures: 3,
                last_error: "trap: boom".to_owned(),
            }]
        );
    }
}
