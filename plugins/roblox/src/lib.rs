//! What the Roblox plugins (`bloxlink`, `rover`) share: once a link service has named the ticket
//! opener's Roblox user ID, the public profile behind it and the `roblox_*` placeholders.
//!
//! # Layout
//!
//! - [`users`]: Roblox user IDs, `users.roblox.com/v1/users/{id}` and the profile it answers.
//! - [`placeholders`]: the `roblox_*` placeholders built from an ID and, if known, a profile.
//! - [`date`]: RFC 3339 timestamps to Unix time and calendar dates (account creation and age).
//! - [`errors`]: the messages admins see when a link service fails, shared so they read alike.

pub mod date;
pub mod errors;
pub mod placeholders;
pub mod users;
