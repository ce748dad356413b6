//! Privacy promises as code: each function here keeps one row of `PRIVACY.md`.
//!
//! # Layout
//!
//! - [`forget`] — #8: when the bot leaves a server, that server's data and caches go
//!   ([`forget::server_left`]); later, a member's own deletion (#11).
//! - [`records`] — #14, #16, #17: the consent record of each enable, disable and upload, and
//!   the delivery record of each user ID an integration received.
//! - [`retention`] — #6, #7, #13: expired transcripts, old closed tickets and old statistics
//!   are purged.
//! - [`disclosure`] — #15, #16: the one text saying what an integration receives, where it may
//!   send it and under which privacy policy; every message to a member or admin uses it.

pub mod disclosure;
pub mod forget;
pub mod records;
pub mod retention;
