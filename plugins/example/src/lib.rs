//! The example Tessera plugin, meant to be copied: it reads an optional setting, writes one log
//! line and fills two placeholders, `%example.user_id%` and `%example.greeting%`, without any
//! network access.

use tessera_plugin_sdk::{
    config, log, placeholder, Placeholder, Plugin, PluginError, TicketOpened,
};

/// The greeting used when the server's admins set none.
const DEFAULT_GREETING: &str = "Hello";

struct Example;

impl Plugin for Example {
    fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let greeting = config::get("greeting")
            .filter(|g| !g.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_GREETING.to_owned());
        log::info!("greeting user {}", event.user_id);
        Ok(vec![
            placeholder("user_id", event.user_id.to_string()),
            placeholder("greeting", greeting),
        ])
    }
}

tessera_plugin_sdk::export_plugin!(Example, manifest = "plugin.toml");
