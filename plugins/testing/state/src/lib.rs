//! `test-state`: counts its calls in a static and returns the count as `count`. A fresh instance
//! per event means the answer is always "1".

use std::sync::atomic::{AtomicU64, Ordering};

use tessera_plugin_sdk::{placeholder, Placeholder, Plugin, PluginError, TicketOpened};

static COUNTER: AtomicU64 = AtomicU64::new(0);

struct State;

impl Plugin for State {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let count = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(vec![placeholder("count", count.to_string())])
    }
}

tessera_plugin_sdk::export_plugin!(State, manifest = "plugin.toml");
