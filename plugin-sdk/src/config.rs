//! The non-secret settings a server's admins gave the plugin (keys declared in `[[config]]`).

use crate::bindings::tessera::plugin::config as wit;
use crate::PluginError;

/// The value of a config key the manifest declares, if the server set it.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// Whether the secret `name` is set: one of the manifest's `[[secrets]]`, or an entry of a
/// `named = true` one. Its value never enters the plugin: write `{{secret.NAME}}` in a request
/// header's value and the host puts the secret there when the request goes to its host, in a
/// header the manifest lists in the secret's `headers` (default `Authorization`).
pub fn has_secret(name: &str) -> bool {
    wit::has_secret(name)
}

/// The server's Discord ID, for a plugin whose manifest says `receives_server_id = true`
/// (admins are told before they enable it); `None` otherwise.
pub fn server_id() -> Option<u64> {
    get(SERVER_ID).and_then(|id| id.parse().ok())
}

/// The config key under which the host provides the server's ID.
pub const SERVER_ID: &str = "server_id";

/// The value of a config key the plugin cannot work without.
///
/// A missing or blank value is [`PluginError::BadConfig`], which tells the server's admins to fix
/// the plugin's settings.
pub fn require(key: &str) -> Result<String, PluginError> {
    get(key)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| PluginError::BadConfig(format!("the setting `{key}` is not set")))
}
