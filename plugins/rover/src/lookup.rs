//! RoVer's `discord-to-roblox` lookup for one server, and what its answer means.

use serde_json::Value;
use tessera_plugin_sdk::{
    placeholder, truncate, Placeholder, PluginError, UserId, MAX_VALUE_CHARS,
};
use tessera_roblox::errors;
use tessera_roblox::placeholders::{roblox_placeholders, ROBLOX_USERNAME};
use tessera_roblox::users::{parse_roblox_id, RobloxUser};

/// How the service is named in messages to admins.
pub const SERVICE: &str = "RoVer";

/// `%rover.rover_cached_username%`: the username RoVer recorded when the member verified.
pub const ROVER_CACHED_USERNAME: &str = "rover_cached_username";

/// What RoVer knows about the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The verified Roblox user ID.
    pub roblox_id: u64,
    /// The username RoVer recorded at verification, if it gave one.
    pub cached_username: Option<String>,
}

/// The lookup URL for `user_id` in server `server_id`.
pub fn lookup_url(server_id: Option<u64>, user_id: UserId) -> Result<String, PluginError> {
    // The manifest says `receives_server_id = true`, so the host always gives it.
    let server_id = server_id.ok_or_else(|| {
        PluginError::Internal(
            "Tessera did not give the plugin this server's ID; please report this to the \
             Tessera developers"
                .to_owned(),
        )
    })?;
    Ok(format!(
        "https://registry.rover.link/api/guilds/{server_id}/discord-to-roblox/{user_id}"
    ))
}

/// The link in RoVer's answer, or the error it stands for.
///
/// 200 `{"robloxId": 123, "cachedUsername": "...", ...}` is a link (an ID as a string is accepted
/// too); 404 (`{"errorCode": "user_not_found", ...}`) means the member is not verified here.
pub fn read_link(status: u16, retry_after: Option<&str>, body: &[u8]) -> Result<Link, PluginError> {
    match status {
        200..=299 => {}
        404 => {
            return Err(PluginError::NotFound(
                "not verified with RoVer in this server".to_owned(),
            ))
        }
        401 => {
            return Err(PluginError::Denied(
                "RoVer refused the API key (HTTP 401): it is invalid or was revoked; create a new \
                 key in this server's RoVer dashboard and set it with /integrations config rover"
                    .to_owned(),
            ))
        }
        403 => {
            return Err(PluginError::Denied(
                "RoVer's API key is not authorized for this server (HTTP 403): create the key in \
                 this server's RoVer dashboard and set it with /integrations config rover"
                    .to_owned(),
            ))
        }
        429 => return Err(errors::rate_limited(SERVICE, retry_after)),
        500..=599 => return Err(errors::having_trouble(SERVICE, status)),
        _ => return Err(errors::unexpected_status(SERVICE, status)),
    }
    let answer: Value = serde_json::from_slice(body).map_err(|_| errors::unexpected(SERVICE))?;
    let roblox_id = answer
        .get("robloxId")
        .and_then(parse_roblox_id)
        .ok_or_else(|| errors::unexpected(SERVICE))?;
    let cached_username = answer
        .get("cachedUsername")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| truncate(name, MAX_VALUE_CHARS).to_owned());
    Ok(Link {
        roblox_id,
        cached_username,
    })
}

/// The `roblox_*` placeholders plus `rover_cached_username`; when Roblox gave no profile, the
/// cached username stands in for `roblox_username`.
pub fn rover_placeholders(
    link: &Link,
    user: Option<&RobloxUser>,
    now: Option<i64>,
) -> Vec<Placeholder> {
    let mut out = roblox_placeholders(link.roblox_id, user, now);
    if let Some(cached) = &link.cached_username {
        let has_username = out.iter().any(|p| p.name == ROBLOX_USERNAME);
        if !has_username {
            out.push(placeholder(ROBLOX_USERNAME, cached.clone()));
        }
        out.push(placeholder(ROVER_CACHED_USERNAME, cached.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(status: u16, body: &str) -> Result<Link, (&'static str, String)> {
        read_link(status, Some("5"), body.as_bytes())
            .map_err(|e| (e.kind(), e.message().to_owned()))
    }

    fn err(kind: &'static str, message: &str) -> Result<Link, (&'static str, String)> {
        Err((kind, message.to_owned()))
    }

    fn pairs(placeholders: &[Placeholder]) -> Vec<(&str, &str)> {
        placeholders
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect()
    }

    #[test]
    fn the_lookup_is_per_server() {
        assert_eq!(
            lookup_url(Some(7), 42).map_err(|e| e.kind()),
            Ok("https://registry.rover.link/api/guilds/7/discord-to-roblox/42".to_owned())
        );
        assert_eq!(lookup_url(None, 42).map_err(|e| e.kind()), Err("internal"));
    }

    #[test]
    fn a_link_gives_the_id_and_cached_username() {
        let body =
            r#"{"robloxId":123,"cachedUsername":"Builderman","discordId":"42","guildId":"7"}"#;
        assert_eq!(
            read(200, body),
            Ok(Link {
                roblox_id: 123,
                cached_username: Some("Builderman".into())
            })
        );
        assert_eq!(
            read(200, r#"{"robloxId":"123","cachedUsername":null}"#),
            Ok(Link {
                roblox_id: 123,
                cached_username: None
            })
        );
    }

    #[test]
    fn each_failure_says_what_to_do() {
        assert_eq!(
            read(
                404,
                r#"{"errorCode":"user_not_found","message":"User not found"}"#
            ),
            err("not-found", "not verified with RoVer in this server")
        );
        assert_eq!(
            read(401, ""),
            err(
                "denied",
                "RoVer refused the API key (HTTP 401): it is invalid or was revoked; create a new \
                 key in this server's RoVer dashboard and set it with /integrations config rover"
            )
        );
        assert_eq!(
            read(403, ""),
            err(
                "denied",
                "RoVer's API key is not authorized for this server (HTTP 403): create the key in \
                 this server's RoVer dashboard and set it with /integrations config rover"
            )
        );
        assert_eq!(
            read(429, ""),
            err(
                "rate-limited",
                "RoVer is rate limiting the API key (HTTP 429, retry after 5 s); later tickets \
                 will try again. If this keeps happening, check the key's request limits with RoVer"
            )
        );
        assert_eq!(
            read(500, ""),
            err(
                "upstream",
                "RoVer is having trouble (HTTP 500); tickets will try again"
            )
        );
        assert_eq!(
            read(400, ""),
            err("upstream", "RoVer answered something unexpected (HTTP 400)")
        );
    }

    #[test]
    fn malformed_answers_are_upstream_errors() {
        for body in [
            "<html>",
            "{}",
            r#"{"robloxId":0}"#,
            r#"{"robloxId":"x"}"#,
            "[1]",
        ] {
            assert_eq!(
                read(200, body),
                err("upstream", "RoVer answered something unexpected"),
                "{body}"
            );
        }
    }

    #[test]
    fn the_cached_username_stands_in_when_roblox_is_down() {
        let link = Link {
            roblox_id: 123,
            cached_username: Some("Builderman".into()),
        };
        assert_eq!(
            pairs(&rover_placeholders(&link, None, Some(0))),
            [
                ("roblox_id", "123"),
                (
                    "roblox_profile_url",
                    "https://www.roblox.com/users/123/profile"
                ),
                ("roblox_username", "Builderman"),
                ("rover_cached_username", "Builderman"),
            ]
        );
        let renamed = RobloxUser {
            name: Some("NewName".into()),
            ..RobloxUser::default()
        };
        assert_eq!(
            pairs(&rover_placeholders(&link, Some(&renamed), Some(0))),
            [
                ("roblox_id", "123"),
                (
                    "roblox_profile_url",
                    "https://www.roblox.com/users/123/profile"
                ),
                ("roblox_username", "NewName"),
                ("rover_cached_username", "Builderman"),
            ]
        );
    }
}
