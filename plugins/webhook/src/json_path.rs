//! The JSON paths admins write to pick fields from the webhook's answer: dot-separated keys with
//! array indexes (`data.user.name`, `roles[0]`, `items[2].id`, `[0].name`), optionally after `$.`
//! or `$` (`$` alone is the whole answer).

use serde_json::Value;

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object's member.
    Key(String),
    /// An array's element.
    Index(usize),
}

/// A parsed path: the steps from the answer's root to the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(pub Vec<Step>);

impl JsonPath {
    /// Parses `text` (already trimmed). The error says what is wrong, for the admin.
    pub fn parse(text: &str) -> Result<JsonPath, &'static str> {
        /// What the parser expects next.
        enum Next {
            /// The path's first step: a key or an index.
            First,
            /// A key (after a `.`).
            Key,
            /// After a step: `.`, `[` or the end.
            Separator,
        }
        if text.is_empty() {
            return Err("no path");
        }
        let (mut rest, mut next) = match text.strip_prefix('$') {
            Some(after) => match after.strip_prefix('.') {
                Some(after) => (after, Next::Key),
                None => (after, Next::First),
            },
            None => (text, Next::First),
        };
        let mut steps = Vec::new();
        loop {
            match next {
                Next::First | Next::Separator => match rest.as_bytes().first() {
                    None => break,
                    Some(b'[') => {
                        let close = rest.find(']').ok_or("unclosed `[`")?;
                        steps.push(Step::Index(parse_index(&rest[1..close])?));
                        rest = &rest[close + 1..];
                        next = Next::Separator;
                    }
                    Some(b']') => return Err("unexpected `]`"),
                    Some(b'.') if matches!(next, Next::Separator) => {
                        rest = &rest[1..];
                        next = Next::Key;
                    }
                    Some(_) if matches!(next, Next::First) => next = Next::Key,
                    // Only an index ends without a separator: a key runs to the next one.
                    Some(_) => return Err("expected `.` or `[` after `]`"),
                },
                Next::Key => {
                    let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
                    if end == 0 {
                        return Err(if rest.starts_with(']') {
                            "unexpected `]`"
                        } else {
                            "empty key"
                        });
                    }
                    steps.push(Step::Key(rest[..end].to_owned()));
                    rest = &rest[end..];
                    next = Next::Separator;
                }
            }
        }
        Ok(JsonPath(steps))
    }

    /// The value at this path in `root`, if every step exists.
    pub fn eval<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(root, |value, step| match step {
            Step::Key(key) => value.as_object()?.get(key),
            Step::Index(index) => value.as_array()?.get(*index),
        })
    }
}

/// The index between `[` and `]`: decimal digits.
fn parse_index(inner: &str) -> Result<usize, &'static str> {
    let digits = !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| inner.parse().ok())
        .flatten()
        .ok_or("an array index must be digits, e.g. [0]")
}

/// A field's text for a placeholder: strings as they are, numbers and booleans as written,
/// objects and arrays as compact JSON; `null` has none.
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Step {
        Step::Key(k.to_owned())
    }

    #[test]
    fn paths_parse_into_steps() {
        let cases: [(&str, Vec<Step>); 11] = [
            ("name", vec![key("name")]),
            (
                "data.user.name",
                vec![key("data"), key("user"), key("name")],
            ),
            ("roles[0]", vec![key("roles"), Step::Index(0)]),
            ("items[2].id", vec![key("items"), Step::Index(2), key("id")]),
            ("[0].name", vec![Step::Index(0), key("name")]),
            (
                "matrix[1][12]",
                vec![key("matrix"), Step::Index(1), Step::Index(12)],
            ),
            ("$.data.name", vec![key("data"), key("name")]),
            ("$data", vec![key("data")]),
            ("$[0]", vec![Step::Index(0)]),
            ("$", vec![]),
            (
                "display name.first-1",
                vec![key("display name"), key("first-1")],
            ),
        ];
        for (text, steps) in cases {
            assert_eq!(JsonPath::parse(text), Ok(JsonPath(steps)), "{text}");
        }
    }

    #[test]
    fn each_mistake_is_named() {
        for (text, why) in [
            ("", "no path"),
            ("a..b", "empty key"),
            (".a", "empty key"),
            ("a.", "empty key"),
            ("$.", "empty key"),
            ("$..a", "empty key"),
            ("a.[0]", "empty key"),
            ("a[0", "unclosed `[`"),
            ("a[]", "an array index must be digits, e.g. [0]"),
            ("a[x]", "an array index must be digits, e.g. [0]"),
            ("a[-1]", "an array index must be digits, e.g. [0]"),
            (
                "a[99999999999999999999999]",
                "an array index must be digits, e.g. [0]",
            ),
            ("a[0]b", "expected `.` or `[` after `]`"),
            ("a]", "unexpected `]`"),
            ("]", "unexpected `]`"),
            ("a[0]]", "unexpected `]`"),
            ("$a.b c[1]x", "expected `.` or `[` after `]`"),
        ] {
            assert_eq!(JsonPath::parse(text), Err(why), "{text}");
        }
    }

    #[test]
    fn paths_find_values_or_nothing() {
        let answer = json!({
            "data": {"user": {"name": "Ada", "age": 36}},
            "roles": ["admin", "dev"],
            "items": [{"id": 1}, {"id": 2}, {"id": 3}],
        });
        let at = |text| {
            JsonPath::parse(text)
                .ok()
                .and_then(|path| path.eval(&answer).cloned())
        };
        assert_eq!(at("data.user.name"), Some(json!("Ada")));
        assert_eq!(at("$.roles[1]"), Some(json!("dev")));
        assert_eq!(at("items[2].id"), Some(json!(3)));
        assert_eq!(at("$"), Some(answer.clone()));
        assert_eq!(at("roles[2]"), None, "past the end");
        assert_eq!(at("data.nope"), None, "missing key");
        assert_eq!(at("roles.name"), None, "a key into an array");
        assert_eq!(at("data[0]"), None, "an index into an object");
        assert_eq!(at("data.user.name.first"), None, "a key into a string");
        let list = json!([{"name": "first"}]);
        let path = JsonPath::parse("[0].name").unwrap_or(JsonPath(vec![]));
        assert_eq!(path.eval(&list), Some(&json!("first")));
    }

    #[test]
    fn values_become_text() {
        assert_eq!(value_text(&json!("Ada")), Some("Ada".to_owned()));
        assert_eq!(value_text(&json!(36)), Some("36".to_owned()));
        assert_eq!(value_text(&json!(-1.5)), Some("-1.5".to_owned()));
        assert_eq!(value_text(&json!(true)), Some("true".to_owned()));
        assert_eq!(value_text(&json!(null)), None);
        assert_eq!(
            value_text(&json!({"a": [1, "x"]})),
            Some(r#"{"a":[1,"x"]}"#.to_owned())
        );
        assert_eq!(value_text(&json!([])), Some("[]".to_owned()));
    }
}
