//! `test-noop`: returns no placeholders at once; the instantiate-and-call benchmark runs it.

use tessera_plugin_sdk::{Placeholder, Plugin, PluginError, TicketOpened};

struct Noop;

impl Plugin for Noop {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        Ok(Vec::new())
    }
}

tessera_plugin_sdk::export_plugin!(Noop, manifest = "plugin.toml");
