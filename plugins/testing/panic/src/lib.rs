//! `test-panic`: panics, which traps the instance.

use tessera_plugin_sdk::{Placeholder, Plugin, PluginError, TicketOpened};

struct Panic;

impl Plugin for Panic {
    fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        panic!("test-panic panicked on purpose for user {}", event.user_id);
    }
}

tessera_plugin_sdk::export_plugin!(Panic, manifest = "plugin.toml");
