//! Discord's OpenAPI 3.1 description (`/work/shared/discord/openapi.json`) and a small JSON
//! Schema validator for the subset of keywords the spec uses.
//!
//! Keywords honoured: `type` (string or array, incl. `"null"`), `$ref` (any local JSON pointer),
//! `const`, `enum`, `format` (only `snowflake` and the one `pattern` `^(0|[1-9][0-9]*)$` are
//! checked), `properties`, `required`, `additionalProperties` (bool or schema), `items`, `oneOf`
//! (exactly one branch), `anyOf`, `allOf`, `minLength`/`maxLength` (in chars),
//! `minItems`/`maxItems`, `uniqueItems`, `minimum`/`maximum`,
//! `minProperties`/`maxProperties`. Everything else (`description`, `title`, `contentEncoding`,
//! `x-discord-union`, …) is ignored.
//!
//! One deliberate leniency, in request bodies only ([`Mode::Request`]): a permission bitfield
//! (a property named `allow`, `deny`, `permissions` or `default_member_permissions`) that the spec
//! types as `integer` also accepts a string of decimal digits. Discord documents those bitfields
//! as strings and serenity always sends them as strings; the spec's `integer` is a known
//! inaccuracy there. Likewise the `id` of an entry of a request's `attachments` may be an
//! integer: for a new upload it is the file's index, which Discord documents (and serenity
//! sends) as a number, while the spec types it as a snowflake string.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

/// Path of the spec file, relative to this crate (workspace `/work/main`, shared `/work/shared`).
pub const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/discord/openapi.json"
);

/// Property names whose `integer` type also accepts a digit string in requests.
const PERMISSION_FIELDS: [&str; 4] = ["allow", "deny", "permissions", "default_member_permissions"];

/// Whether a body is something the bot sent or something the emulator answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A request body (the bot's); permission bitfields may be digit strings.
    Request,
    /// A response body (the emulator's); strict.
    Response,
}

/// One problem found: the JSON path (`$.components[0].style`) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// JSON path of the offending value, `$` is the root.
    pub path: String,
    /// Human-readable description.
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// One operation of the spec (method + path template).
#[derive(Debug)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template, e.g. `/channels/{channel_id}/messages`.
    pub template: String,
    /// `operationId`.
    pub id: String,
    segments: Vec<Option<String>>,
    request: Option<Value>,
    /// Declared query parameters: name → schema.
    query: BTreeMap<String, Value>,
    responses: BTreeMap<String, Value>,
}

/// The parsed spec.
pub struct Spec {
    root: Value,
    operations: Vec<Operation>,
}

static SPEC: OnceLock<Result<Spec, String>> = OnceLock::new();

/// The process-wide spec, parsed on first use.
pub fn spec() -> Result<&'static Spec, String> {
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC_PATH)
            .map_err(|e| format!("cannot read OpenAPI spec {SPEC_PATH}: {e}"))?;
        let root: Value = serde_json::from_str(&text)
            .map_err(|e| format!("cannot parse OpenAPI spec {SPEC_PATH}: {e}"))?;
        Spec::new(root)
    })
    .as_ref()
    .map_err(Clone::clone)
}

impl Spec {
    /// Indexes the operations of a parsed OpenAPI document.
    pub fn new(root: Value) -> Result<Spec, String> {
        let paths = root
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("spec has no paths")?;
        let mut operations = Vec::new();
        for (template, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let shared_params = item.get("parameters").and_then(Value::as_array);
            for (method, op) in item {
                if method == "parameters" {
                    continue;
                }
                let query = shared_params
                    .into_iter()
                    .flatten()
                    .chain(
                        op.get("parameters")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten(),
                    )
                    .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                    .filter_map(|p| {
                        Some((
                            p.get("name")?.as_str()?.to_owned(),
                            p.get("schema")?.clone(),
                        ))
                    })
                    .collect();
                let request = op
                    .pointer("/requestBody/content/application~1json/schema")
                    .cloned();
                let mut responses = BTreeMap::new();
                if let Some(rs) = op.get("responses").and_then(Value::as_object) {
                    for (status, r) in rs {
                        responses.insert(status.clone(), r.clone());
                    }
                }
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    template: template.clone(),
                    id: op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    segments: template
                        .trim_start_matches('/')
                        .split('/')
                        .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                        .collect(),
                    request,
                    query,
                    responses,
                });
            }
        }
        Ok(Spec { root, operations })
    }

    /// The operation matching `method` and a concrete `path` (relative to `/api/v10`).
    /// Literal segments win over parameters (`/messages/@original` over `/messages/{id}`).
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method) && op.segments.len() == parts.len())
            .filter_map(|op| {
                let mut literals = 0;
                for (seg, part) in op.segments.iter().zip(&parts) {
                    match seg {
                        Some(lit) if lit == part => literals += 1,
                        Some(_) => return None,
                        None if part.is_empty() => return None,
                        None => {}
                    }
                }
                Some((literals, op))
            })
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, op)| op)
    }

    /// The JSON request-body schema of `op`, if it takes one.
    pub fn request_schema<'a>(&self, op: &'a Operation) -> Option<&'a Value> {
        op.request.as_ref()
    }

    /// Validates the query parameters `op` declares (`limit`, `before`, …) against their
    /// schemas; values are typed by the schema first (`"5"` is an integer where one is
    /// expected, `true`/`false` a boolean). Undeclared parameters are ignored, as Discord does.
    /// Errors have paths like `$.limit`.
    pub fn validate_query(&self, op: &Operation, pairs: &[(String, String)]) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        for (name, raw) in pairs {
            let Some(schema) = op.query.get(name) else {
                continue;
            };
            let kind = self.deref(schema).get("type").and_then(Value::as_str);
            let value = match kind {
                Some("integer") => raw
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(raw.clone())),
                Some("boolean") => match raw.to_ascii_lowercase().as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => Value::String(raw.clone()),
                },
                _ => Value::String(raw.clone()),
            };
            self.check(
                schema,
                &value,
                &format!("$.{name}"),
                Some(name),
                Mode::Request,
                &mut errors,
            );
        }
        errors
    }

    /// The JSON response schema of `op` for `status`: `Ok(None)` when that status is declared
    /// without a body, `Err` when the status is not declared at all.
    pub fn response_schema<'a>(
        &'a self,
        op: &'a Operation,
        status: u16,
    ) -> Result<Option<&'a Value>, String> {
        let exact = status.to_string();
        let class = format!("{}XX", status / 100);
        let resp = op
            .responses
            .get(&exact)
            .or_else(|| op.responses.get(&class))
            .or_else(|| op.responses.get("default"))
            .ok_or_else(|| format!("status {status} is not a declared response of {}", op.id))?;
        let resp = self.deref(resp);
        Ok(resp.pointer("/content/application~1json/schema"))
    }

    /// Follows `$ref`s until a non-reference value.
    fn deref<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => match self.resolve(r) {
                    Some(t) => v = t,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }

    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// A schema from `#/components/schemas/{name}`.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.root.get("components")?.get("schemas")?.get(name)
    }

    /// Validates `value` against `schema`; an empty result means valid.
    pub fn validate(&self, schema: &Value, value: &Value, mode: Mode) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        self.check(schema, value, "$", None, mode, &mut errors);
        errors
    }

    fn check(
        &self,
        schema: &Value,
        value: &Value,
        path: &str,
        field: Option<&str>,
        mode: Mode,
        errors: &mut Vec<SchemaError>,
    ) {
        let err = |errors: &mut Vec<SchemaError>, message: String| {
            errors.push(SchemaError {
                path: path.to_owned(),
                message,
            })
        };
        let Some(s) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                err(errors, "no value is allowed here".into());
            }
            return;
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match self.resolve(r) {
                Some(target) => self.check(target, value, path, field, mode, errors),
                None => err(errors, format!("unresolvable $ref {r}")),
            }
        }
        if let Some(types) = s.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let lenient_int = mode == Mode::Request
                && field.is_some_and(|f| PERMISSION_FIELDS.contains(&f))
                && value.as_str().is_some_and(is_decimal);
            let upload_index = mode == Mode::Request
                && value.is_u64()
                && field == Some("id")
                && path.contains(".attachments[")
                && s.get("format").and_then(Value::as_str) == Some("snowflake");
            if upload_index {
                return;
            }
            let ok = allowed.iter().any(|t| type_matches(t, value))
                || (lenient_int && allowed.contains(&"integer"));
            if !ok {
                err(
                    errors,
                    format!(
                        "expected type {}, got {}",
                        allowed.join(" or "),
                        type_name(value)
                    ),
                );
                return;
            }
            if lenient_int {
                return;
            }
        }
        if let Some(c) = s.get("const") {
            if !json_eq(c, value) {
                err(errors, format!("expected constant {c}, got {value}"));
            }
        }
        if let Some(Value::Array(options)) = s.get("enum") {
            if !options.iter().any(|o| json_eq(o, value)) {
                err(
                    errors,
                    format!("{value} is not one of {}", Value::Array(options.clone())),
                );
            }
        }
        if let Value::String(text) = value {
            let is_snowflake = s.get("format").and_then(Value::as_str) == Some("snowflake");
            let has_pattern = s.get("pattern").is_some();
            if (is_snowflake || has_pattern) && !is_decimal(text) {
                err(
                    errors,
                    format!("{text:?} is not a snowflake (decimal digits, no leading zero)"),
                );
            }
            let len = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
                if len < min {
                    err(
                        errors,
                        format!("string shorter than {min} characters ({len})"),
                    );
                }
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    err(
                        errors,
                        format!("string longer than {max} characters ({len})"),
                    );
                }
            }
        }
        if let Value::Number(n) = value {
            if let Some(x) = n.as_f64() {
                if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                    if x < min {
                        err(errors, format!("{n} is less than the minimum {min}"));
                    }
                }
                if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                    if x > max {
                        err(errors, format!("{n} is greater than the maximum {max}"));
                    }
                }
            }
        }
        if let Value::Array(items) = value {
            let len = items.len() as u64;
            if let Some(min) = s.get("minItems").and_then(Value::as_u64) {
                if len < min {
                    err(errors, format!("array has fewer than {min} items ({len})"));
                }
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                if len > max {
                    err(errors, format!("array has more than {max} items ({len})"));
                }
            }
            if s.get("uniqueItems") == Some(&Value::Bool(true)) {
                for (i, a) in items.iter().enumerate() {
                    if items[..i].iter().any(|b| json_eq(a, b)) {
                        err(errors, format!("item {i} is a duplicate"));
                        break;
                    }
                }
            }
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.check(
                        item_schema,
                        item,
                        &format!("{path}[{i}]"),
                        None,
                        mode,
                        errors,
                    );
                }
            }
        }
        if let Value::Object(map) = value {
            let len = map.len() as u64;
            if let Some(min) = s.get("minProperties").and_then(Value::as_u64) {
                if len < min {
                    err(errors, format!("object has fewer than {min} properties"));
                }
            }
            if let Some(max) = s.get("maxProperties").and_then(Value::as_u64) {
                if len > max {
                    err(errors, format!("object has more than {max} properties"));
                }
            }
            if let Some(Value::Array(required)) = s.get("required") {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        err(errors, format!("missing required property {name:?}"));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (key, v) in map {
                let child = format!("{path}.{key}");
                match props.and_then(|p| p.get(key)) {
                    Some(ps) => self.check(ps, v, &child, Some(key), mode, errors),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => errors.push(SchemaError {
                            path: child,
                            message: "unknown property (additionalProperties: false)".into(),
                        }),
                        Some(extra @ Value::Object(_)) => {
                            self.check(extra, v, &child, Some(key), mode, errors)
                        }
                        _ => {}
                    },
                }
            }
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for sub in all {
                self.check(sub, value, path, field, mode, errors);
            }
        }
        if let Some(Value::Array(any)) = s.get("anyOf") {
            let results: Vec<Vec<SchemaError>> = any
                .iter()
                .map(|sub| {
                    let mut e = Vec::new();
                    self.check(sub, value, path, field, mode, &mut e);
                    e
                })
                .collect();
            if !results.iter().any(Vec::is_empty) {
                err(
                    errors,
                    format!("matches none of anyOf: {}", summarize(&results)),
                );
            }
        }
        if let Some(Value::Array(one)) = s.get("oneOf") {
            let results: Vec<Vec<SchemaError>> = one
                .iter()
                .map(|sub| {
                    let mut e = Vec::new();
                    self.check(sub, value, path, field, mode, &mut e);
                    e
                })
                .collect();
            let matching = results.iter().filter(|e| e.is_empty()).count();
            if matching == 0 {
                err(
                    errors,
                    format!("matches none of oneOf: {}", summarize(&results)),
                );
            } else if matching > 1 {
                err(
                    errors,
                    format!("matches {matching} branches of oneOf, exactly one required"),
                );
            }
        }
    }
}

/// First error of each failed branch, for a compact message.
fn summarize(results: &[Vec<SchemaError>]) -> String {
    results
        .iter()
        .enumerate()
        .map(|(i, e)| match e.first() {
            Some(first) => format!("[{i}] {first}"),
            None => format!("[{i}] ok"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON equality where `1` and `1.0` are equal (as JSON Schema requires).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() => x == y && x.fract() == y.fract(),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Discord's error code for one of our messages (`NUMBER_TYPE_MAX` for a number over its
/// maximum, …; `BASE_TYPE_INVALID` when nothing closer fits).
fn error_code(message: &str) -> &'static str {
    if message.contains("greater than the maximum") {
        "NUMBER_TYPE_MAX"
    } else if message.contains("less than the minimum") {
        "NUMBER_TYPE_MIN"
    } else if message.contains("expected type integer") {
        "NUMBER_TYPE_COERCE"
    } else if message.contains("longer than") {
        "BASE_TYPE_MAX_LENGTH"
    } else if message.contains("shorter than") {
        "BASE_TYPE_MIN_LENGTH"
    } else {
        "BASE_TYPE_INVALID"
    }
}

/// Discord's 50035 `errors` object for a list of schema errors:
/// `{"content": {"_errors": [{"code": "BASE_TYPE_INVALID", "message": "..."}]}}`.
pub fn discord_error_tree(errors: &[SchemaError]) -> Value {
    let mut root = serde_json::Map::new();
    for e in errors {
        let mut keys: Vec<String> = Vec::new();
        let rest = e.path.trim_start_matches('$');
        for part in rest.split('.').filter(|p| !p.is_empty()) {
            let mut part = part;
            // `name[0][1]` → `name`, `0`, `1`
            if let Some(idx) = part.find('[') {
                let (name, indices) = part.split_at(idx);
                if !name.is_empty() {
                    keys.push(name.to_owned());
                }
                part = indices;
                for i in part.split(['[', ']']).filter(|s| !s.is_empty()) {
                    keys.push(i.to_owned());
                }
            } else {
                keys.push(part.to_owned());
            }
        }
        let mut node = &mut root;
        for k in keys {
            let entry = node
                .entry(k)
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(serde_json::Map::new());
            }
            node = entry
                .as_object_mut()
                .expect("entry was just made an object");
        }
        let list = node
            .entry("_errors")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(serde_json::json!({"code": error_code(&e.message), "message": e.message}));
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s() -> &'static Spec {
        spec().expect("the OpenAPI spec must load")
    }

    fn named(name: &str) -> &'static Value {
        s().schema(name).expect("schema exists")
    }

    #[test]
    fn finds_operations_preferring_literals() {
        let op = s()
            .find("POST", "/channels/123/messages")
            .expect("create_message");
        assert_eq!(op.id, "create_message");
        let op = s()
            .find("PATCH", "/webhooks/1/tok/messages/@original")
            .expect("update original");
        assert_eq!(op.id, "update_original_webhook_message");
        let op = s().find("GET", "/users/@me").expect("get my user");
        assert_eq!(op.id, "get_my_user");
        assert!(s().find("GET", "/nope/123").is_none());
    }

    #[test]
    fn good_message_create_request_validates() {
        let body = json!({
            "content": "hello",
            "tts": false,
            "embeds": [{"title": "t", "description": "d", "color": 5814783}],
            "components": [{"type": 1, "components": [
                {"type": 2, "style": 1, "label": "Open ticket", "custom_id": "tessera:open"}
            ]}],
            "allowed_mentions": {"parse": []}
        });
        let errors = s().validate(named("MessageCreateRequest"), &body, Mode::Request);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn bad_message_create_request_is_rejected_with_paths() {
        let body = json!({
            "content": "x".repeat(4001),
            "components": [{"type": 1, "components": [
                {"type": 2, "style": "primary", "custom_id": "a"}
            ]}],
            "sticker_ids": ["012"]
        });
        let errors = s().validate(named("MessageCreateRequest"), &body, Mode::Request);
        let text = format!("{errors:?}");
        assert!(text.contains("$.content"), "{text}");
        assert!(text.contains("$.components[0]"), "{text}");
        assert!(text.contains("$.sticker_ids[0]"), "{text}");
    }

    #[test]
    fn bad_create_guild_channel_request_is_rejected() {
        // no name, wrong type for nsfw, a fractional "integer", an invalid snowflake
        let body = json!({
            "type": 0,
            "nsfw": "yes",
            "position": 1.5,
            "parent_id": "abc",
        });
        let errors = s().validate(named("CreateGuildChannelRequest"), &body, Mode::Request);
        let text = format!("{errors:?}");
        assert!(
            text.contains("missing required property \\\"name\\\""),
            "{text}"
        );
        assert!(text.contains("$.nsfw"), "{text}");
        assert!(text.contains("$.position"), "{text}");
        assert!(text.contains("$.parent_id"), "{text}");
        let good = json!({"name": "ticket-1", "type": 0, "parent_id": "123",
            "permission_overwrites": [{"id": "1", "type": 0, "allow": "0", "deny": "1024"}]});
        let errors = s().validate(named("CreateGuildChannelRequest"), &good, Mode::Request);
        assert!(errors.is_empty(), "{errors:?}");
        // the string-bitfield leniency is for requests only
        let errors = s().validate(named("CreateGuildChannelRequest"), &good, Mode::Response);
        assert!(!errors.is_empty());
    }

    #[test]
    fn keyword_basics() {
        let spec = Spec::new(json!({"paths": {}, "components": {"schemas": {
            "A": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}},
                  "required": ["n"], "additionalProperties": false},
            "U": {"type": "array", "uniqueItems": true, "items": {"enum": [1, 2, 3]}},
            "O": {"oneOf": [{"type": "integer"}, {"type": "number"}]}
        }}}))
        .expect("tiny spec");
        let a = spec.schema("A").expect("A");
        assert!(spec
            .validate(a, &json!({"n": 2}), Mode::Response)
            .is_empty());
        assert!(!spec
            .validate(a, &json!({"n": 2.5}), Mode::Response)
            .is_empty());
        assert!(!spec
            .validate(a, &json!({"n": 0}), Mode::Response)
            .is_empty());
        assert!(!spec
            .validate(a, &json!({"n": 2, "x": 1}), Mode::Response)
            .is_empty());
        let u = spec.schema("U").expect("U");
        assert!(spec.validate(u, &json!([1, 2]), Mode::Response).is_empty());
        assert!(!spec.validate(u, &json!([1, 1]), Mode::Response).is_empty());
        assert!(!spec.validate(u, &json!([4]), Mode::Response).is_empty());
        let o = spec.schema("O").expect("O");
        // 1 is both an integer and a number → two oneOf branches match
        assert!(!spec.validate(o, &json!(1), Mode::Response).is_empty());
        assert!(spec.validate(o, &json!(1.5), Mode::Response).is_empty());
    }

    #[test]
    fn error_tree_is_discord_shaped() {
        let tree = discord_error_tree(&[SchemaError {
            path: "$.components[0].components[1].style".into(),
            message: "bad".into(),
        }]);
        assert_eq!(
            tree["components"]["0"]["components"]["1"]["style"]["_errors"][0]["message"],
            "bad"
        );
    }

    #[test]
    fn query_parameters_are_typed_and_checked() {
        let op = s()
            .find("GET", "/channels/1/messages")
            .expect("list_messages");
        let q = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            s().validate_query(op, &pairs)
        };
        assert!(q(&[("limit", "100"), ("before", "123"), ("unknown", "x")]).is_empty());
        let over = q(&[("limit", "101")]);
        assert_eq!(over.len(), 1, "{over:?}");
        assert_eq!(over[0].path, "$.limit");
        let tree = discord_error_tree(&over);
        assert_eq!(tree["limit"]["_errors"][0]["code"], "NUMBER_TYPE_MAX");
        assert!(!q(&[("limit", "0")]).is_empty());
        let coerce = q(&[("limit", "ten")]);
        assert_eq!(
            discord_error_tree(&coerce)["limit"]["_errors"][0]["code"],
            "NUMBER_TYPE_COERCE"
        );
        assert!(!q(&[("after", "01")]).is_empty());
        let callback = s()
            .find("POST", "/interactions/1/tok/callback")
            .expect("callback");
        let pairs = vec![("with_response".to_owned(), "true".to_owned())];
        assert!(s().validate_query(callback, &pairs).is_empty());
    }
}
