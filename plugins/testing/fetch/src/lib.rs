//! `test-fetch`: GETs the URL in config key `url` (with the optional extra header
//! `header_name: header_value`) and returns `status` and `body` (its first 200 characters), or,
//! when the request fails, `error` = `<variant>: <message>`. A failed request still returns `Ok`
//! so that the host's tests can read which rule stopped it.

use tessera_plugin_sdk::http::{self, Method, Request};
use tessera_plugin_sdk::{
    config, placeholder, truncate, Placeholder, Plugin, PluginError, TicketOpened,
};

struct Fetch;

impl Plugin for Fetch {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let url = config::require("url")?;
        let headers = match (config::get("header_name"), config::get("header_value")) {
            (Some(name), value) => vec![(name, value.unwrap_or_default())],
            (None, _) => Vec::new(),
        };
        let request = Request {
            method: Method::Get,
            url,
            headers,
            body: None,
        };
        Ok(match http::fetch(&request) {
            Ok(response) => vec![
                placeholder("status", response.status.to_string()),
                placeholder("body", truncate(&response.text(), 200)),
            ],
            Err(e) => vec![placeholder(
                "error",
                format!("{}: {}", e.kind(), e.message()),
            )],
        })
    }
}

tessera_plugin_sdk::export_plugin!(Fetch, manifest = "plugin.toml");
