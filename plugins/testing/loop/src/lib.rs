//! `test-loop`: never returns, so the host's CPU limit (epoch interruption) must trap it.

use std::hint::black_box;

use tessera_plugin_sdk::{Placeholder, Plugin, PluginError, TicketOpened};

struct Loop;

impl Plugin for Loop {
    fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        // Busy work the optimiser cannot see through, so the loop stays a real loop.
        let mut n = event.user_id;
        loop {
            n = black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

tessera_plugin_sdk::export_plugin!(Loop, manifest = "plugin.toml");
