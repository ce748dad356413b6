//! The Bloxlink plugin: the Roblox account the ticket opener linked with Bloxlink, as the
//! `roblox_*` placeholders (`%bloxlink.roblox_username%`, ...).
//!
//! One request to Bloxlink finds the linked Roblox user ID (with a global key, or a server key
//! when `scope = server`); one to Roblox's public users API reads the profile. If Roblox fails,
//! the plugin still shows what the link gave (`roblox_id`, `roblox_profile_url`).
//!
//! # Layout
//!
//! - `lookup.rs`: the key's scope, the endpoint, and what Bloxlink's answers mean.
//! - The Roblox step and the placeholders come from the shared `tessera-roblox` crate.

mod lookup;

use lookup::{lookup_url, read_link, Scope, SERVICE};
use tessera_plugin_sdk::{config, http, log, Placeholder, Plugin, PluginError, TicketOpened};
use tessera_roblox::placeholders::{now, roblox_placeholders};
use tessera_roblox::{errors, users};

struct Bloxlink;

impl Plugin for Bloxlink {
    fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let scope =
            Scope::parse(config::get("scope").as_deref()).map_err(PluginError::BadConfig)?;
        let url = lookup_url(scope, event.user_id, config::server_id())?;
        // The host adds the `api_key` secret as the Authorization header.
        let response = http::get(&url, &[("Accept", "application/json")])
            .map_err(|e| errors::unreachable(SERVICE, &e))?;
        let roblox_id = read_link(
            response.status,
            response.header("retry-after"),
            &response.body,
        )?;
        log::info!("found a linked Roblox account");
        let user = users::fetch_user(roblox_id);
        Ok(roblox_placeholders(roblox_id, user.as_ref(), now()))
    }

    fn validate_config() -> Result<(), String> {
        Scope::parse(config::get("scope").as_deref()).map(|_| ())
    }
}

tessera_plugin_sdk::export_plugin!(Bloxlink, manifest = "plugin.toml");
