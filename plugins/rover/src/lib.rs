//! The RoVer plugin: the Roblox account the ticket opener verified with RoVer in this server, as
//! the `roblox_*` placeholders plus `rover_cached_username` (`%rover.roblox_username%`, ...).
//!
//! One request to RoVer's registry (always per server, with a key made for this server) finds the
//! verified Roblox user ID; one to Roblox's public users API reads the profile. If Roblox fails,
//! the plugin still shows what RoVer gave (the ID, the profile link, the cached username).
//!
//! # Layout
//!
//! - `lookup.rs`: the endpoint, what RoVer's answers mean, and the placeholders.
//! - The Roblox step comes from the shared `tessera-roblox` crate.

mod lookup;

use lookup::{lookup_url, read_link, rover_placeholders, SERVICE};
use tessera_plugin_sdk::{config, http, log, Placeholder, Plugin, PluginError, TicketOpened};
use tessera_roblox::placeholders::now;
use tessera_roblox::{errors, users};

struct Rover;

impl Plugin for Rover {
    fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let url = lookup_url(config::server_id(), event.user_id)?;
        // The host replaces the reference with the `api_key` secret, for this host only.
        let headers = [
            ("Authorization", "Bearer {{secret.api_key}}"),
            ("Accept", "application/json"),
        ];
        let response = http::get(&url, &headers).map_err(|e| errors::unreachable(SERVICE, &e))?;
        let link = read_link(
            response.status,
            response.header("retry-after"),
            &response.body,
        )?;
        log::info!("found a Roblox account verified with RoVer");
        let user = users::fetch_user(link.roblox_id);
        Ok(rover_placeholders(&link, user.as_ref(), now()))
    }
}

tessera_plugin_sdk::export_plugin!(Rover, manifest = "plugin.toml");
