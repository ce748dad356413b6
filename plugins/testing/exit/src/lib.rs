//! `test-exit`: calls `std::process::exit` with the config value `code` (default 0) instead of
//! answering, which ends the instance through WASI's `exit`. The host must report an exit, not
//! a trap.

use tessera_plugin_sdk::{config, Placeholder, Plugin, PluginError, TicketOpened};

struct Exit;

impl Plugin for Exit {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let code = match config::get("code") {
            None => 0,
            Some(text) => text
                .trim()
                .parse()
                .map_err(|e| PluginError::BadConfig(format!("`code` is not a number: {e}")))?,
        };
        std::process::exit(code)
    }
}

tessera_plugin_sdk::export_plugin!(Exit, manifest = "plugin.toml");
