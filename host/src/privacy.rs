//! Privacy promises as code: each function here keeps one row of `PRIVACY.md`.
//!
//! # Layout
//!
//! - [`forget`] — #8: when the bot leaves a server, that server's data and caches go
//!   ([`forget::server_left`]).
//! - [`access`] — #10, #17: a member's export of everything stored about them (versioned JSON).
//! - [`erasure`] — #11, #20: a member's own deletion, at once, and what is kept and why.
//! - [`records`] — #14, #16, #17: the consent record of each enable, disable and upload, and
//!   the delivery record of each user ID an integration received.
//! - [`retention`] — #6, #7, #11, #13: expired transcripts, old closed tickets, old statistics
//!   and members' deletion requests no open ticket needs any more are purged.
//! - [`disclosure`] — #15, #16: the one text saying what an integration receives, where it may
//!   send it and under which privacy policy; every message to a member or admin uses it.

pub mod access;
pub mod disclosure;
pub mod erasure;
pub mod forget;
pub mod records;
pub mod retention;
