//! What a Discord REST failure means for the person who triggered it.

use serenity::http::HttpError;

/// A Discord refusal, sorted by what the member or admin can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscordFailure {
    /// 403: the bot lacks a permission; an admin must grant it.
    MissingPermissions,
    /// 404: the channel, message or role is gone.
    NotFound,
    /// 429: Discord asked us to slow down.
    RateLimited,
    /// 5xx, a timeout or a broken connection: try again later.
    Unavailable,
    /// Anything else (a 400 means a bug on our side).
    Other,
}

impl DiscordFailure {
    /// Sorts a serenity error.
    pub fn of(err: &serenity::Error) -> DiscordFailure {
        match err {
            serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) => {
                match resp.status_code.as_u16() {
                    403 => DiscordFailure::MissingPermissions,
                    404 => DiscordFailure::NotFound,
                    429 => DiscordFailure::RateLimited,
                    500..=599 => DiscordFailure::Unavailable,
                    _ => DiscordFailure::Other,
                }
            }
            serenity::Error::Http(HttpError::Request(_)) | serenity::Error::Io(_) => {
                DiscordFailure::Unavailable
            }
            _ => DiscordFailure::Other,
        }
    }

    /// A sentence for the member when nothing more specific applies.
    pub fn generic_advice(self) -> &'static str {
        match self {
            DiscordFailure::MissingPermissions => {
                "Discord refused: Tessera is missing a permission here. Ask an admin to check Tessera's role."
            }
            DiscordFailure::NotFound => "Discord says that channel or message no longer exists.",
            DiscordFailure::RateLimited => {
                "Discord is rate-limiting Tessera right now. Please try again in a few seconds."
            }
            DiscordFailure::Unavailable => {
                "Discord is having trouble right now. Please try again in a minute."
            }
            DiscordFailure::Other => {
                "Discord refused that request. Please try again; if it keeps happening, tell the server's admins."
            }
        }
    }
}
