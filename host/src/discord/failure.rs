//! What a Discord REST failure means for the person who triggered it.

use serenity::http::HttpError;

pub use crate::tickets::DiscordFailure;

/// Sorts a serenity error by what the member or admin can do about it.
pub fn classify(err: &serenity::Error) -> DiscordFailure {
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
pub fn generic_advice(failure: DiscordFailure) -> &'static str {
    match failure {
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
