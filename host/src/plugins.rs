//! Sandboxed WebAssembly integrations.
//!
//! - [`manifest`] — the static manifest every plugin embeds, and host patterns.
//! - [`component`] — reading a plugin file without running it (`inspect`), and `pack`.
//! - [`embedded`] — the first-party plugins, built from `plugins/` and shipped in the binary.
//! - [`egress`] — host-mediated HTTPS under the sandbox's rules.
//! - [`compile_cache`] — compiled plugins cached on disk, keyed by content and engine, and
//!   authenticated with a key kept outside the cache.
//! - [`compiler`] — compiling servers' uploads in a worker process the kernel limits.
//! - [`policy`] — every limit and grant of the sandbox in one value, and its one mapping from
//!   the operator's settings.
//! - [`runtime`] — the engine and per-event stores that run plugins under that policy.

pub mod compile_cache;
pub mod compiler;
pub mod component;
pub mod egress;
pub mod embedded;
pub mod manifest;
pub mod policy;
pub mod runtime;
