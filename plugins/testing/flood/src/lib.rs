//! `test-flood`: writes 10,000 log lines, then returns 10,000 placeholders with 100-character
//! names and 100 KB values, far past every output limit.
//!
//! At full size the placeholders alone need about 1 GB, so under the default memory limit the
//! instance traps while building them (after the log lines are written). The optional config keys
//! `count`, `name_len`, `value_len` and `log_lines` shrink the flood so that a test can reach the
//! host's output checks instead.

use tessera_plugin_sdk::{
    config, log, placeholder, Placeholder, Plugin, PluginError, TicketOpened,
};

struct Flood;

/// The config value of `key` as a number, or `default` when unset.
fn setting(key: &str, default: usize) -> Result<usize, PluginError> {
    match config::get(key) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|e| PluginError::BadConfig(format!("`{key}` is not a number: {e}"))),
    }
}

impl Plugin for Flood {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let count = setting("count", 10_000)?;
        let name_len = setting("name_len", 100)?;
        let value_len = setting("value_len", 100 * 1024)?;
        let log_lines = setting("log_lines", 10_000)?;

        for line in 0..log_lines {
            log::info!("flood line {line}: {}", "x".repeat(80));
        }
        Ok((0..count)
            .map(|i| {
                let mut name = format!("p{i}_");
                name.extend(std::iter::repeat_n(
                    'n',
                    name_len.saturating_sub(name.len()),
                ));
                name.truncate(name_len);
                placeholder(name, "v".repeat(value_len))
            })
            .collect())
    }
}

tessera_plugin_sdk::export_plugin!(Flood, manifest = "plugin.toml");
