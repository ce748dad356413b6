//! Tessera: a Discord ticket bot whose integrations are sandboxed WebAssembly plugins.
//!
//! # Layout
//!
//! - [`cli`] — the `tessera` command line (`run`, `migrate`); `main.rs` only calls it.
//! - [`config`] — typed settings from `tessera.toml` and `TESSERA_*` variables.
//! - [`startup`] — builds the application and runs it until a shutdown signal.
//! - [`telemetry`] — logging.
//! - [`transcripts`] — closed tickets' conversations: captured, sealed, stored, rendered.
//! - [`unicode`] — Unicode rules for showing text from members and plugins.
//! - [`stats`] — aggregate statistics: counters per server and day, no user ids.
//! - [`store`] — the database (SQLite or PostgreSQL) behind one API.
//! - [`tickets`] — the ticket service: open, close, claim, members and their rules, behind a
//!   Discord port; no serenity, no user-facing text.
//! - [`discord`] — the serenity adapter: gateway handler, router, custom ids, commands (the words),
//!   the REST implementation of the ticket service's port, Discord's text rules.
//! - [`guild_work`] — work in flight per server; leaving a server waits for it.
//! - [`cache`] — bounded, short-lived caches of fetched Discord objects.
//! - [`bot`] — the state shared by handlers.
//! - [`plugin_cli`] — `tessera plugin inspect|run|pack` for plugin authors.
//! - [`plugins`] — the sandbox: one [`plugins::policy::SandboxPolicy`] holding every limit, the
//!   runtime, egress (URL rules, allowed hosts, blocked networks, secrets, client), manifests.
//! - [`integrations`] — which plugins a server enabled, running them at ticket open, privacy records.
//! - [`privacy`] — one function per PRIVACY.md promise: forget, records, disclosure, retention,
//!   a member's export (access) and deletion (erasure).
//! - [`secrets`] — integration secrets sealed at rest.

pub mod bot;
pub mod cache;
pub mod cli;
pub mod config;
pub mod discord;
pub mod guild_work;
pub mod integrations;
pub mod plugin_cli;
pub mod plugins;
pub mod privacy;
pub mod secrets;
pub mod startup;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod tickets;
pub mod transcripts;
pub mod unicode;
