//! The [`Plugin`] trait: one method per event the host sends.

use crate::{Placeholder, PluginError, TicketOpened};

/// A Tessera plugin: what it does for each event.
///
/// Every event runs in a fresh instance, so there is no `self` and no state survives between
/// calls. Events added in later versions of the contract will come as methods with a default
/// body, so existing plugins keep compiling.
pub trait Plugin {
    /// Called once per ticket opened in a server that enabled this plugin; the placeholders
    /// returned fill the ticket's welcome message as `%plugin-id.name%`.
    fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError>;

    /// Checks the settings a server's admins are saving, before they are stored: read them with
    /// [`config::get`](crate::config::get) and [`config::has_secret`](crate::config::has_secret),
    /// and return what is wrong in words meant for the admin (it is shown to them as it is).
    /// The network is closed during this call. The default accepts everything the manifest
    /// allows (the host has already checked required keys and URL-valued host settings).
    fn validate_config() -> Result<(), String> {
        Ok(())
    }
}
