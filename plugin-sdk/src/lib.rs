//! Write Tessera plugins: sandboxed WebAssembly components that add
//! placeholders to a ticket's welcome message.
//!
//! A plugin implements [`Plugin`], exports it with [`export_plugin!`] next to its manifest, and
//! is built with `cargo build --target wasm32-wasip2 --release`. The host runs each event in a
//! fresh, limited instance; the plugin learns only the ticket opener's Discord user ID, reaches
//! the network only through [`http`] (HTTPS, to the hosts its manifest declares), reads the
//! settings the server's admins gave it through [`config`], and writes to a capped [`log`].
//! Secrets never enter the plugin: the host adds them to requests bound for their host.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "roblox-lookup"
//! version = "0.1.0"
//! edition = "2021"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! serde = { version = "1", features = ["derive"] }
//! tessera-plugin-sdk = { path = "../../plugin-sdk" }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```ignore
//! use serde::Deserialize;
//! use tessera_plugin_sdk::{config, http, log, placeholder};
//! use tessera_plugin_sdk::{Placeholder, Plugin, PluginError, TicketOpened};
//!
//! struct RobloxLookup;
//!
//! #[derive(Deserialize)]
//! struct Account {
//!     username: String,
//! }
//!
//! impl Plugin for RobloxLookup {
//!     fn on_ticket_opened(event: TicketOpened) -> Result<Vec<Placeholder>, PluginError> {
//!         // Optional setting: fall back when the admins left it empty.
//!         let prefix = config::get("prefix").unwrap_or_default();
//!         // `api.example.com` is in the manifest's `allowed_hosts`; the host adds the
//!         // `api_key` secret as the `Authorization` header. A 404 becomes
//!         // `PluginError::NotFound` ("nothing to show"), a 401 `Denied`, a 429 `RateLimited`.
//!         let url = format!("https://api.example.com/v1/users/{}", event.user_id);
//!         let account: Account = http::get_json(&url, &[])?;
//!         log::info!("found an account for {}", event.user_id);
//!         Ok(vec![placeholder("username", format!("{prefix}{}", account.username))])
//!     }
//! }
//!
//! tessera_plugin_sdk::export_plugin!(RobloxLookup, manifest = "plugin.toml");
//! ```
//!
//! `plugin.toml` (embedded in the `.wasm` by [`export_plugin!`]; the host reads it without
//! running the plugin):
//!
//! ```toml
//! id = "roblox-lookup"
//! name = "Roblox lookup"
//! version = "0.1.0"
//! description = "Shows the ticket opener's Roblox username"
//! author = "Example Org"
//! privacy_policy = "https://example.com/privacy"
//! data_use = "Sends the ticket opener's Discord user ID to api.example.com to find their Roblox account."
//! allowed_hosts = ["api.example.com"]
//!
//! [[config]]
//! name = "prefix"
//! description = "Text shown before the username"
//! required = false
//!
//! [[secrets]]
//! name = "api_key"
//! description = "API key for api.example.com"
//! host = "api.example.com"
//! header = "Authorization"
//! ```
//!
//! The welcome message then uses `%roblox-lookup.username%`. The author's guide (manifest
//! fields, building, `tessera plugin inspect` / `tessera plugin run`, and the sandbox's limits)
//! is the SDK's `README.md`.
//!
//! # Layout
//!
//! - [`Plugin`] (`plugin.rs`): the trait a plugin implements, one method per event.
//! - [`export_plugin!`] (`export.rs`): exports the implementation and embeds the manifest.
//! - [`http`]: [`http::fetch`] and the typed [`http::get_json`] / [`http::post_json`].
//! - [`config`]: [`config::get`] and [`config::require`] for the server's settings.
//! - [`log`]: [`log::info!`] and friends.
//! - [`placeholder()`] (`placeholder.rs`): builds placeholders; the host's output limits.
//! - `error.rs`: [`PluginError::kind`] and [`PluginError::message`].
//! - `bindings.rs`: the code `wit-bindgen` generates from `../wit` (hidden).

// The export macro names this crate by its path so it works without `wit-bindgen` in scope.
extern crate self as tessera_plugin_sdk;

#[doc(hidden)]
pub mod bindings;
pub mod config;
mod error;
mod export;
pub mod http;
pub mod log;
mod placeholder;
mod plugin;

pub use bindings::tessera::plugin::types::{Placeholder, PluginError, TicketOpened, UserId};
pub use placeholder::{placeholder, truncate, MAX_NAME_CHARS, MAX_PLACEHOLDERS, MAX_VALUE_CHARS};
pub use plugin::Plugin;

/// What [`export_plugin!`] expands to refers to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::exports::tessera::plugin::handler::Guest;
    pub use wit_bindgen;
}
