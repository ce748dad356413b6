//! The non-secret settings a server's admins gave the plugin (keys declared in `[[config]]`).

use crate::bindings::tessera::plugin::config as wit;
use crate::PluginError;

/// The value of a config key the manifest declares, if the server set it.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// The value of a config key the plugin cannot work without.
///
/// A missing or blank value is [`PluginError::BadConfig`], which tells the server's admins to fix
/// the plugin's settings.
pub fn require(key: &str) -> Result<String, PluginError> {
    get(key)
        .filter(|value| !value.trim().is_empty())
        .ok_or_else(|| PluginError::BadConfig(format!("the setting `{key}` is not set")))
}
