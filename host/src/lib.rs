//! Tessera: a Discord ticket bot whose integrations are sandboxed WebAssembly plugins.
//!
//! # Layout
//!
//! - [`cli`] — the `tessera` command line (`run`, `migrate`); `main.rs` only calls it.
//! - [`config`] — typed settings from `tessera.toml` and `TESSERA_*` variables.
//! - [`startup`] — builds the application and runs it until a shutdown signal.
//! - [`telemetry`] — logging.
//! - [`store`] — the database (SQLite or PostgreSQL) behind one API.
//! - [`discord`] — the serenity adapter (client, gateway event handler).
//! - [`router`] — acknowledges each interaction, routes it, answers it.
//! - [`commands`] — one file per slash command.
//! - [`lifecycle`] — the ticket flows on Discord (open, close, claim, members).
//! - [`invocation`] — who called, where, with which permissions.
//! - [`reply`] — what the caller sees.
//! - [`discord_error`] — what a Discord refusal means for the caller.
//! - [`cache`] — bounded, short-lived caches of fetched Discord objects.
//! - [`bot`] — the state shared by handlers.
//! - [`plugin_cli`] — `tessera plugin inspect|run|pack` for plugin authors.
//! - [`plugins`] — sandboxed WebAssembly integrations (manifest, inspection, egress, runtime).
//! - [`integrations`] — which plugins a server enabled, running them at ticket open, privacy records.
//! - [`privacy`] — one function per PRIVACY.md promise: forget, records, disclosure.
//! - [`secrets`] — integration secrets sealed at rest.

pub mod bot;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod discord;
pub mod discord_error;
pub mod integrations;
pub mod invocation;
pub mod lifecycle;
pub mod plugin_cli;
pub mod plugins;
pub mod privacy;
pub mod reply;
pub mod router;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod telemetry;
