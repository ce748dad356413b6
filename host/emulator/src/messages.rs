//! Messages as Discord's history sees them: members' messages (with mentions, replies and
//! attachments), paging through a channel, and the MESSAGE_CONTENT rule applied to what the
//! bot reads.

use std::ops::Bound;

use serde_json::{json, Value};

use crate::ids;
use crate::payloads::{self, NewMessage};
use crate::state::{
    AttachmentRec, Inner, Shared, DIRECT_MESSAGES, GUILD_MESSAGES, MESSAGE_CONTENT,
};
use crate::MemberSpec;

/// MENTION_EVERYONE.
const MENTION_EVERYONE: u64 = 1 << 17;

/// A file attached to a member's message: name, media type, bytes.
pub type File = (String, String, Vec<u8>);

/// Where a page of history starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The newest messages.
    Latest,
    /// Messages older than the id.
    Before(u64),
    /// Messages newer than the id.
    After(u64),
    /// Messages around the id (the message itself included).
    Around(u64),
}

/// Whether a stored message is listed in history (ephemeral ones are seen only by their user).
fn listed(inner: &Inner, id: u64) -> bool {
    inner
        .messages
        .get(&id)
        .is_some_and(|m| m["flags"].as_u64().unwrap_or(0) & 64 == 0)
}

/// Ids of one page of a channel's history, newest first, as Discord returns them.
///
/// `After` yields the `limit` messages right after the id; `Around` yields up to `limit / 2`
/// newer messages, then the message itself (if it exists) and older ones, `limit` in all
/// at most (no side is topped up when the other runs short).
pub fn page(inner: &Inner, channel: u64, anchor: Anchor, limit: usize) -> Vec<u64> {
    let store = &inner.messages;
    let visible = |id: &u64| listed(inner, *id);
    match anchor {
        Anchor::Latest => store
            .ids_in(channel, (Bound::Unbounded, Bound::Unbounded))
            .rev()
            .filter(visible)
            .take(limit)
            .collect(),
        Anchor::Before(x) => store
            .ids_in(channel, (Bound::Unbounded, Bound::Excluded(x)))
            .rev()
            .filter(visible)
            .take(limit)
            .collect(),
        Anchor::After(x) => {
            let mut ids: Vec<u64> = store
                .ids_in(channel, (Bound::Excluded(x), Bound::Unbounded))
                .filter(visible)
                .take(limit)
                .collect();
            ids.reverse();
            ids
        }
        Anchor::Around(x) => {
            let newer_wanted = limit / 2;
            let mut ids: Vec<u64> = store
                .ids_in(channel, (Bound::Excluded(x), Bound::Unbounded))
                .filter(visible)
                .take(newer_wanted)
                .collect();
            ids.reverse();
            ids.extend(
                store
                    .ids_in(channel, (Bound::Unbounded, Bound::Included(x)))
                    .rev()
                    .filter(visible)
                    .take(limit - newer_wanted),
            );
            ids
        }
    }
}

/// The `<@id>` / `<@!id>` user ids, `<@&id>` role ids and whether `@everyone`/`@here` occur in
/// `content`, each id once, in order of appearance.
pub fn parse_mentions(content: &str) -> (Vec<u64>, Vec<u64>, bool) {
    let mut users = Vec::new();
    let mut roles = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let (is_role, body) = match rest.as_bytes().first() {
            Some(b'&') => (true, &rest[1..]),
            Some(b'!') => (false, &rest[1..]),
            _ => (false, rest),
        };
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || body.as_bytes().get(digits) != Some(&b'>') {
            continue;
        }
        let Ok(id) = body[..digits].parse::<u64>() else {
            continue;
        };
        let list = if is_role { &mut roles } else { &mut users };
        if !list.contains(&id) {
            list.push(id);
        }
    }
    let everyone = content.contains("@everyone") || content.contains("@here");
    (users, roles, everyone)
}

/// The guild of a channel, `None` for a DM (or an unknown channel).
fn guild_of(inner: &Inner, channel: u64) -> Option<u64> {
    inner
        .channels
        .get(&channel)
        .and_then(|c| c.get("guild_id"))
        .and_then(Value::as_str)
        .and_then(|g| g.parse().ok())
}

/// Sets `mentions`, `mention_roles` and `mention_everyone` from the content, as Discord's
/// server does: users that exist, roles of the channel's guild, everyone only when the author
/// may mention everyone; `replied` (the author of a message replied to with a ping) is
/// mentioned too.
fn apply_mentions(
    shared: &Shared,
    inner: &Inner,
    msg: &mut Value,
    author: &MemberSpec,
    replied: Option<Value>,
) {
    let content = msg["content"].as_str().unwrap_or("").to_owned();
    let (users, roles, everyone) = parse_mentions(&content);
    let guild = msg["channel_id"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .and_then(|c| guild_of(inner, c));
    let mut mentions: Vec<Value> = users
        .iter()
        .filter(|u| **u == shared.app_id || inner.users.contains_key(u))
        .map(|u| inner.user_json(shared, *u))
        .collect();
    if let Some(replied) = replied {
        if !mentions.iter().any(|m| m["id"] == replied["id"]) {
            mentions.push(replied);
        }
    }
    let mention_roles: Vec<String> = roles
        .iter()
        .filter(|r| {
            inner
                .roles
                .get(r)
                .is_some_and(|rec| Some(rec.guild_id) == guild && rec.id != rec.guild_id)
        })
        .map(u64::to_string)
        .collect();
    let may_ping_everyone = author.permissions & (MENTION_EVERYONE | crate::ADMINISTRATOR) != 0;
    msg["mentions"] = json!(mentions);
    msg["mention_roles"] = json!(mention_roles);
    msg["mention_everyone"] = json!(everyone && guild.is_some() && may_ping_everyone);
}

/// The `message_reference` of a reply to `replied_id` in `channel` and the replied-to message
/// (`BasicMessageResponse` form), if it is stored in that channel.
pub fn reply_to(inner: &Inner, channel: u64, replied_id: u64) -> (Value, Option<Value>) {
    let mut reference = json!({
        "type": 0,
        "channel_id": channel.to_string(),
        "message_id": replied_id.to_string(),
    });
    if let Some(g) = guild_of(inner, channel) {
        reference["guild_id"] = json!(g.to_string());
    }
    let replied = inner
        .messages
        .get(&replied_id)
        .filter(|m| m["channel_id"] == json!(channel.to_string()))
        .map(basic);
    (reference, replied)
}

/// The id a body's `message_reference` points at.
pub fn referenced_id(body: &Value) -> Option<u64> {
    let m = body.get("message_reference")?.get("message_id")?;
    m.as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .or_else(|| m.as_u64())
}

/// Discord's sanitised attachment file name: anything but letters, digits, `.`, `-` and `_`
/// becomes `_`.
pub fn sanitize_filename(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "unknown".to_owned()
    } else {
        clean
    }
}

/// Stores a file as an attachment of a message in `channel` and returns its attachment
/// object, whose URL points at the emulator's CDN.
pub fn store_attachment(
    shared: &Shared,
    inner: &mut Inner,
    channel: u64,
    filename: &str,
    content_type: Option<&str>,
    bytes: Vec<u8>,
) -> Value {
    let id = shared.ids.next();
    let filename = sanitize_filename(filename);
    let url = format!(
        "{}/attachments/{channel}/{id}/{filename}",
        shared.base_url()
    );
    let size = bytes.len() as u64;
    let object = payloads::attachment(id, &filename, size, &url, content_type);
    inner.attachments.insert(
        id,
        AttachmentRec {
            filename,
            size,
            url,
            bytes: Some(bytes),
            content_type: content_type.map(str::to_owned),
            downloads: 0,
        },
    );
    object
}

/// Files given in a body's `attachments`: `{ "filename", "content_type", "bytes" }` with the
/// bytes as a list of numbers or a base64 string.
pub fn files_in_body(body: &Value) -> Result<Vec<File>, String> {
    let mut out = Vec::new();
    for (i, a) in body
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let filename = a
            .get("filename")
            .and_then(Value::as_str)
            .ok_or(format!("attachments[{i}] has no filename"))?;
        let content_type = a
            .get("content_type")
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream");
        let bytes = match a.get("bytes") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
                .ok_or(format!("attachments[{i}].bytes has a non-byte"))?,
            Some(Value::String(s)) => {
                base64_decode(s).ok_or(format!("attachments[{i}].bytes is not base64"))?
            }
            _ => return Err(format!("attachments[{i}] has no bytes")),
        };
        out.push((filename.to_owned(), content_type.to_owned(), bytes));
    }
    Ok(out)
}

/// Standard or URL-safe base64, padding optional.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The form of a referenced message inside another (`BasicMessageResponse`: no nested
/// `referenced_message`).
fn basic(msg: &Value) -> Value {
    let mut m = msg.clone();
    if let Some(o) = m.as_object_mut() {
        o.remove("referenced_message");
    }
    m
}

/// Builds and stores a member's message. `Err` explains a body the helper cannot store
/// (a test bug).
pub fn add_member_message(
    shared: &Shared,
    inner: &mut Inner,
    channel: u64,
    author: &MemberSpec,
    body: &Value,
    files: Vec<File>,
    dispatch: bool,
) -> Result<u64, String> {
    if !inner.channels.contains_key(&channel) {
        return Err(format!("no channel {channel}"));
    }
    let guild = guild_of(inner, channel);
    inner.remember_member(guild, author);
    let id = shared.ids.next();
    let has_reference = body.get("message_reference").is_some_and(|r| !r.is_null());
    let reference = match (has_reference, referenced_id(body)) {
        (false, _) => None,
        (true, Some(r)) => Some(r),
        (true, None) => return Err("message_reference without a message_id".to_owned()),
    };
    let mut msg = payloads::message(NewMessage {
        id,
        channel_id: channel,
        author: payloads::member_user(author),
        body,
        kind: if reference.is_some() { 19 } else { 0 },
        webhook_id: None,
        application_id: None,
        timestamp: ids::now_iso(),
    });
    if let Some(o) = msg.as_object_mut() {
        // Members' messages carry no components of their own.
        o.insert("components".into(), json!([]));
    }
    let mut replied_author = None;
    if let Some(r) = reference {
        let (reference, replied) = reply_to(inner, channel, r);
        let Some(replied) = replied else {
            return Err(format!(
                "message_reference: no message {r} in channel {channel}"
            ));
        };
        if body.pointer("/allowed_mentions/replied_user") != Some(&json!(false)) {
            replied_author = replied.get("author").cloned();
        }
        msg["message_reference"] = reference;
        msg["referenced_message"] = replied;
    }
    apply_mentions(shared, inner, &mut msg, author, replied_author);
    let attachments: Vec<Value> = files
        .into_iter()
        .map(|(name, ctype, bytes)| {
            store_attachment(shared, inner, channel, &name, Some(&ctype), bytes)
        })
        .collect();
    msg["attachments"] = json!(attachments);
    if let Some(ch) = inner.channels.get_mut(&channel) {
        ch["last_message_id"] = json!(id.to_string());
    }
    inner.messages.insert(id, msg.clone());
    if dispatch {
        dispatch_message(shared, inner, "MESSAGE_CREATE", &msg, author, guild);
    }
    Ok(id)
}

/// Replaces a member message's content (mentions follow), setting `edited_timestamp`.
pub fn edit_member_message(
    shared: &Shared,
    inner: &mut Inner,
    id: u64,
    content: &str,
) -> Result<(), String> {
    let Some(mut msg) = inner.messages.get(&id).cloned() else {
        return Err(format!("no message {id}"));
    };
    let author_id = msg
        .pointer("/author/id")
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<u64>().ok())
        .unwrap_or(0);
    let Some(author) = inner.users.get(&author_id).cloned() else {
        return Err(format!("message {id} is not a member's message"));
    };
    // A reply that pinged its replied-to author keeps pinging them.
    let replied_author = msg
        .pointer("/referenced_message/author")
        .filter(|a| {
            msg["mentions"]
                .as_array()
                .is_some_and(|l| l.iter().any(|u| u["id"] == a["id"]))
        })
        .cloned();
    msg["content"] = json!(content);
    msg["edited_timestamp"] = json!(ids::now_iso());
    apply_mentions(shared, inner, &mut msg, &author, replied_author);
    inner.messages.insert(id, msg.clone());
    let channel = msg["channel_id"].as_str().and_then(|c| c.parse().ok());
    let guild = channel.and_then(|c| guild_of(inner, c));
    dispatch_message(shared, inner, "MESSAGE_UPDATE", &msg, &author, guild);
    Ok(())
}

/// MESSAGE_CREATE / MESSAGE_UPDATE to the sessions with GUILD_MESSAGES (DIRECT_MESSAGES in a
/// DM), the content stripped for sessions without MESSAGE_CONTENT.
fn dispatch_message(
    shared: &Shared,
    inner: &mut Inner,
    event: &str,
    msg: &Value,
    author: &MemberSpec,
    guild: Option<u64>,
) {
    let mut event_msg = msg.clone();
    if let Some(g) = guild {
        event_msg["guild_id"] = json!(g.to_string());
        let joined = inner
            .guilds
            .get(&g)
            .map_or_else(ids::now_iso, |g| g.joined_at.clone());
        let mut member = payloads::member(author, &joined);
        if let Some(o) = member.as_object_mut() {
            o.remove("user");
            o.remove("permissions");
        }
        event_msg["member"] = member;
    }
    let needed = if guild.is_some() {
        GUILD_MESSAGES
    } else {
        DIRECT_MESSAGES
    };
    let refused = inner.message_content_refused;
    let bot = shared.app_id;
    let in_dm = guild.is_none();
    inner.dispatch_per_session(event, |intents| {
        if intents & needed == 0 {
            return None;
        }
        let visible = in_dm || (!refused && intents & MESSAGE_CONTENT != 0);
        Some(for_bot(&event_msg, visible, bot))
    });
}

/// A message as the bot may read it: with `content_visible` false (no MESSAGE_CONTENT), the
/// content, embeds, attachments, components and poll are empty unless the bot wrote the
/// message or is mentioned in it — Discord's rule (callers exempt DMs). Applies to a
/// replied-to message inside too.
pub fn for_bot(msg: &Value, content_visible: bool, bot_id: u64) -> Value {
    let mut m = msg.clone();
    strip_if_hidden(&mut m, content_visible, bot_id);
    if let Some(inner_msg) = m.get_mut("referenced_message").filter(|r| r.is_object()) {
        strip_if_hidden(inner_msg, content_visible, bot_id);
    }
    m
}

fn strip_if_hidden(m: &mut Value, content_visible: bool, bot_id: u64) {
    if content_visible {
        return;
    }
    let bot = json!(bot_id.to_string());
    let authored = m.pointer("/author/id") == Some(&bot);
    let mentioned = m["mentions"]
        .as_array()
        .is_some_and(|l| l.iter().any(|u| u["id"] == bot));
    if authored || mentioned {
        return;
    }
    if let Some(o) = m.as_object_mut() {
        o.insert("content".into(), json!(""));
        o.insert("embeds".into(), json!([]));
        o.insert("attachments".into(), json!([]));
        o.insert("components".into(), json!([]));
        o.remove("poll");
    }
}

/// A stored message as `GET /channels/{id}/messages[/{id}]` answers it: the replied-to message
/// as it is now (`null` once deleted), then the MESSAGE_CONTENT rule.
pub fn render(shared: &Shared, inner: &Inner, msg: &Value) -> Value {
    let mut m = msg.clone();
    if let Some(r) = m
        .pointer("/message_reference/message_id")
        .and_then(Value::as_str)
        .and_then(|r| r.parse::<u64>().ok())
    {
        if m.get("type") == Some(&json!(19)) {
            m["referenced_message"] = inner.messages.get(&r).map_or(Value::Null, basic);
        }
    }
    let in_dm = m["channel_id"]
        .as_str()
        .and_then(|c| c.parse::<u64>().ok())
        .and_then(|c| inner.channels.get(&c))
        .is_some_and(|c| c["type"] == json!(1));
    if in_dm {
        return m;
    }
    for_bot(&m, inner.message_content_visible(), shared.app_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_parsed_once_each() {
        let (users, roles, everyone) =
            parse_mentions("hi <@1> and <@!2>, <@&3> <@1> <@x> <@4 @here");
        assert_eq!(users, [1, 2]);
        assert_eq!(roles, [3]);
        assert!(everyone);
        assert_eq!(parse_mentions("plain"), (vec![], vec![], false));
    }

    #[test]
    fn base64_and_filenames() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert!(base64_decode("a*b").is_none());
        assert_eq!(sanitize_filename("my file (1).txt"), "my_file__1_.txt");
    }
}
