//! The setting `headers`: one `Name: value` line per extra request header, whose values may
//! refer to the server's named secrets as `{{secret.NAME}}` (the host fills them in).

use crate::shown;

/// The most extra headers a webhook may send.
pub const MAX_HEADERS: usize = 10;

/// Headers Tessera or the HTTP layer sets, or that could smuggle a second request or credentials
/// Tessera does not control (compared lowercase; `proxy-*` is refused as a prefix).
const RESERVED: [&str; 8] = [
    "host",
    "cookie",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "content-type",
];

/// The headers in the setting's text; blank lines are skipped, and errors name the line.
/// `has_secret` says whether a named secret exists.
pub fn parse_headers(
    text: &str,
    has_secret: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fail = |why: String| format!("`headers` line {}: {why}", index + 1);
        let Some((name, value)) = line.split_once(':') else {
            return Err(fail(
                "expected `Name: value`, e.g. `Authorization: Bearer {{secret.token}}`".to_owned(),
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(fail(format!(
                "`{}` is not a valid header name",
                shown(name)
            )));
        }
        let lower = name.to_ascii_lowercase();
        if lower == "content-type" {
            return Err(fail(
                "Tessera always sends `Content-Type: application/json`; remove this line"
                    .to_owned(),
            ));
        }
        if RESERVED.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(fail(format!("the `{name}` header cannot be set")));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(fail("the value contains a control character".to_owned()));
        }
        check_secret_references(value, has_secret).map_err(fail)?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    if headers.len() > MAX_HEADERS {
        return Err(format!(
            "`headers` has {} headers; at most {MAX_HEADERS} are allowed",
            headers.len()
        ));
    }
    Ok(headers)
}

/// Every `{{` in `value` starts a well-formed `{{secret.NAME}}` whose secret exists.
fn check_secret_references(value: &str, has_secret: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let name = after
            .strip_prefix("secret.")
            .and_then(|r| r.find("}}").map(|end| &r[..end]))
            .filter(|name| is_secret_name(name))
            .ok_or_else(|| {
                "`{{` must start a secret reference like {{secret.NAME}} (letters, digits, `_` \
                 or `-` in NAME)"
                    .to_owned()
            })?;
        if !has_secret(name) {
            return Err(format!(
                "there is no secret `{name}`: add a line `{name} = ...` to `secrets`"
            ));
        }
        rest = &after["secret.".len() + name.len() + "}}".len()..];
    }
    Ok(())
}

/// A name a `{{secret.NAME}}` reference may use.
fn is_secret_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An RFC 9110 `tchar`: what a header name is made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
        parse_headers(text, &|name| name == "token" || name == "API-KEY")
    }

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn lines_become_headers() {
        assert_eq!(
            parse("Authorization: Bearer {{secret.token}}\n\n X-Key :{{secret.API-KEY}}-{{secret.token}} \nX-Empty:\nX-Url: https://a.example/x"),
            Ok(vec![
                header("Authorization", "Bearer {{secret.token}}"),
                header("X-Key", "{{secret.API-KEY}}-{{secret.token}}"),
                header("X-Empty", ""),
                header("X-Url", "https://a.example/x"),
            ])
        );
        assert_eq!(parse(""), Ok(vec![]));
    }

    #[test]
    fn each_mistake_names_its_line() {
        for (text, error) in [
            (
                "X-A: 1\nAuthorization Bearer x",
                "`headers` line 2: expected `Name: value`, e.g. `Authorization: Bearer {{secret.token}}`",
            ),
            ("X A: 1", "`headers` line 1: `X A` is not a valid header name"),
            (": 1", "`headers` line 1: `` is not a valid header name"),
            ("X-A: 1\n\nhost: x", "`headers` line 3: the `host` header cannot be set"),
            ("Cookie: a=b", "`headers` line 1: the `Cookie` header cannot be set"),
            ("Content-Length: 3", "`headers` line 1: the `Content-Length` header cannot be set"),
            ("Transfer-Encoding: chunked", "`headers` line 1: the `Transfer-Encoding` header cannot be set"),
            ("Connection: close", "`headers` line 1: the `Connection` header cannot be set"),
            ("TE: trailers", "`headers` line 1: the `TE` header cannot be set"),
            ("Upgrade: h2c", "`headers` line 1: the `Upgrade` header cannot be set"),
            ("Proxy-Authorization: x", "`headers` line 1: the `Proxy-Authorization` header cannot be set"),
            (
                "content-type: text/plain",
                "`headers` line 1: Tessera always sends `Content-Type: application/json`; remove this line",
            ),
            ("X-A: a\u{7}b", "`headers` line 1: the value contains a control character"),
            (
                "X-A: {{secret.missing}}",
                "`headers` line 1: there is no secret `missing`: add a line `missing = ...` to `secrets`",
            ),
            (
                "X-A: {{token}}",
                "`headers` line 1: `{{` must start a secret reference like {{secret.NAME}} \
                 (letters, digits, `_` or `-` in NAME)",
            ),
            (
                "X-A: {{secret.token}",
                "`headers` line 1: `{{` must start a secret reference like {{secret.NAME}} \
                 (letters, digits, `_` or `-` in NAME)",
            ),
            (
                "X-A: {{ secret.token }}",
                "`headers` line 1: `{{` must start a secret reference like {{secret.NAME}} \
                 (letters, digits, `_` or `-` in NAME)",
            ),
            (
                "X-A: {{secret.}}",
                "`headers` line 1: `{{` must start a secret reference like {{secret.NAME}} \
                 (letters, digits, `_` or `-` in NAME)",
            ),
            (
                "X-A: {{secret.token}}{{",
                "`headers` line 1: `{{` must start a secret reference like {{secret.NAME}} \
                 (letters, digits, `_` or `-` in NAME)",
            ),
        ] {
            assert_eq!(parse(text), Err(error.to_owned()), "{text:?}");
        }
    }

    #[test]
    fn at_most_ten_headers() {
        let lines = |n: usize| (0..n).map(|i| format!("X-{i}: v\n")).collect::<String>();
        assert_eq!(parse(&lines(10)).map(|h| h.len()), Ok(10));
        assert_eq!(
            parse(&lines(11)),
            Err("`headers` has 11 headers; at most 10 are allowed".to_owned())
        );
    }
}
