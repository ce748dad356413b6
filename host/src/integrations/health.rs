//! Whether a server's integrations keep working: failures in a row are counted, and at the
//! operator's threshold Tessera disables the plugin for that server and says so as an
//! [`AutoDisabled`] event (derived from a ticket's runs by
//! [`Integrations::auto_disabled`](crate::integrations::Integrations::auto_disabled)), which
//! the Discord side renders for the server's admins.

use crate::integrations::Available;
use crate::plugins::runtime::PluginFailure;
use crate::store::{ConsentAction, Store, StoreError};

/// Tessera turned a plugin off in a server after repeated failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoDisabled {
    /// The manifest's id.
    pub plugin_id: String,
    /// The manifest's display name (the plugin's own text: render it inert).
    pub name: String,
    /// Failures in a row that disabled it.
    pub failures: u32,
    /// The last failure (the plugin's own text: render it inert).
    pub last_error: String,
}

/// Failure counting for one process's settings.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    disable_after: u32,
}

/// The failures that count toward disabling a plugin: everything except "nothing to show
/// for this member", which is a normal answer.
pub fn counts_as_failure(failure: &PluginFailure) -> bool {
    !matches!(
        failure,
        PluginFailure::Plugin {
            kind: "not-found",
            ..
        }
    )
}

impl Health {
    /// Disables a plugin after `disable_after` failures in a row (at least one).
    pub fn new(disable_after: u32) -> Health {
        Health {
            disable_after: disable_after.max(1),
        }
    }

    /// The failures in a row after which a plugin is disabled.
    pub fn disable_after(&self) -> u32 {
        self.disable_after
    }

    /// Counts one run's outcome; `true` when this failure disabled the plugin (only one
    /// concurrent run ever gets `true`, so admins are told once).
    pub async fn note(
        &self,
        store: &Store,
        guild_id: u64,
        available: &Available,
        result: &Result<Vec<(String, String)>, PluginFailure>,
    ) -> Result<bool, StoreError> {
        match result {
            Err(failure) if counts_as_failure(failure) => {
                tracing::warn!(plugin = %available.manifest().id, error = %failure, "an integration failed at ticket open");
                let consent = available.consent(guild_id, ConsentAction::AutoDisabled, None);
                store
                    .note_integration_failure(&consent, self.disable_after, &failure.to_string())
                    .await
            }
            _ => {
                store
                    .note_integration_success(guild_id, &available.manifest().id)
                    .await?;
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn not_found_is_an_answer_not_a_failure() {
        assert!(!counts_as_failure(&PluginFailure::Plugin {
            kind: "not-found",
            message: String::new()
        }));
        assert!(counts_as_failure(&PluginFailure::Plugin {
            kind: "upstream",
            message: String::new()
        }));
        assert!(counts_as_failure(&PluginFailure::Timeout(
            Duration::from_secs(3)
        )));
    }

    #[test]
    fn a_plugin_is_disabled_after_at_least_one_failure() {
        assert_eq!(Health::new(0).disable_after(), 1);
        assert_eq!(Health::new(3).disable_after(), 3);
    }
}
