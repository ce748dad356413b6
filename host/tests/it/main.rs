//! Tessera's integration tests: one binary, so it links once.
//!
//! - `db`: a fresh SQLite file or PostgreSQL database per test.
//! - `app`: `spawn_app()` — the Discord emulator, a fresh database and the real bot.
//! - `store`: the store suite, on both backends (`store::stats`: the statistics' counters and
//!   schema; `store_rights`: a member's records, export and deletion).
//! - `compile_cache`: compiled plugins cached on disk, through the runtime.
//! - `compile_worker`: uploads compile in a worker process stopped at CPU, memory and time limits.
//! - `embedded`: the first-party plugins shipped inside the binary.
//! - `fair_share`: one server's plugins cannot starve another's of sandbox slots.
//! - `guest_unit_tests`: the SDK's and the first-party plugins' own unit tests, run natively.
//! - `plugins`: the Wasm sandbox with real components built from `plugins/` (`plugin_files`).
//! - `mock`: a scriptable loopback HTTP server standing in for Bloxlink, RoVer, Roblox, webhooks.
//! - `bot_*`: every command, refusal and failure path through the emulator, on both backends
//!   (`bot_privacy_rights`: a member's export and deletion of their data).

mod app;
mod bot_failures;
mod bot_first_party;
mod bot_integrations;
mod bot_privacy_rights;
mod bot_setup;
mod bot_stats;
mod bot_tickets;
mod bot_transcripts;
mod bot_uploads;
mod cli;
mod compile_cache;
mod compile_worker;
mod db;
mod embedded;
mod fair_share;
mod guest_unit_tests;
mod mock;
mod plugin_files;
mod plugins;
mod store;
mod store_rights;
