//! `test-sleep`: sleeps (in `wasi:io/poll`, using no CPU) for the config key `ms` milliseconds
//! (default: a minute, longer than any event), then answers `slept=yes`. A server's hostile
//! plugin that holds sandbox slots for as long as it is allowed to.

use std::time::Duration;

use tessera_plugin_sdk::{config, placeholder, Placeholder, Plugin, PluginError, TicketOpened};

struct Sleep;

impl Plugin for Sleep {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let ms = config::get("ms")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(60_000);
        std::thread::sleep(Duration::from_millis(ms));
        Ok(vec![placeholder("slept", "yes")])
    }
}

tessera_plugin_sdk::export_plugin!(Sleep, manifest = "plugin.toml");
