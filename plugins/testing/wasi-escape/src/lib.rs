//! `test-wasi-escape`: tries to reach the world through WASI instead of the host's `fetch` and
//! reports each attempt as a placeholder — `fs`, `env`, `net` — whose value is
//! `denied: <error>` or `ALLOWED`. The host's tests assert all three are denied.

use tessera_plugin_sdk::{placeholder, Placeholder, Plugin, PluginError, TicketOpened};

struct WasiEscape;

fn outcome<T, E: std::fmt::Display>(attempt: Result<T, E>) -> String {
    match attempt {
        Ok(_) => "ALLOWED".to_owned(),
        Err(e) => format!("denied: {e}"),
    }
}

impl Plugin for WasiEscape {
    fn on_ticket_opened(_event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
        let fs = outcome(std::fs::read("/etc/passwd"));
        let env = outcome(std::env::var("HOME"));
        let net = outcome(std::net::TcpStream::connect("127.0.0.1:80"));
        Ok(vec![
            placeholder("fs", fs),
            placeholder("env", env),
            placeholder("net", net),
        ])
    }
}

tessera_plugin_sdk::export_plugin!(WasiEscape, manifest = "plugin.toml");
