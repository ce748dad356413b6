//! HTTPS through the host: the only way out of the sandbox.
//!
//! [`fetch`] is the raw call. [`get_json`] and [`post_json`] cover the usual case and turn every
//! failure into the [`PluginError`] that tells the server's admins what happened. Requests may go
//! only to `https://` URLs on the hosts the manifest's `allowed_hosts` lists, at most three per
//! event; secrets are added by the host, never by the plugin.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::bindings::tessera::plugin::http::{FetchError, Method, Request, Response};
use crate::PluginError;

/// Sends a request through the host, which enforces the manifest and the sandbox rules.
pub fn fetch(request: &Request) -> Result<Response, FetchError> {
    crate::bindings::tessera::plugin::http::fetch(request)
}

/// Sends a `GET` to `url` with extra `headers`.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, FetchError> {
    fetch(&Request {
        method: Method::Get,
        url: url.to_owned(),
        headers: owned_headers(headers),
        body: None,
    })
}

/// `GET`s `url` and decodes a 2xx JSON answer as `T`.
///
/// Failures map to [`PluginError`]: see [`Response::error_for_status`] for statuses and
/// [`From<FetchError>`](#impl-From<FetchError>-for-PluginError) for requests that did not complete;
/// a body that is not the expected JSON is [`PluginError::Upstream`].
pub fn get_json<T: DeserializeOwned>(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<T, PluginError> {
    let mut headers = headers.to_vec();
    if !has_header(&headers, "accept") {
        headers.push(("Accept", "application/json"));
    }
    get(url, &headers)?
        .error_for_status(Method::Get, url)?
        .json()
}

/// `POST`s `body` as JSON to `url` and decodes a 2xx JSON answer as `T`; errors as [`get_json`].
///
/// Use `T = serde_json::Value` (or [`IgnoredAny`](serde::de::IgnoredAny)) when the answer does
/// not matter.
pub fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    headers: &[(&str, &str)],
    body: &B,
) -> Result<T, PluginError> {
    let body = serde_json::to_vec(body)
        .map_err(|e| PluginError::Internal(format!("could not encode the request body: {e}")))?;
    let mut headers = owned_headers(headers);
    if !has_header(&headers, "content-type") {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    if !has_header(&headers, "accept") {
        headers.push(("Accept".to_owned(), "application/json".to_owned()));
    }
    let request = Request {
        method: Method::Post,
        url: url.to_owned(),
        headers,
        body: Some(body),
    };
    fetch(&request)?.error_for_status(Method::Post, url)?.json()
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The response itself if its status is 2xx; otherwise the [`PluginError`] it stands for.
    ///
    /// 401 and 403 are [`Denied`](PluginError::Denied), 404 is
    /// [`NotFound`](PluginError::NotFound), 429 is [`RateLimited`](PluginError::RateLimited),
    /// anything else (5xx, redirects, other 4xx) is [`Upstream`](PluginError::Upstream). `method`
    /// and `url` only name the request in the message.
    pub fn error_for_status(self, method: Method, url: &str) -> Result<Self, PluginError> {
        if self.is_success() {
            return Ok(self);
        }
        let message = format!(
            "{} {url} answered HTTP {}",
            method_name(method),
            self.status
        );
        Err(match self.status {
            401 | 403 => PluginError::Denied(message),
            404 => PluginError::NotFound(message),
            429 => PluginError::RateLimited(message),
            _ => PluginError::Upstream(message),
        })
    }

    /// The body decoded as JSON; a body that does not decode is [`PluginError::Upstream`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| PluginError::Upstream(format!("unexpected answer: {e}")))
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl FetchError {
    /// The WIT name of the case: `denied`, `destination-prohibited`, `timeout`, `too-large` or
    /// `transport`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Denied(_) => "denied",
            Self::DestinationProhibited(_) => "destination-prohibited",
            Self::Timeout => "timeout",
            Self::TooLarge => "too-large",
            Self::Transport(_) => "transport",
        }
    }

    /// What went wrong, in words.
    pub fn message(&self) -> &str {
        match self {
            Self::Denied(m) | Self::DestinationProhibited(m) | Self::Transport(m) => m,
            Self::Timeout => "the request took too long",
            Self::TooLarge => "the response was larger than the host's limit",
        }
    }
}

/// A request that did not complete. A request the sandbox refused is the plugin's own mistake
/// ([`Internal`](PluginError::Internal)); everything else is the upstream service's
/// ([`Upstream`](PluginError::Upstream)).
impl From<FetchError> for PluginError {
    fn from(error: FetchError) -> Self {
        let message = format!("{}: {}", error.kind(), error.message());
        match error {
            FetchError::Denied(_) => PluginError::Internal(message),
            FetchError::DestinationProhibited(_)
            | FetchError::Timeout
            | FetchError::TooLarge
            | FetchError::Transport(_) => PluginError::Upstream(message),
        }
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

fn owned_headers(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn has_header<S: AsRef<str>>(headers: &[(S, S)], name: &str) -> bool {
    headers
        .iter()
        .any(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn status_error(status: u16) -> PluginError {
        match response(status, "").error_for_status(Method::Get, "https://api.example.com/x") {
            Ok(_) => panic!("HTTP {status} was taken for success"),
            Err(e) => e,
        }
    }

    #[test]
    fn statuses_map_to_the_error_admins_can_act_on() {
        assert!(matches!(status_error(401), PluginError::Denied(_)));
        assert!(matches!(status_error(403), PluginError::Denied(_)));
        assert!(matches!(status_error(404), PluginError::NotFound(_)));
        assert!(matches!(status_error(429), PluginError::RateLimited(_)));
        assert!(matches!(status_error(500), PluginError::Upstream(_)));
        assert!(matches!(status_error(503), PluginError::Upstream(_)));
        assert!(matches!(status_error(302), PluginError::Upstream(_)));
        assert!(matches!(status_error(400), PluginError::Upstream(_)));
    }

    #[test]
    fn status_error_names_the_request() {
        let PluginError::Upstream(message) = status_error(502) else {
            panic!("502 is an upstream error");
        };
        assert_eq!(message, "GET https://api.example.com/x answered HTTP 502");
    }

    #[test]
    fn success_passes_through_and_decodes() {
        let ok = response(200, r#"{"id": 7}"#)
            .error_for_status(Method::Get, "https://api.example.com/x")
            .map_err(|e| e.to_string())
            .and_then(|r| r.json::<serde_json::Value>().map_err(|e| e.to_string()));
        assert_eq!(ok, Ok(serde_json::json!({"id": 7})));
    }

    #[test]
    fn bad_json_is_an_upstream_error() {
        let result = response(200, "<html>").json::<serde_json::Value>();
        assert!(matches!(result, Err(PluginError::Upstream(_))));
    }

    #[test]
    fn fetch_errors_map_to_plugin_errors() {
        let denied = PluginError::from(FetchError::Denied("host not allowed".into()));
        assert!(matches!(denied, PluginError::Internal(ref m) if m == "denied: host not allowed"));
        assert!(matches!(
            PluginError::from(FetchError::Timeout),
            PluginError::Upstream(_)
        ));
        assert!(matches!(
            PluginError::from(FetchError::TooLarge),
            PluginError::Upstream(_)
        ));
        assert!(matches!(
            PluginError::from(FetchError::Transport("reset".into())),
            PluginError::Upstream(_)
        ));
        assert!(matches!(
            PluginError::from(FetchError::DestinationProhibited("10.0.0.1".into())),
            PluginError::Upstream(_)
        ));
    }

    #[test]
    fn header_lookup_ignores_case() {
        assert_eq!(
            response(200, "").header("content-type"),
            Some("application/json")
        );
        assert_eq!(response(200, "").header("x-missing"), None);
    }
}
