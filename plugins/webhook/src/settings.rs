//! The webhook's settings, checked together: `url`, `method`, `headers`, `placeholders`. The
//! same check runs when admins save them (`validate_config`) and before each request.

use tessera_plugin_sdk::http::Method;
use tessera_plugin_sdk::UserId;

use crate::fields::{parse_fields, Field};
use crate::headers::parse_headers;
use crate::shown;

/// Where the opener's ID goes in a GET URL.
pub const USER_ID: &str = "{user_id}";

/// The settings as the admins typed them (`None` = not set).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawSettings<'a> {
    /// `url`.
    pub url: Option<&'a str>,
    /// `method`.
    pub method: Option<&'a str>,
    /// `headers`.
    pub headers: Option<&'a str>,
    /// `placeholders`.
    pub placeholders: Option<&'a str>,
}

/// Valid settings: what the plugin sends and what it reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// GET (the ID in the URL) or POST (the ID in the body).
    pub method: Method,
    /// The URL, with `{user_id}` for GET.
    pub url: String,
    /// Extra headers, `{{secret.NAME}}` left for the host.
    pub headers: Vec<(String, String)>,
    /// The placeholders and where they are in the answer.
    pub fields: Vec<Field>,
}

impl Settings {
    /// Checks the settings; the error is one sentence for the admin, naming the setting (and
    /// line). `has_secret` says whether a named secret exists.
    pub fn parse(
        raw: RawSettings<'_>,
        has_secret: &dyn Fn(&str) -> bool,
    ) -> Result<Settings, String> {
        let method = parse_method(raw.method)?;
        let url = raw
            .url
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .ok_or("`url` is not set: give the https:// address Tessera should call")?;
        check_url(url, method)?;
        let headers = parse_headers(raw.headers.unwrap_or_default(), has_secret)?;
        let fields = parse_fields(raw.placeholders.unwrap_or_default())?;
        Ok(Settings {
            method,
            url: url.to_owned(),
            headers,
            fields,
        })
    }

    /// The URL to call for `user_id`.
    pub fn request_url(&self, user_id: UserId) -> String {
        self.url.replace(USER_ID, &user_id.to_string())
    }
}

/// `GET` or `POST` in any case; POST when unset or blank.
fn parse_method(method: Option<&str>) -> Result<Method, String> {
    match method.map(str::trim).unwrap_or_default() {
        "" => Ok(Method::Post),
        m if m.eq_ignore_ascii_case("post") => Ok(Method::Post),
        m if m.eq_ignore_ascii_case("get") => Ok(Method::Get),
        other => Err(format!(
            "`method` must be GET or POST, not `{}`",
            shown(other)
        )),
    }
}

/// Where `{user_id}` may be: in a GET URL's path or query, exactly spelled, and nowhere in a POST
/// URL. (The host has already checked the scheme, host and port.)
fn check_url(url: &str, method: Method) -> Result<(), String> {
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let candidate = &rest[open..];
        if !candidate.starts_with(USER_ID) {
            let end = candidate
                .find('}')
                .map_or(candidate.len(), |close| close + 1);
            return Err(format!(
                "`url`: `{}` is not a placeholder; the only one is {USER_ID}",
                shown(&candidate[..end])
            ));
        }
        rest = &candidate[USER_ID.len()..];
    }
    let has_user_id = url.contains(USER_ID);
    match method {
        Method::Post if has_user_id => Err(format!(
            "`url` must not contain {USER_ID} when `method` is POST: the opener's ID is sent in \
             the body as {{\"user_id\": \"...\"}}"
        )),
        Method::Get if !has_user_id => Err(format!(
            "`url` must contain {USER_ID} when `method` is GET, e.g. \
             https://example.com/members/{USER_ID}: that is where the opener's ID goes"
        )),
        _ => {
            let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
            let authority_end = after_scheme
                .find(['/', '?', '#'])
                .unwrap_or(after_scheme.len());
            let in_authority = after_scheme[..authority_end].contains(USER_ID);
            let in_fragment = after_scheme
                .find('#')
                .is_some_and(|hash| after_scheme[hash..].contains(USER_ID));
            if in_authority || in_fragment {
                return Err(format!(
                    "`url`: {USER_ID} may only be in the path or the query, e.g. \
                     https://example.com/members/{USER_ID} or https://example.com/lookup?id={USER_ID}"
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_path::{JsonPath, Step};

    fn raw<'a>(url: &'a str, method: &'a str) -> RawSettings<'a> {
        RawSettings {
            url: Some(url),
            method: Some(method),
            headers: Some("Authorization: Bearer {{secret.token}}"),
            placeholders: Some("name = user.name"),
        }
    }

    fn check(raw: RawSettings<'_>) -> Result<Settings, String> {
        Settings::parse(raw, &|name| name == "token")
    }

    #[test]
    fn valid_settings_are_read_whole() {
        let settings = check(raw("https://example.com/members/{user_id}?full=1", "get"));
        assert_eq!(
            settings,
            Ok(Settings {
                method: Method::Get,
                url: "https://example.com/members/{user_id}?full=1".into(),
                headers: vec![("Authorization".into(), "Bearer {{secret.token}}".into())],
                fields: vec![Field {
                    name: "name".into(),
                    path: JsonPath(vec![Step::Key("user".into()), Step::Key("name".into())]),
                }],
            })
        );
    }

    #[test]
    fn the_method_defaults_to_post() {
        let only_required = RawSettings {
            url: Some(" https://example.com/hook "),
            placeholders: Some("name = user.name"),
            ..RawSettings::default()
        };
        let settings = check(only_required);
        assert_eq!(settings.as_ref().map(|s| s.method), Ok(Method::Post));
        assert_eq!(
            settings.map(|s| (s.url, s.headers)),
            Ok(("https://example.com/hook".into(), vec![]))
        );
        assert!(check(raw("https://example.com/hook", " ")).is_ok());
        assert!(check(raw("https://example.com/hook", "Post")).is_ok());
        assert_eq!(
            check(raw("https://example.com/hook", "PUT")),
            Err("`method` must be GET or POST, not `PUT`".into())
        );
    }

    #[test]
    fn get_puts_the_id_in_the_path_or_query() {
        let settings = check(raw(
            "https://example.com/m/{user_id}/x?again={user_id}",
            "GET",
        ));
        assert_eq!(
            settings.map(|s| s.request_url(42)),
            Ok("https://example.com/m/42/x?again=42".into())
        );
        assert!(check(raw("https://example.com/lookup?id={user_id}", "GET")).is_ok());
        let misplaced = Err(
            "`url`: {user_id} may only be in the path or the query, e.g. \
             https://example.com/members/{user_id} or https://example.com/lookup?id={user_id}"
                .to_owned(),
        );
        assert_eq!(
            check(raw("https://{user_id}.example.com/", "GET")),
            misplaced
        );
        assert_eq!(
            check(raw("https://example.com/a#{user_id}", "GET")),
            misplaced
        );
        assert_eq!(
            check(raw("https://example.com/members", "GET")),
            Err("`url` must contain {user_id} when `method` is GET, e.g. \
                 https://example.com/members/{user_id}: that is where the opener's ID goes"
                .to_owned())
        );
    }

    #[test]
    fn post_sends_the_id_in_the_body_only() {
        assert_eq!(
            check(raw("https://example.com/hook/{user_id}", "POST")),
            Err(
                "`url` must not contain {user_id} when `method` is POST: the opener's ID is \
                 sent in the body as {\"user_id\": \"...\"}"
                    .to_owned()
            )
        );
    }

    #[test]
    fn other_braces_are_typos() {
        assert_eq!(
            check(raw("https://example.com/m/{userid}", "GET")),
            Err("`url`: `{userid}` is not a placeholder; the only one is {user_id}".into())
        );
        assert_eq!(
            check(raw("https://example.com/m/{user_id}{", "GET")),
            Err("`url`: `{` is not a placeholder; the only one is {user_id}".into())
        );
    }

    #[test]
    fn missing_and_broken_settings_are_named() {
        let mut settings = raw("https://example.com/hook", "POST");
        settings.url = Some("  ");
        assert_eq!(
            check(settings),
            Err("`url` is not set: give the https:// address Tessera should call".into())
        );
        let mut settings = raw("https://example.com/hook", "POST");
        settings.headers = Some("X-A: {{secret.other}}");
        assert_eq!(
            check(settings),
            Err("`headers` line 1: there is no secret `other`: add a line `other = ...` to `secrets`".into())
        );
        let mut settings = raw("https://example.com/hook", "POST");
        settings.placeholders = None;
        assert_eq!(
            check(settings),
            Err("`placeholders` is empty: add lines like `username = data.user.name`".into())
        );
    }
}
