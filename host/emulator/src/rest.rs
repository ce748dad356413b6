//! The REST side: every request under `/api/v10` goes through [`handle`], which checks auth,
//! applies failure injection, validates the body against the OpenAPI spec, runs the emulated
//! route, validates the response and records the exchange.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::ids;
use crate::messages::{self, Anchor};
use crate::openapi::{self, Mode};
use crate::payloads::{self, NewMessage};
use crate::state::{Inner, Shared};
use crate::RecordedRequest;

const API_PREFIX: &str = "/api/v10";

/// What a route produced.
enum Reply {
    /// A status and an optional JSON body.
    Json(u16, Option<Value>),
    /// The route is not emulated.
    NotEmulated,
}

fn ok(body: Value) -> Reply {
    Reply::Json(200, Some(body))
}

fn no_content() -> Reply {
    Reply::Json(204, None)
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    Reply::Json(status, Some(payloads::error(code, message)))
}

fn unknown_channel() -> Reply {
    error(404, 10003, "Unknown Channel")
}

fn unknown_message() -> Reply {
    error(404, 10008, "Unknown Message")
}

fn unknown_guild() -> Reply {
    error(404, 10004, "Unknown Guild")
}

fn unknown_webhook() -> Reply {
    error(404, 10015, "Unknown Webhook")
}

fn form_error(field: &str, message: &str) -> Reply {
    Reply::Json(
        400,
        Some(json!({
            "message": "Invalid Form Body",
            "code": 50035,
            "errors": {field: {"_errors": [{"code": "BASE_TYPE_INVALID", "message": message}]}},
        })),
    )
}

/// The axum fallback: every non-gateway request.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = handle_request(shared.clone(), method, uri, headers, body).await;
    // Whatever the request changed, tests waiting on the state look again now.
    shared.changed.notify_waiters();
    response
}

async fn handle_request(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method = method.as_str().to_ascii_uppercase();
    let full_path = uri.path().to_owned();
    let query = uri.query().map(str::to_owned);
    let path = full_path
        .strip_prefix(API_PREFIX)
        .map(str::to_owned)
        .unwrap_or_else(|| full_path.clone());
    let reason = headers
        .get("x-audit-log-reason")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode);
    // Slow-route injection: sleep before answering, without holding the state lock.
    let delay = {
        let mut inner = shared.lock();
        inner
            .delays
            .iter_mut()
            .find(|(r, _)| r.matches(&method, &path))
            .map(|(rule, delay)| {
                rule.remaining -= 1;
                *delay
            })
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();

    // Parse the body.
    let mut attachments = Vec::new();
    let parsed: Result<Option<Value>, String> = if body.is_empty() {
        Ok(None)
    } else if content_type.starts_with("multipart/form-data") {
        parse_multipart(&content_type, &body).map(|(payload, files)| {
            attachments = files;
            payload
        })
    } else {
        serde_json::from_slice::<Value>(&body)
            .map(Some)
            .map_err(|e| format!("request body is not JSON ({content_type}): {e}"))
    };

    let mut inner = shared.lock();
    let record = |inner: &mut Inner, body: Option<Value>, status: u16| {
        inner.requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            body,
            status,
            reason: reason.clone(),
        });
    };

    let body = match parsed {
        Ok(b) => b,
        Err(e) => {
            inner.violations.push(format!("{method} {path}: {e}"));
            record(&mut inner, None, 400);
            return respond(
                400,
                Some(payloads::error(
                    50109,
                    "The request body contains invalid JSON.",
                )),
            );
        }
    };

    if !full_path.starts_with(API_PREFIX) {
        inner.violations.push(format!(
            "route not emulated: {method} {full_path} (not under {API_PREFIX})"
        ));
        record(&mut inner, body, 404);
        return respond(404, Some(payloads::error(0, "404: Not Found")));
    }

    // Auth (interaction callbacks and webhook-token routes need none on Discord).
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let token_route = matches!(segs.first(), Some(&"interactions") | Some(&"webhooks"));
    let expected = format!("Bot {}", shared.token);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !token_route && !authorized {
        record(&mut inner, body, 401);
        return respond(401, Some(payloads::error(0, "401: Unauthorized")));
    }

    // Request validation: the body and the declared query parameters.
    let spec = openapi::spec().ok();
    let op = spec.and_then(|s| s.find(&method, &path));
    if let (Some(spec), Some(op)) = (spec, op) {
        let mut errors = match (spec.request_schema(op), body.as_ref()) {
            (Some(schema), Some(b)) => spec.validate(schema, b, Mode::Request),
            _ => Vec::new(),
        };
        errors.extend(spec.validate_query(op, &query_pairs(query.as_deref())));
        if !errors.is_empty() {
            for e in &errors {
                inner.violations.push(format!(
                    "request {method} {path} ({} {}): {e}",
                    op.id, op.template
                ));
            }
            let reply = json!({
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": openapi::discord_error_tree(&errors),
            });
            record(&mut inner, body, 400);
            return respond(400, Some(reply));
        }
    } else if spec.is_some() {
        inner.violations.push(format!(
            "route not in Discord's OpenAPI spec: {method} {path}"
        ));
    }

    // Failure injection.
    if let Some(rule) = inner
        .failures
        .iter_mut()
        .find(|r| r.matches(&method, &path))
    {
        rule.remaining -= 1;
        let status = rule.status;
        record(&mut inner, body, status);
        return injected(status, &segs);
    }

    let reply = route(
        &shared,
        &mut inner,
        &method,
        &segs,
        query.as_deref(),
        body.as_ref(),
        &attachments,
    );
    let (status, out) = match reply {
        Reply::Json(status, out) => (status, out),
        Reply::NotEmulated => {
            inner
                .violations
                .push(format!("route not emulated: {method} {path}"));
            record(&mut inner, body, 404);
            return respond(404, Some(payloads::error(0, "404: Not Found")));
        }
    };

    // Response validation.
    if let (Some(spec), Some(op)) = (spec, op) {
        match spec.response_schema(op, status) {
            Ok(Some(schema)) => {
                if let Some(out) = out.as_ref() {
                    for e in spec.validate(schema, out, Mode::Response) {
                        inner.violations.push(format!(
                            "emulator response {status} to {method} {path} ({}): {e}",
                            op.id
                        ));
                    }
                }
            }
            Ok(None) => {
                if out.is_some() {
                    inner.violations.push(format!(
                        "emulator response {status} to {method} {path} ({}) has a body the spec does not declare",
                        op.id
                    ));
                }
            }
            Err(e) => inner
                .violations
                .push(format!("emulator response to {method} {path}: {e}")),
        }
    }
    record(&mut inner, body, status);
    respond(status, out)
}

fn respond(status: u16, body: Option<Value>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match body {
        Some(b) => (
            code,
            [(header::CONTENT_TYPE, "application/json")],
            b.to_string(),
        )
            .into_response(),
        None => code.into_response(),
    };
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from_static("50"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("49"));
    h.insert("x-ratelimit-reset-after", HeaderValue::from_static("1.000"));
    h.insert("x-ratelimit-bucket", HeaderValue::from_static("emulated"));
    resp
}

/// An injected failure.
fn injected(status: u16, segs: &[&str]) -> Response {
    match status {
        403 => respond(403, Some(payloads::error(50013, "Missing Permissions"))),
        404 => {
            let (code, message) = if segs.contains(&"messages") {
                (10008, "Unknown Message")
            } else {
                match segs.first() {
                    Some(&"guilds") => (10004, "Unknown Guild"),
                    Some(&"interactions") => (10062, "Unknown interaction"),
                    Some(&"webhooks") => (10015, "Unknown Webhook"),
                    Some(&"applications") => (10063, "Unknown application command"),
                    _ => (10003, "Unknown Channel"),
                }
            };
            respond(404, Some(payloads::error(code, message)))
        }
        429 => {
            let mut resp = respond(
                429,
                Some(
                    json!({"message": "You are being rate limited.", "retry_after": 0.1, "global": false, "code": 0}),
                ),
            );
            let h = resp.headers_mut();
            h.insert("retry-after", HeaderValue::from_static("1"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-reset-after", HeaderValue::from_static("0.100"));
            h.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
            resp
        }
        500..=599 => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (code, "500: Internal Server Error").into_response()
        }
        other => respond(other, Some(payloads::error(0, "Injected failure"))),
    }
}

/// The `name=value` pairs of a query string, percent-decoded (`+` is a space).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// The value of query parameter `name`, if given.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A 50035 form error for a query parameter out of its range, worded like Discord's.
fn range_error(field: &str, code: &str, message: &str) -> Reply {
    Reply::Json(
        400,
        Some(json!({
            "message": "Invalid Form Body",
            "code": 50035,
            "errors": {field: {"_errors": [{"code": code, "message": message}]}},
        })),
    )
}

/// A `limit` query parameter within `1..=max` (default `default`), or the form error Discord
/// answers. The OpenAPI check refuses such a request first; this keeps the route honest when
/// the spec is unavailable.
fn limit_param(query: Option<&str>, default: usize, max: usize) -> Result<usize, Reply> {
    let Some(raw) = query_value(query, "limit") else {
        return Ok(default);
    };
    match raw.parse::<i64>() {
        Ok(n) if n < 1 => Err(range_error(
            "limit",
            "NUMBER_TYPE_MIN",
            "int value should be greater than or equal to 1.",
        )),
        Ok(n) if n as u64 > max as u64 => Err(range_error(
            "limit",
            "NUMBER_TYPE_MAX",
            &format!("int value should be less than or equal to {max}."),
        )),
        Ok(n) => Ok(n as usize),
        Err(_) => Err(range_error(
            "limit",
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not int."),
        )),
    }
}

/// A snowflake query parameter, or the form error Discord answers.
fn snowflake_param(query: Option<&str>, name: &str) -> Result<Option<u64>, Reply> {
    match query_value(query, name) {
        None => Ok(None),
        Some(raw) => snowflake(&raw).map(Some).ok_or_else(|| {
            range_error(
                name,
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{raw}\" is not snowflake."),
            )
        }),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An uploaded file of a multipart request.
struct Upload {
    filename: String,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// Extracts `payload_json` and the uploaded files from a multipart body.
fn parse_multipart(
    content_type: &str,
    body: &[u8],
) -> Result<(Option<Value>, Vec<Upload>), String> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .ok_or("multipart body without boundary")?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut payload = None;
    let mut files = Vec::new();
    for part in split_bytes(text, delimiter.as_bytes()).into_iter().skip(1) {
        if part.starts_with(b"--") {
            break;
        }
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(split) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let mut content = &part[split + 4..];
        if content.ends_with(b"\r\n") {
            content = &content[..content.len() - 2];
        }
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let name = param(disposition, "name");
        let filename = param(disposition, "filename");
        let ctype = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-type"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned());
        if name.as_deref() == Some("payload_json") {
            payload = Some(
                serde_json::from_slice(content)
                    .map_err(|e| format!("payload_json is not JSON: {e}"))?,
            );
        } else if let Some(filename) = filename {
            files.push(Upload {
                filename,
                content_type: ctype,
                bytes: content.to_vec(),
            });
        }
    }
    Ok((payload, files))
}

fn param(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k == name).then(|| v.trim_matches('"').to_owned())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_bytes<'a>(mut hay: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, delim) {
        out.push(&hay[..i]);
        hay = &hay[i + delim.len()..];
    }
    out.push(hay);
    out
}

fn snowflake(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// A string, or a number rendered as a string.
fn as_id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A permission bitfield (string or integer) as a decimal string.
fn bits(v: Option<&Value>) -> String {
    v.and_then(as_id_string).unwrap_or_else(|| "0".to_owned())
}

fn overwrite(inner: &Inner, ow: &Value) -> Option<Value> {
    let id = ow.get("id").and_then(as_id_string)?;
    let kind = match ow.get("type").and_then(Value::as_u64) {
        Some(k) => k,
        None => {
            if snowflake(&id).is_some_and(|i| inner.is_role(i)) {
                0
            } else {
                1
            }
        }
    };
    Some(json!({
        "id": id,
        "type": kind,
        "allow": bits(ow.get("allow")),
        "deny": bits(ow.get("deny")),
    }))
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, v| !v.is_null());
            o.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Whether a message body has nothing to show.
fn empty_message(body: &Value, attachments: &[Upload]) -> bool {
    let has = |k: &str| match body.get(k) {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    };
    attachments.is_empty()
        && !["content", "embeds", "components", "sticker_ids", "poll"]
            .iter()
            .any(|k| has(k))
}

/// The attachment objects of files the bot uploaded to `channel`; the emulator keeps the
/// bytes and its CDN serves them, like Discord's.
fn attachment_objects(
    shared: &Shared,
    inner: &mut Inner,
    channel: u64,
    uploads: &[Upload],
) -> Vec<Value> {
    uploads
        .iter()
        .map(|u| {
            messages::store_attachment(
                shared,
                inner,
                channel,
                &u.filename,
                u.content_type.as_deref(),
                u.bytes.clone(),
            )
        })
        .collect()
}

/// Every emulated route.
fn route(
    shared: &Shared,
    inner: &mut Inner,
    method: &str,
    segs: &[&str],
    query: Option<&str>,
    body: Option<&Value>,
    uploads: &[Upload],
) -> Reply {
    let empty = json!({});
    let b = body.unwrap_or(&empty);
    match (method, segs) {
        ("GET", ["gateway"]) => ok(json!({"url": shared.gateway_url()})),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": shared.gateway_url(),
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        })),
        ("GET", ["users", "@me"]) => ok(payloads::current_user(shared.app_id, &shared.bot_name)),
        ("GET", ["users", "@me", "guilds"]) => my_guilds(inner, query),
        ("POST", ["users", "@me", "channels"]) => create_dm(shared, inner, b),
        ("GET", ["oauth2", "applications", "@me"]) | ("GET", ["applications", "@me"]) => {
            let owner = inner.guilds.values().next().map_or(1, |g| g.owner_id);
            ok(payloads::application(
                shared.app_id,
                &shared.bot_name,
                owner,
            ))
        }
        (_, ["applications", app, rest @ ..])
            if *app != shared.app_id.to_string() && *app != "@me" =>
        {
            let _ = rest;
            error(404, 10002, "Unknown Application")
        }
        ("PUT", ["applications", _, "commands"]) => {
            let list = register_commands(shared, inner, None, b);
            inner.commands = list.clone();
            ok(Value::Array(list))
        }
        ("GET", ["applications", _, "commands"]) => ok(Value::Array(inner.commands.clone())),
        ("POST", ["applications", _, "commands"]) => {
            let one = Value::Array(vec![b.clone()]);
            let mut existing = inner.commands.clone();
            let created = register_commands(shared, inner, None, &one);
            let Some(cmd) = created.into_iter().next() else {
                return form_error("name", "invalid command");
            };
            existing.retain(|c| c["name"] != cmd["name"] || c["type"] != cmd["type"]);
            existing.push(cmd.clone());
            inner.commands = existing;
            Reply::Json(201, Some(cmd))
        }
        ("PUT", ["applications", _, "guilds", g, "commands"]) => {
            let Some(gid) = snowflake(g).filter(|g| inner.guilds.contains_key(g)) else {
                return unknown_guild();
            };
            let list = register_commands(shared, inner, Some(gid), b);
            inner.guild_commands.insert(gid, list.clone());
            ok(Value::Array(list))
        }
        ("GET", ["applications", _, "guilds", g, "commands"]) => {
            let Some(gid) = snowflake(g).filter(|g| inner.guilds.contains_key(g)) else {
                return unknown_guild();
            };
            ok(Value::Array(
                inner.guild_commands.get(&gid).cloned().unwrap_or_default(),
            ))
        }
        ("GET", ["guilds", g]) => match snowflake(g).and_then(|g| inner.guilds.get(&g)) {
            Some(guild) => ok(payloads::guild(guild, &inner.guild_roles(guild.id))),
            None => unknown_guild(),
        },
        ("GET", ["guilds", g, "channels"]) => {
            match snowflake(g).filter(|g| inner.guilds.contains_key(g)) {
                Some(gid) => ok(Value::Array(inner.guild_channels(gid))),
                None => unknown_guild(),
            }
        }
        ("POST", ["guilds", g, "channels"]) => {
            let Some(gid) = snowflake(g).filter(|g| inner.guilds.contains_key(g)) else {
                return unknown_guild();
            };
            create_channel(shared, inner, gid, b)
        }
        ("GET", ["guilds", g, "roles"]) => {
            match snowflake(g).filter(|g| inner.guilds.contains_key(g)) {
                Some(gid) => ok(Value::Array(inner.guild_roles(gid))),
                None => unknown_guild(),
            }
        }
        ("GET", ["guilds", g, "members", u]) => {
            let Some(gid) = snowflake(g).filter(|g| inner.guilds.contains_key(g)) else {
                return unknown_guild();
            };
            let joined = inner
                .guilds
                .get(&gid)
                .map(|g| g.joined_at.clone())
                .unwrap_or_default();
            let uid = snowflake(u);
            if uid == Some(shared.app_id) {
                return ok(payloads::bot_member(
                    shared.app_id,
                    &shared.bot_name,
                    &joined,
                ));
            }
            let known = inner
                .guild_members
                .get(&gid)
                .is_some_and(|l| uid.is_some_and(|u| l.contains(&u)));
            match uid.and_then(|u| inner.users.get(&u)).filter(|_| known) {
                Some(m) => ok(payloads::member(m, &joined)),
                None => error(404, 10007, "Unknown Member"),
            }
        }
        ("GET", ["channels", c]) => match snowflake(c).and_then(|c| inner.channels.get(&c)) {
            Some(ch) => ok(ch.clone()),
            None => unknown_channel(),
        },
        ("PATCH", ["channels", c]) => {
            let Some(cid) = snowflake(c).filter(|c| inner.channels.contains_key(c)) else {
                return unknown_channel();
            };
            update_channel(inner, cid, b)
        }
        ("DELETE", ["channels", c]) => {
            let Some(ch) = snowflake(c).and_then(|c| inner.channels.remove(&c)) else {
                return unknown_channel();
            };
            let cid = ch["id"].clone();
            // Interaction answers (webhook messages) were already delivered to the member, so
            // tests can still read them; everything else in the channel goes with it.
            inner
                .messages
                .retain(|_, m| m["channel_id"] != cid || !m["webhook_id"].is_null());
            // children of a deleted category lose their parent
            let mut updated = Vec::new();
            for child in inner.channels.values_mut() {
                if child.get("parent_id") == Some(&cid) {
                    child["parent_id"] = Value::Null;
                    updated.push(child.clone());
                }
            }
            for u in updated {
                inner.dispatch("CHANNEL_UPDATE", &u);
            }
            inner.dispatch("CHANNEL_DELETE", &ch);
            ok(ch)
        }
        ("PUT", ["channels", c, "permissions", o]) => {
            let Some(cid) = snowflake(c).filter(|c| inner.channels.contains_key(c)) else {
                return unknown_channel();
            };
            let mut ow = b.clone();
            if let Some(obj) = ow.as_object_mut() {
                obj.insert("id".into(), json!(o));
            }
            let Some(ow) = overwrite(inner, &ow) else {
                return form_error("id", "invalid overwrite");
            };
            let Some(ch) = inner.channels.get_mut(&cid) else {
                return unknown_channel();
            };
            let list = ch["permission_overwrites"].as_array_mut();
            if let Some(list) = list {
                list.retain(|x| x["id"] != ow["id"]);
                list.push(ow);
            } else {
                ch["permission_overwrites"] = json!([ow]);
            }
            let ch = ch.clone();
            inner.dispatch("CHANNEL_UPDATE", &ch);
            no_content()
        }
        ("DELETE", ["channels", c, "permissions", o]) => {
            let Some(ch) = snowflake(c).and_then(|c| inner.channels.get_mut(&c)) else {
                return unknown_channel();
            };
            if let Some(list) = ch["permission_overwrites"].as_array_mut() {
                list.retain(|x| x["id"] != json!(o));
            }
            let ch = ch.clone();
            inner.dispatch("CHANNEL_UPDATE", &ch);
            no_content()
        }
        ("POST", ["channels", c, "typing"]) => {
            match snowflake(c).filter(|c| inner.channels.contains_key(c)) {
                Some(_) => no_content(),
                None => unknown_channel(),
            }
        }
        ("GET", ["channels", c, "messages"]) => {
            let Some(cid) = snowflake(c).filter(|c| inner.channels.contains_key(c)) else {
                return unknown_channel();
            };
            list_messages(shared, inner, cid, query)
        }
        ("POST", ["channels", c, "messages"]) => {
            let Some(cid) = snowflake(c).filter(|c| inner.channels.contains_key(c)) else {
                return unknown_channel();
            };
            if empty_message(b, uploads) {
                return error(400, 50006, "Cannot send an empty message");
            }
            if let Some(ch) = inner.channels.get(&cid).filter(|ch| ch["type"] == json!(1)) {
                let recipient = ch
                    .pointer("/recipients/0/id")
                    .and_then(Value::as_str)
                    .and_then(snowflake);
                if recipient.is_some_and(|r| inner.dms_closed.contains(&r)) {
                    return error(403, 50007, "Cannot send messages to this user");
                }
            }
            let id = shared.ids.next();
            let kind = if b.get("message_reference").is_some_and(|r| !r.is_null()) {
                19
            } else {
                0
            };
            let mut msg = payloads::message(NewMessage {
                id,
                channel_id: cid,
                author: shared.bot_user(),
                body: b,
                kind,
                webhook_id: None,
                application_id: None,
                timestamp: ids::now_iso(),
            });
            msg["attachments"] = json!(attachment_objects(shared, inner, cid, uploads));
            if let Some(r) = messages::referenced_id(b).filter(|_| kind == 19) {
                let (reference, replied) = messages::reply_to(inner, cid, r);
                msg["message_reference"] = reference;
                msg["referenced_message"] = replied.unwrap_or(Value::Null);
            }
            if let Some(ch) = inner.channels.get_mut(&cid) {
                ch["last_message_id"] = json!(id.to_string());
            }
            inner.messages.insert(id, msg.clone());
            ok(msg)
        }
        (_, ["channels", c, "messages", m]) => {
            let cid = json!(c);
            if snowflake(c).is_none_or(|c| !inner.channels.contains_key(&c)) {
                return unknown_channel();
            }
            let Some(mid) = snowflake(m).filter(|m| {
                inner
                    .messages
                    .get(m)
                    .is_some_and(|x| x["channel_id"] == cid)
            }) else {
                return unknown_message();
            };
            match method {
                "GET" => ok(messages::render(shared, inner, &inner.messages[&mid])),
                "PATCH" => {
                    let Some(msg) = inner.messages.get_mut(&mid) else {
                        return unknown_message();
                    };
                    payloads::edit_message(msg, b, &ids::now_iso());
                    ok(msg.clone())
                }
                "DELETE" => {
                    inner.messages.remove(&mid);
                    no_content()
                }
                _ => Reply::NotEmulated,
            }
        }
        ("POST", ["interactions", id, token, "callback"]) => {
            interaction_callback(shared, inner, id, token, query, b, uploads)
        }
        (_, ["webhooks", app, token, rest @ ..]) => {
            webhook(shared, inner, method, app, token, rest, b, uploads)
        }
        _ => Reply::NotEmulated,
    }
}

/// `GET /channels/{id}/messages`: one page of history, newest first.
fn list_messages(shared: &Shared, inner: &mut Inner, cid: u64, query: Option<&str>) -> Reply {
    let limit = match limit_param(query, 50, 100) {
        Ok(l) => l,
        Err(reply) => return reply,
    };
    let mut anchors = Vec::new();
    for (name, make) in [
        ("around", Anchor::Around as fn(u64) -> Anchor),
        ("before", Anchor::Before),
        ("after", Anchor::After),
    ] {
        match snowflake_param(query, name) {
            Ok(Some(id)) => anchors.push((name, make(id))),
            Ok(None) => {}
            Err(reply) => return reply,
        }
    }
    if anchors.len() > 1 {
        let names: Vec<&str> = anchors.iter().map(|(n, _)| *n).collect();
        inner.violations.push(format!(
            "GET /channels/{cid}/messages with {} at once: around, before and after are mutually exclusive",
            names.join(" and ")
        ));
        return form_error(
            names[1],
            "around, before and after are mutually exclusive; pass one",
        );
    }
    let anchor = anchors.first().map_or(Anchor::Latest, |(_, a)| *a);
    let page: Vec<Value> = messages::page(inner, cid, anchor, limit)
        .into_iter()
        .filter_map(|id| inner.messages.get(&id))
        .map(|m| messages::render(shared, inner, m))
        .collect();
    ok(Value::Array(page))
}

/// `GET /users/@me/guilds`: the bot's guilds by id, `limit` (1–200, default 200) from just
/// after `after`, or the `limit` just before `before`, ascending either way.
fn my_guilds(inner: &Inner, query: Option<&str>) -> Reply {
    let limit = match limit_param(query, 200, 200) {
        Ok(l) => l,
        Err(reply) => return reply,
    };
    let (before, after) = match (
        snowflake_param(query, "before"),
        snowflake_param(query, "after"),
    ) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let with_counts = query_value(query, "with_counts").is_some_and(|v| v == "true");
    let lower = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
    let upper = before.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
    let in_range = inner.guilds.range((lower, upper)).map(|(_, g)| g);
    let chosen: Vec<&crate::state::GuildRec> = if before.is_some() && after.is_none() {
        let mut last: Vec<_> = in_range.rev().take(limit).collect();
        last.reverse();
        last
    } else {
        in_range.take(limit).collect()
    };
    let list = chosen
        .into_iter()
        .map(|g| {
            let count = with_counts
                .then(|| inner.guild_members.get(&g.id).map_or(0, |m| m.len() as u64) + 1);
            payloads::my_guild(g, count)
        })
        .collect();
    ok(Value::Array(list))
}

/// `POST /users/@me/channels`: the DM channel with `recipient_id`, the same one every time.
fn create_dm(shared: &Shared, inner: &mut Inner, b: &Value) -> Reply {
    let Some(uid) = b
        .get("recipient_id")
        .and_then(as_id_string)
        .and_then(|u| snowflake(&u))
    else {
        return form_error("recipient_id", "This field is required");
    };
    if uid == shared.app_id {
        return error(400, 50007, "Cannot send messages to this user");
    }
    let user = inner
        .users
        .get(&uid)
        .cloned()
        .unwrap_or_else(|| crate::MemberSpec::new(uid, &format!("user{uid}")));
    let id = inner.dm_channel(shared, &user);
    // The recipient as the emulator knows them now (a later avatar, say).
    let recipient = inner.user_json(shared, uid);
    match inner.channels.get_mut(&id) {
        Some(ch) => {
            ch["recipients"] = json!([recipient]);
            ok(ch.clone())
        }
        None => unknown_channel(),
    }
}

fn register_commands(
    shared: &Shared,
    inner: &mut Inner,
    guild_id: Option<u64>,
    body: &Value,
) -> Vec<Value> {
    let previous = match guild_id {
        Some(g) => inner.guild_commands.get(&g).cloned().unwrap_or_default(),
        None => inner.commands.clone(),
    };
    let mut out = Vec::new();
    for cmd in body.as_array().into_iter().flatten() {
        let mut c = cmd.clone();
        strip_nulls(&mut c);
        let kind = c.get("type").and_then(Value::as_u64).unwrap_or(1);
        let name = c.get("name").cloned().unwrap_or(Value::Null);
        let id = previous
            .iter()
            .find(|p| p["name"] == name && p["type"] == json!(kind))
            .and_then(|p| p["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| shared.ids.next().to_string());
        inner.command_version += 1;
        let Some(o) = c.as_object_mut() else { continue };
        o.insert("id".into(), json!(id));
        o.insert("application_id".into(), json!(shared.app_id.to_string()));
        o.insert("version".into(), json!(shared.ids.next().to_string()));
        o.insert("type".into(), json!(kind));
        o.entry("description").or_insert(json!(""));
        let perms = o.get("default_member_permissions").and_then(as_id_string);
        o.insert(
            "default_member_permissions".into(),
            perms.map_or(Value::Null, Value::String),
        );
        o.entry("dm_permission").or_insert(json!(true));
        o.entry("nsfw").or_insert(json!(false));
        o.entry("integration_types").or_insert(json!([0]));
        o.entry("contexts").or_insert(Value::Null);
        if let Some(g) = guild_id {
            o.insert("guild_id".into(), json!(g.to_string()));
        }
        out.push(c);
    }
    out
}

fn create_channel(shared: &Shared, inner: &mut Inner, guild_id: u64, b: &Value) -> Reply {
    let Some(name) = b
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return form_error("name", "This field is required");
    };
    let kind = b.get("type").and_then(Value::as_u64).unwrap_or(0);
    let parent = match b.get("parent_id").and_then(as_id_string) {
        None => None,
        Some(p) => {
            let ok = snowflake(&p)
                .and_then(|p| inner.channels.get(&p))
                .is_some_and(|c| {
                    c["type"] == json!(4) && c["guild_id"] == json!(guild_id.to_string())
                });
            if !ok || kind == 4 {
                return form_error("parent_id", "Invalid parent channel");
            }
            snowflake(&p)
        }
    };
    let id = shared.ids.next();
    let position = b
        .get("position")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| inner.next_channel_position() as u64);
    let mut ch = payloads::channel(id, guild_id, name, kind as u8, parent, position);
    let overwrites: Vec<Value> = b
        .get("permission_overwrites")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| overwrite(inner, o))
        .collect();
    ch["permission_overwrites"] = json!(overwrites);
    if kind != 4 {
        if let Some(t) = b.get("topic") {
            ch["topic"] = t.clone();
        }
        if let Some(r) = b.get("rate_limit_per_user").filter(|v| v.is_u64()) {
            ch["rate_limit_per_user"] = r.clone();
        }
    }
    if let Some(n) = b.get("nsfw").filter(|v| v.is_boolean()) {
        ch["nsfw"] = n.clone();
    }
    inner.channels.insert(id, ch.clone());
    inner.dispatch("CHANNEL_CREATE", &ch);
    Reply::Json(201, Some(ch))
}

fn update_channel(inner: &mut Inner, cid: u64, b: &Value) -> Reply {
    let new_parent = match b.get("parent_id") {
        Some(Value::Null) => Some(Value::Null),
        Some(p) => {
            let Some(p) = as_id_string(p) else {
                return form_error("parent_id", "Invalid parent channel");
            };
            if snowflake(&p)
                .and_then(|p| inner.channels.get(&p))
                .is_none_or(|c| c["type"] != json!(4))
            {
                return form_error("parent_id", "Invalid parent channel");
            }
            Some(json!(p))
        }
        None => None,
    };
    let overwrites: Option<Vec<Value>> = b
        .get("permission_overwrites")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(|o| overwrite(inner, o)).collect());
    let Some(ch) = inner.channels.get_mut(&cid) else {
        return unknown_channel();
    };
    if let Some(n) = b.get("name").and_then(Value::as_str) {
        ch["name"] = json!(n);
    }
    for key in ["topic", "nsfw", "rate_limit_per_user", "position"] {
        if let Some(v) = b.get(key) {
            if !(v.is_null() && key != "topic") {
                ch[key] = v.clone();
            }
        }
    }
    if let Some(p) = new_parent {
        ch["parent_id"] = p;
    }
    if let Some(o) = overwrites {
        ch["permission_overwrites"] = json!(o);
    }
    let ch = ch.clone();
    inner.dispatch("CHANNEL_UPDATE", &ch);
    ok(ch)
}

fn interaction_callback(
    shared: &Shared,
    inner: &mut Inner,
    id: &str,
    token: &str,
    query: Option<&str>,
    b: &Value,
    uploads: &[Upload],
) -> Reply {
    let Some(iid) =
        snowflake(id).filter(|i| inner.interactions.get(i).is_some_and(|r| r.token == token))
    else {
        return error(404, 10062, "Unknown interaction");
    };
    let Some(rec) = inner.interactions.get(&iid).cloned() else {
        return error(404, 10062, "Unknown interaction");
    };
    if rec.callback.is_some() {
        return error(400, 40060, "Interaction has already been acknowledged.");
    }
    let kind = b.get("type").and_then(Value::as_u64).unwrap_or(0);
    let data = b.get("data").cloned().unwrap_or(json!({}));
    let now = ids::now_iso();
    let mut original = None;
    match kind {
        4 | 5 => {
            let mid = shared.ids.next();
            let mut body = data.clone();
            if kind == 5 {
                let flags = data.get("flags").and_then(Value::as_u64).unwrap_or(0) & 64;
                body = json!({"content": "", "flags": flags | 128});
            }
            let mut msg = payloads::message(NewMessage {
                id: mid,
                channel_id: rec.channel_id,
                author: shared.bot_user(),
                body: &body,
                kind: if rec.kind == 2 { 20 } else { 0 },
                webhook_id: Some(shared.app_id),
                application_id: Some(shared.app_id),
                timestamp: now,
            });
            msg["attachments"] = json!(attachment_objects(shared, inner, rec.channel_id, uploads));
            inner.messages.insert(mid, msg);
            original = Some(mid);
        }
        9 if rec.kind == 5 => {
            // Discord: a modal cannot answer a modal submit.
            return error(
                400,
                40043,
                "Interaction callback type is not valid for this interaction",
            );
        }
        6 | 7 => {
            if rec.kind != 3 {
                return error(
                    400,
                    40043,
                    "Interaction callback type is not valid for this interaction",
                );
            }
            original = rec.message_id;
            if kind == 7 {
                if let Some(msg) = rec.message_id.and_then(|m| inner.messages.get_mut(&m)) {
                    payloads::edit_message(msg, &data, &now);
                }
            }
        }
        _ => {}
    }
    if let Some(r) = inner.interactions.get_mut(&iid) {
        r.callback = Some(b.clone());
        if matches!(b.get("type").and_then(Value::as_u64), Some(4 | 7 | 9)) {
            r.answered_at = Some(std::time::Instant::now());
            r.answered.notify_waiters();
        }
        r.original = original;
    }
    let with_response = query.is_some_and(|q| q.split('&').any(|kv| kv == "with_response=true"));
    if !with_response {
        return no_content();
    }
    let message = original.and_then(|m| inner.messages.get(&m)).cloned();
    let mut resp = json!({
        "interaction": {
            "id": iid.to_string(),
            "type": rec.kind,
            "response_message_id": original.map(|m| m.to_string()),
            "response_message_loading": kind == 5,
            "response_message_ephemeral": message.as_ref().is_some_and(|m| m["flags"].as_u64().unwrap_or(0) & 64 != 0),
        }
    });
    if let (Some(m), true) = (message, matches!(kind, 4 | 5 | 7)) {
        resp["resource"] = json!({"type": kind, "message": m});
    }
    ok(resp)
}

#[allow(clippy::too_many_arguments)]
fn webhook(
    shared: &Shared,
    inner: &mut Inner,
    method: &str,
    app: &str,
    token: &str,
    rest: &[&str],
    b: &Value,
    uploads: &[Upload],
) -> Reply {
    if snowflake(app) != Some(shared.app_id) {
        return unknown_webhook();
    }
    let Some(rec) = inner
        .interaction_tokens
        .get(token)
        .and_then(|id| inner.interactions.get(id))
        .cloned()
    else {
        return unknown_webhook();
    };
    if rec.callback.is_none() {
        return unknown_webhook();
    }
    let now = ids::now_iso();
    match (method, rest) {
        ("POST", []) => {
            if empty_message(b, uploads) {
                return error(400, 50006, "Cannot send an empty message");
            }
            let mid = shared.ids.next();
            let mut msg = payloads::message(NewMessage {
                id: mid,
                channel_id: rec.channel_id,
                author: shared.bot_user(),
                body: b,
                kind: 0,
                webhook_id: Some(shared.app_id),
                application_id: Some(shared.app_id),
                timestamp: now,
            });
            msg["attachments"] = json!(attachment_objects(shared, inner, rec.channel_id, uploads));
            inner.messages.insert(mid, msg.clone());
            if let Some(r) = inner.interactions.get_mut(&rec.id) {
                r.followups.push(mid);
                r.last_answer = Some(mid);
                r.answered_at = Some(std::time::Instant::now());
                r.answered.notify_waiters();
            }
            ok(msg)
        }
        (_, ["messages", m]) => {
            let mid = if *m == "@original" {
                rec.original
            } else {
                snowflake(m).filter(|m| rec.original == Some(*m) || rec.followups.contains(m))
            };
            let Some(mid) = mid.filter(|m| inner.messages.contains_key(m)) else {
                return unknown_message();
            };
            match method {
                "GET" => ok(inner.messages[&mid].clone()),
                "PATCH" => {
                    let Some(msg) = inner.messages.get_mut(&mid) else {
                        return unknown_message();
                    };
                    payloads::edit_message(msg, b, &now);
                    let flags = msg["flags"].as_u64().unwrap_or(0) & !128;
                    msg["flags"] = json!(flags);
                    if !uploads.is_empty() {
                        let files = attachment_objects(shared, inner, rec.channel_id, uploads);
                        if let Some(msg) = inner.messages.get_mut(&mid) {
                            msg["attachments"] = json!(files);
                        }
                    }
                    let msg = inner.messages[&mid].clone();
                    if let Some(r) = inner.interactions.get_mut(&rec.id) {
                        r.last_answer = Some(mid);
                        r.answered_at = Some(std::time::Instant::now());
                        r.answered.notify_waiters();
                    }
                    ok(msg)
                }
                "DELETE" => {
                    inner.messages.remove(&mid);
                    no_content()
                }
                _ => Reply::NotEmulated,
            }
        }
        _ => Reply::NotEmulated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_payload_and_files() {
        let body = b"--XYZ\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{\"content\":\"hi\"}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"t.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XYZ--\r\n";
        let (payload, files) =
            parse_multipart("multipart/form-data; boundary=XYZ", body).expect("parses");
        assert_eq!(payload, Some(json!({"content": "hi"})));
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].filename, "t.txt");
        assert_eq!(files[0].bytes, b"hello");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("Ticket%20closed%21"), "Ticket closed!");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
