//! The webhook plugin, a custom integration: it sends the ticket opener's Discord user ID to a
//! URL the server's admins chose (POST `{"user_id":"<id>"}`, or GET with the ID in the URL) and
//! shows fields of the JSON answer as placeholders they name (`%webhook.<name>%`).
//!
//! # Layout
//!
//! - `settings.rs`: the settings `url` and `method`, and the check of all four together.
//! - `headers.rs`: the setting `headers` (`Name: value` lines, `{{secret.NAME}}` references).
//! - `fields.rs`: the setting `placeholders` (`name = path` lines).
//! - `json_path.rs`: the paths into the answer, and a value's text.
//! - `answer.rs`: the request, and what the answer (or its failure) becomes.

mod answer;
mod fields;
mod headers;
mod json_path;
mod settings;

use settings::{RawSettings, Settings};
use tessera_plugin_sdk::{
    config, http, log, truncate, Placeholder, Plugin, PluginError, TicketOpened,
};

struct Webhook;

impl Plugin for Webhook {
    fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let settings = read_settings().map_err(|why| {
            PluginError::BadConfig(format!("{why} (fix it with /integrations config webhook)"))
        })?;
        let response = http::fetch(&answer::build_request(&settings, event.user_id))
            .map_err(|e| answer::fetch_error(&e))?;
        if let Some(error) = answer::status_error(response.status, response.header("retry-after")) {
            log::info!("the webhook answered HTTP {}", response.status);
            return Err(error);
        }
        let placeholders = answer::read_answer(&response.body, &settings.fields)?;
        log::info!(
            "the webhook answered HTTP {}; {} of {} fields found",
            response.status,
            placeholders.len(),
            settings.fields.len()
        );
        Ok(placeholders)
    }

    fn validate_config() -> Result<(), String> {
        read_settings().map(|_| ())
    }
}

/// The settings from the host, checked.
fn read_settings() -> Result<Settings, String> {
    let (url, method) = (config::get("url"), config::get("method"));
    let (headers, placeholders) = (config::get("headers"), config::get("placeholders"));
    let raw = RawSettings {
        url: url.as_deref(),
        method: method.as_deref(),
        headers: headers.as_deref(),
        placeholders: placeholders.as_deref(),
    };
    Settings::parse(raw, &config::has_secret)
}

/// Text the admins typed, cut for quoting in a message about it.
fn shown(text: &str) -> &str {
    truncate(text, 60)
}

tessera_plugin_sdk::export_plugin!(Webhook, manifest = "plugin.toml");
