//! Roblox user IDs and the public profile `users.roblox.com/v1/users/{id}` gives for one.

use serde::Deserialize;
use serde_json::Value;
use tessera_plugin_sdk::{http, log};

/// The public profile fields Tessera shows. Each is optional: a field Roblox leaves out becomes
/// a missing placeholder ("unavailable"), never a guess.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RobloxUser {
    /// The Roblox user ID.
    pub id: Option<u64>,
    /// The username.
    pub name: Option<String>,
    /// The display name.
    pub display_name: Option<String>,
    /// When the account was created (RFC 3339).
    pub created: Option<String>,
    /// Whether Roblox has banned the account.
    pub is_banned: Option<bool>,
    /// Whether the account has Roblox's verified badge.
    pub has_verified_badge: Option<bool>,
}

/// A Roblox user ID as a link service gives it: a positive integer, as a JSON number or string.
pub fn parse_roblox_id(value: &Value) -> Option<u64> {
    let id = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    (id > 0).then_some(id)
}

/// The public profile page of Roblox user `id`.
pub fn profile_url(id: u64) -> String {
    format!("https://www.roblox.com/users/{id}/profile")
}

/// The profile of Roblox user `id`, or `None` (with a warning in the log saying why) when Roblox
/// could not give it: the plugin then shows what it knows from the link alone.
pub fn fetch_user(id: u64) -> Option<RobloxUser> {
    let url = format!("https://users.roblox.com/v1/users/{id}");
    let answer = match http::get(&url, &[("Accept", "application/json")]) {
        Ok(response) => read_user(id, response.status, &response.body),
        Err(e) => Err(format!(
            "could not reach Roblox's users API ({}: {})",
            e.kind(),
            e.message()
        )),
    };
    answer
        .inspect_err(|why| log::warn!("{why}; showing only the Roblox ID and profile link"))
        .ok()
}

/// The profile in an answer of `users.roblox.com/v1/users/{id}`, or why there is none.
pub fn read_user(id: u64, status: u16, body: &[u8]) -> Result<RobloxUser, String> {
    match status {
        200..=299 => {}
        404 => return Err("Roblox has no user with the linked ID (HTTP 404)".to_owned()),
        429 => return Err("Roblox's users API is rate limiting Tessera (HTTP 429)".to_owned()),
        status => return Err(format!("Roblox's users API answered HTTP {status}")),
    }
    let user: RobloxUser = serde_json::from_slice(body)
        .map_err(|_| "Roblox's users API answered something unexpected".to_owned())?;
    if user.id.is_some_and(|answered| answered != id) {
        return Err("Roblox's users API answered about another user".to_owned());
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BUILDERMAN: &str = r#"{"description":"Hi","created":"2006-02-27T21:06:40.3Z",
        "isBanned":false,"externalAppDisplayName":null,"hasVerifiedBadge":true,"id":156,
        "name":"builderman","displayName":"Builderman"}"#;

    #[test]
    fn ids_are_positive_integers_as_numbers_or_strings() {
        assert_eq!(parse_roblox_id(&json!("1234")), Some(1234));
        assert_eq!(parse_roblox_id(&json!(1234)), Some(1234));
        for bad in [
            json!(0),
            json!("0"),
            json!(-5),
            json!("-5"),
            json!(1.5),
            json!("12a"),
            json!(""),
            json!(" 12"),
            json!("99999999999999999999999"),
            json!(null),
            json!([1]),
        ] {
            assert_eq!(parse_roblox_id(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_profile_is_read_from_a_200() {
        let user = read_user(156, 200, BUILDERMAN.as_bytes());
        assert_eq!(
            user,
            Ok(RobloxUser {
                id: Some(156),
                name: Some("builderman".into()),
                display_name: Some("Builderman".into()),
                created: Some("2006-02-27T21:06:40.3Z".into()),
                is_banned: Some(false),
                has_verified_badge: Some(true),
            })
        );
    }

    #[test]
    fn missing_fields_stay_missing() {
        assert_eq!(
            read_user(156, 200, br#"{"name":"builderman","isBanned":null}"#),
            Ok(RobloxUser {
                name: Some("builderman".into()),
                ..RobloxUser::default()
            })
        );
    }

    #[test]
    fn failures_say_why() {
        let invalid = br#"{"errors":[{"code":3,"message":"The user id is invalid."}]}"#;
        assert_eq!(
            read_user(156, 404, invalid),
            Err("Roblox has no user with the linked ID (HTTP 404)".into())
        );
        assert_eq!(
            read_user(156, 429, b""),
            Err("Roblox's users API is rate limiting Tessera (HTTP 429)".into())
        );
        assert_eq!(
            read_user(156, 503, b""),
            Err("Roblox's users API answered HTTP 503".into())
        );
        assert_eq!(
            read_user(156, 200, b"<html>"),
            Err("Roblox's users API answered something unexpected".into())
        );
        assert_eq!(
            read_user(157, 200, BUILDERMAN.as_bytes()),
            Err("Roblox's users API answered about another user".into())
        );
    }

    #[test]
    fn profile_links_point_at_roblox() {
        assert_eq!(profile_url(156), "https://www.roblox.com/users/156/profile");
    }
}
