//! The request the webhook gets and what its answer becomes: placeholders, or the error that
//! tells the admins what to fix.

use serde_json::Value;
use tessera_plugin_sdk::http::{FetchError, Method, Request};
use tessera_plugin_sdk::{
    placeholder, truncate, Placeholder, PluginError, UserId, MAX_VALUE_CHARS,
};

use crate::fields::Field;
use crate::json_path::value_text;
use crate::settings::Settings;

/// The request for `user_id`: GET with the ID in the URL, or POST with exactly
/// `{"user_id":"<id>"}`; the configured headers go as they are (the host fills in secrets).
pub fn build_request(settings: &Settings, user_id: UserId) -> Request {
    let mut headers = settings.headers.clone();
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("accept"))
    {
        headers.push(("Accept".to_owned(), "application/json".to_owned()));
    }
    let body = match settings.method {
        Method::Post => {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
            Some(format!(r#"{{"user_id":"{user_id}"}}"#).into_bytes())
        }
        _ => None,
    };
    Request {
        method: settings.method,
        url: settings.request_url(user_id),
        headers,
        body,
    }
}

/// The error a non-2xx status stands for (`None` for 2xx), with the `Retry-After` of a 429.
pub fn status_error(status: u16, retry_after: Option<&str>) -> Option<PluginError> {
    Some(match status {
        200..=299 => return None,
        401 | 403 => PluginError::Denied(format!(
            "the webhook refused Tessera's request (HTTP {status}): check `headers` and the \
             secrets they use with /integrations config webhook"
        )),
        404 => {
            PluginError::NotFound("the webhook has nothing for this member (HTTP 404)".to_owned())
        }
        429 => PluginError::RateLimited(format!(
            "the webhook is rate limiting Tessera (HTTP 429{}); later tickets will try again",
            retry_hint(retry_after)
        )),
        500..=599 => PluginError::Upstream(format!(
            "the webhook is having trouble (HTTP {status}); tickets will try again"
        )),
        300..=399 => PluginError::Upstream(format!(
            "the webhook answered with a redirect (HTTP {status}), which Tessera does not \
             follow: set `url` to the final address with /integrations config webhook"
        )),
        _ => PluginError::Upstream(format!(
            "the webhook answered HTTP {status}: check `url` and `method` with /integrations \
             config webhook"
        )),
    })
}

/// A request that did not complete.
pub fn fetch_error(error: &FetchError) -> PluginError {
    match error {
        FetchError::Timeout => PluginError::Upstream(
            "the webhook did not answer in time (Tessera waits about 3 seconds); tickets will \
             try again"
                .to_owned(),
        ),
        FetchError::TooLarge => PluginError::Upstream(
            "the webhook's answer is larger than Tessera accepts (256 KiB); make it shorter"
                .to_owned(),
        ),
        FetchError::Transport(why) => PluginError::Upstream(format!(
            "could not reach the webhook ({why}); check that `url` is up"
        )),
        FetchError::DestinationProhibited(why) => PluginError::BadConfig(format!(
            "the webhook's address is one Tessera may not call ({why}): `url` must point at a \
             public server"
        )),
        FetchError::Denied(why) => PluginError::BadConfig(format!(
            "Tessera refused the request to the webhook ({why}): check `url` and `headers` with \
             /integrations config webhook"
        )),
    }
}

/// The placeholders the fields pick from a 2xx answer's body; a field that is missing or `null`
/// gives none. A body that is not JSON is [`PluginError::Upstream`].
pub fn read_answer(body: &[u8], fields: &[Field]) -> Result<Vec<Placeholder>, PluginError> {
    let answer: Value = serde_json::from_slice(body).map_err(|_| {
        PluginError::Upstream(
            "the webhook's answer is not JSON: it must answer with a JSON body".to_owned(),
        )
    })?;
    Ok(fields
        .iter()
        .filter_map(|field| {
            let text = field.path.eval(&answer).and_then(value_text)?;
            Some(placeholder(&field.name, truncate(&text, MAX_VALUE_CHARS)))
        })
        .collect())
}

/// `, retry after 30 s` from a `Retry-After` header (seconds or an HTTP date), or nothing.
fn retry_hint(retry_after: Option<&str>) -> String {
    match retry_after.map(str::trim).filter(|value| !value.is_empty()) {
        Some(seconds) if seconds.bytes().all(|b| b.is_ascii_digit()) => {
            format!(", retry after {seconds} s")
        }
        // An HTTP date is at most 29 characters; anything longer is not one worth showing whole.
        Some(date) => format!(", retry after {}", truncate(date, 40)),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::parse_fields;
    use crate::settings::RawSettings;

    fn settings(url: &str, method: &str, headers: &str) -> Settings {
        let raw = RawSettings {
            url: Some(url),
            method: Some(method),
            headers: Some(headers),
            placeholders: Some("name = user.name"),
        };
        Settings::parse(raw, &|_| true).unwrap_or_else(|why| panic!("{why}"))
    }

    fn pairs(placeholders: &[Placeholder]) -> Vec<(&str, &str)> {
        placeholders
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect()
    }

    fn error(status: u16) -> Option<(&'static str, String)> {
        status_error(status, Some("30")).map(|e| (e.kind(), e.message().to_owned()))
    }

    #[test]
    fn post_sends_exactly_the_user_id() {
        let request = build_request(
            &settings("https://example.com/hook", "POST", "X-Key: {{secret.k}}"),
            42,
        );
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.url, "https://example.com/hook");
        assert_eq!(
            request.body.as_deref(),
            Some(br#"{"user_id":"42"}"#.as_slice())
        );
        assert_eq!(
            request.headers,
            [
                ("X-Key".to_owned(), "{{secret.k}}".to_owned()),
                ("Accept".to_owned(), "application/json".to_owned()),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ]
        );
    }

    #[test]
    fn get_sends_no_body() {
        let request = build_request(
            &settings(
                "https://example.com/m/{user_id}",
                "GET",
                "accept: text/json",
            ),
            42,
        );
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.url, "https://example.com/m/42");
        assert_eq!(request.body, None);
        assert_eq!(
            request.headers,
            [("accept".to_owned(), "text/json".to_owned())]
        );
    }

    #[test]
    fn statuses_become_errors_admins_can_act_on() {
        assert_eq!(error(200), None);
        assert_eq!(error(204), None);
        assert_eq!(
            error(401),
            Some((
                "denied",
                "the webhook refused Tessera's request (HTTP 401): check `headers` and the \
                 secrets they use with /integrations config webhook"
                    .to_owned()
            ))
        );
        assert_eq!(error(403).map(|e| e.0), Some("denied"));
        assert_eq!(
            error(404),
            Some((
                "not-found",
                "the webhook has nothing for this member (HTTP 404)".to_owned()
            ))
        );
        assert_eq!(
            error(429),
            Some((
                "rate-limited",
                "the webhook is rate limiting Tessera (HTTP 429, retry after 30 s); later \
                 tickets will try again"
                    .to_owned()
            ))
        );
        assert_eq!(
            status_error(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"))
                .map(|e| e.message().to_owned()),
            Some(
                "the webhook is rate limiting Tessera (HTTP 429, retry after Wed, 21 Oct 2015 \
                 07:28:00 GMT); later tickets will try again"
                    .to_owned()
            )
        );
        assert_eq!(
            status_error(429, None).map(|e| e.message().to_owned()),
            Some(
                "the webhook is rate limiting Tessera (HTTP 429); later tickets will try again"
                    .to_owned()
            )
        );
        assert_eq!(
            error(502),
            Some((
                "upstream",
                "the webhook is having trouble (HTTP 502); tickets will try again".to_owned()
            ))
        );
        assert_eq!(
            error(301),
            Some((
                "upstream",
                "the webhook answered with a redirect (HTTP 301), which Tessera does not follow: \
                 set `url` to the final address with /integrations config webhook"
                    .to_owned()
            ))
        );
        assert_eq!(
            error(400),
            Some((
                "upstream",
                "the webhook answered HTTP 400: check `url` and `method` with /integrations \
                 config webhook"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn failed_requests_say_what_to_check() {
        let parts = |e: FetchError| {
            let e = fetch_error(&e);
            (e.kind(), e.message().to_owned())
        };
        assert_eq!(parts(FetchError::Timeout).0, "upstream");
        assert_eq!(parts(FetchError::TooLarge).0, "upstream");
        assert_eq!(
            parts(FetchError::Transport("connection refused".into())),
            (
                "upstream",
                "could not reach the webhook (connection refused); check that `url` is up"
                    .to_owned()
            )
        );
        assert_eq!(
            parts(FetchError::DestinationProhibited("10.0.0.1".into())).0,
            "bad-config"
        );
        assert_eq!(
            parts(FetchError::Denied("forbidden header".into())).0,
            "bad-config"
        );
    }

    #[test]
    fn fields_become_placeholders() {
        let fields = parse_fields(
            "name = user.name\nage = user.age\nadmin = user.admin\nroles = roles\n\
             first = roles[0]\nmissing = user.nope\nnothing = user.note\nprofile = user.profile",
        )
        .unwrap_or_default();
        let body = br#"{"user": {"name": "Ada", "age": 36, "admin": false, "note": null,
            "profile": {"a": 1}}, "roles": ["x", "y"]}"#;
        let placeholders = read_answer(body, &fields).map_err(|e| e.to_string());
        assert_eq!(
            placeholders.as_deref().map(pairs),
            Ok(vec![
                ("name", "Ada"),
                ("age", "36"),
                ("admin", "false"),
                ("roles", r#"["x","y"]"#),
                ("first", "x"),
                ("profile", r#"{"a":1}"#),
            ])
        );
    }

    #[test]
    fn long_values_are_cut_to_the_host_limit() {
        let fields = parse_fields("bio = bio").unwrap_or_default();
        let body = serde_json::json!({"bio": "é".repeat(5000)}).to_string();
        let placeholders = read_answer(body.as_bytes(), &fields).unwrap_or_default();
        assert_eq!(placeholders[0].value.chars().count(), MAX_VALUE_CHARS);
    }

    #[test]
    fn an_answer_that_is_not_json_is_upstream() {
        let result =
            read_answer(b"<html>ok</html>", &[]).map_err(|e| (e.kind(), e.message().to_owned()));
        assert_eq!(
            result.map(|p| p.len()),
            Err((
                "upstream",
                "the webhook's answer is not JSON: it must answer with a JSON body".to_owned()
            ))
        );
    }
}
