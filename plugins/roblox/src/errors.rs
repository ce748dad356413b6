//! The [`PluginError`]s a link service's failures become, worded alike for every service: each
//! says what happened and what the admins can do about it.

use tessera_plugin_sdk::http::FetchError;
use tessera_plugin_sdk::{truncate, PluginError};

/// HTTP 429: the service asks Tessera to slow down.
pub fn rate_limited(service: &str, retry_after: Option<&str>) -> PluginError {
    PluginError::RateLimited(format!(
        "{service} is rate limiting the API key (HTTP 429{}); later tickets will try again. \
         If this keeps happening, check the key's request limits with {service}",
        retry_after_hint(retry_after)
    ))
}

/// HTTP 5xx: the service is failing.
pub fn having_trouble(service: &str, status: u16) -> PluginError {
    PluginError::Upstream(format!(
        "{service} is having trouble (HTTP {status}); tickets will try again"
    ))
}

/// A status the service's API does not document for this lookup (a redirect, another 4xx).
pub fn unexpected_status(service: &str, status: u16) -> PluginError {
    PluginError::Upstream(format!(
        "{service} answered something unexpected (HTTP {status})"
    ))
}

/// A 2xx answer that is not what the service's API documents.
pub fn unexpected(service: &str) -> PluginError {
    PluginError::Upstream(format!("{service} answered something unexpected"))
}

/// A request to the service that did not complete.
pub fn unreachable(service: &str, error: &FetchError) -> PluginError {
    match error {
        FetchError::Timeout => PluginError::Upstream(format!(
            "{service} did not answer in time; tickets will try again"
        )),
        FetchError::TooLarge => PluginError::Upstream(format!(
            "{service} answered something unexpected (too large)"
        )),
        FetchError::Transport(why) | FetchError::DestinationProhibited(why) => {
            PluginError::Upstream(format!(
                "could not reach {service} ({why}); tickets will try again"
            ))
        }
        // The plugin asked for something its manifest does not allow: a bug, not the admins'.
        FetchError::Denied(why) => PluginError::Internal(format!(
            "Tessera refused the request to {service} ({why}); please report this to the Tessera developers"
        )),
    }
}

/// `, retry after 30 s` from a `Retry-After` header (seconds or an HTTP date), or nothing.
pub fn retry_after_hint(retry_after: Option<&str>) -> String {
    let Some(value) = retry_after.map(str::trim).filter(|v| !v.is_empty()) else {
        return String::new();
    };
    if value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = value.trim_start_matches('0');
        return format!(
            ", retry after {} s",
            if seconds.is_empty() { "0" } else { seconds }
        );
    }
    // An HTTP date is at most 29 characters; anything longer is not one worth showing whole.
    format!(", retry after {}", truncate(value, 40))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(error: PluginError) -> (&'static str, String) {
        (error.kind(), error.message().to_owned())
    }

    #[test]
    fn rate_limits_say_when_to_retry_if_told() {
        assert_eq!(
            parts(rate_limited("Bloxlink", Some("30"))),
            (
                "rate-limited",
                "Bloxlink is rate limiting the API key (HTTP 429, retry after 30 s); later tickets \
                 will try again. If this keeps happening, check the key's request limits with Bloxlink"
                    .to_owned()
            )
        );
        assert_eq!(
            parts(rate_limited("RoVer", None)).1,
            "RoVer is rate limiting the API key (HTTP 429); later tickets will try again. \
             If this keeps happening, check the key's request limits with RoVer"
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after_hint(Some(" 007 ")), ", retry after 7 s");
        assert_eq!(retry_after_hint(Some("0")), ", retry after 0 s");
        assert_eq!(
            retry_after_hint(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            ", retry after Wed, 21 Oct 2015 07:28:00 GMT"
        );
        assert_eq!(retry_after_hint(Some("  ")), "");
        assert_eq!(retry_after_hint(None), "");
    }

    #[test]
    fn failures_are_told_apart() {
        assert_eq!(
            parts(having_trouble("Bloxlink", 503)),
            (
                "upstream",
                "Bloxlink is having trouble (HTTP 503); tickets will try again".to_owned()
            )
        );
        assert_eq!(
            parts(unexpected_status("RoVer", 302)),
            (
                "upstream",
                "RoVer answered something unexpected (HTTP 302)".to_owned()
            )
        );
        assert_eq!(
            parts(unexpected("RoVer")),
            ("upstream", "RoVer answered something unexpected".to_owned())
        );
    }

    #[test]
    fn requests_that_never_completed() {
        assert_eq!(
            parts(unreachable("Bloxlink", &FetchError::Timeout)),
            (
                "upstream",
                "Bloxlink did not answer in time; tickets will try again".to_owned()
            )
        );
        assert_eq!(
            parts(unreachable(
                "Bloxlink",
                &FetchError::Transport("connection reset".into())
            ))
            .1,
            "could not reach Bloxlink (connection reset); tickets will try again"
        );
        assert_eq!(
            parts(unreachable(
                "RoVer",
                &FetchError::Denied("host not allowed".into())
            )),
            (
                "internal",
                "Tessera refused the request to RoVer (host not allowed); please report this to \
                 the Tessera developers"
                    .to_owned()
            )
        );
    }
}
