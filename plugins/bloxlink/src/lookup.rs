//! Bloxlink's `discord-to-roblox` lookup: which endpoint a key's scope uses, and what its answer
//! means.

use serde_json::Value;
use tessera_plugin_sdk::{truncate, PluginError, UserId};
use tessera_roblox::errors;
use tessera_roblox::users::parse_roblox_id;

/// How the service is named in messages to admins.
pub const SERVICE: &str = "Bloxlink";

/// Which kind of Bloxlink API key the server gave: it decides the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A global key: `/v4/public/discord-to-roblox/{user}`.
    Global,
    /// A key created for one server: `/v4/public/guilds/{server}/discord-to-roblox/{user}`.
    Server,
}

impl Scope {
    /// The setting `scope`: `global` (also when unset or blank) or `server`, in any case.
    pub fn parse(value: Option<&str>) -> Result<Scope, String> {
        match value.map(str::trim).unwrap_or_default() {
            "" => Ok(Scope::Global),
            v if v.eq_ignore_ascii_case("global") => Ok(Scope::Global),
            v if v.eq_ignore_ascii_case("server") => Ok(Scope::Server),
            other => Err(format!(
                "`scope` must be `global` (for a global Bloxlink API key) or `server` (for a key \
                 created for this server), not `{}`",
                truncate(other, 40)
            )),
        }
    }
}

/// The lookup URL for `user_id`; a server key also needs the server's ID.
pub fn lookup_url(
    scope: Scope,
    user_id: UserId,
    server_id: Option<u64>,
) -> Result<String, PluginError> {
    Ok(match scope {
        Scope::Global => format!("https://api.blox.link/v4/public/discord-to-roblox/{user_id}"),
        Scope::Server => {
            // The manifest says `receives_server_id = true`, so the host always gives it.
            let server_id = server_id.ok_or_else(|| {
                PluginError::Internal(
                    "Tessera did not give the plugin this server's ID; please report this to the \
                     Tessera developers"
                        .to_owned(),
                )
            })?;
            format!(
                "https://api.blox.link/v4/public/guilds/{server_id}/discord-to-roblox/{user_id}"
            )
        }
    })
}

/// The Roblox user ID in Bloxlink's answer, or the error it stands for.
///
/// 200 `{"robloxID": "1234", ...}` is a link (an ID as a number is accepted too); a 404 (Bloxlink
/// says `{"error": "User not found"}`) or a 200 without `robloxID` means the member linked none.
pub fn read_link(status: u16, retry_after: Option<&str>, body: &[u8]) -> Result<u64, PluginError> {
    match status {
        200..=299 => {}
        404 => return Err(not_linked()),
        401 | 403 => {
            return Err(PluginError::Denied(format!(
                "Bloxlink refused the API key (HTTP {status}): check the API key in \
                 /integrations config bloxlink; a server key needs scope = server and must \
                 belong to this server"
            )))
        }
        429 => return Err(errors::rate_limited(SERVICE, retry_after)),
        500..=599 => return Err(errors::having_trouble(SERVICE, status)),
        _ => return Err(errors::unexpected_status(SERVICE, status)),
    }
    let answer: Value = serde_json::from_slice(body).map_err(|_| errors::unexpected(SERVICE))?;
    if !answer.is_object() {
        return Err(errors::unexpected(SERVICE));
    }
    match answer.get("robloxID") {
        None | Some(Value::Null) => Err(not_linked()),
        Some(id) => parse_roblox_id(id).ok_or_else(|| errors::unexpected(SERVICE)),
    }
}

fn not_linked() -> PluginError {
    PluginError::NotFound("not linked to a Roblox account".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(status: u16, body: &str) -> Result<u64, (&'static str, String)> {
        read_link(status, Some("12"), body.as_bytes())
            .map_err(|e| (e.kind(), e.message().to_owned()))
    }

    fn err(kind: &'static str, message: &str) -> Result<u64, (&'static str, String)> {
        Err((kind, message.to_owned()))
    }

    #[test]
    fn scope_is_global_unless_set_to_server() {
        assert_eq!(Scope::parse(None), Ok(Scope::Global));
        assert_eq!(Scope::parse(Some("  ")), Ok(Scope::Global));
        assert_eq!(Scope::parse(Some("global")), Ok(Scope::Global));
        assert_eq!(Scope::parse(Some(" Server ")), Ok(Scope::Server));
        assert_eq!(
            Scope::parse(Some("guild")),
            Err(
                "`scope` must be `global` (for a global Bloxlink API key) or `server` (for a key \
                 created for this server), not `guild`"
                    .to_owned()
            )
        );
    }

    #[test]
    fn each_scope_has_its_endpoint() {
        let url = |scope, server| lookup_url(scope, 42, server).map_err(|e| e.kind());
        assert_eq!(
            url(Scope::Global, None),
            Ok("https://api.blox.link/v4/public/discord-to-roblox/42".to_owned())
        );
        assert_eq!(
            url(Scope::Server, Some(7)),
            Ok("https://api.blox.link/v4/public/guilds/7/discord-to-roblox/42".to_owned())
        );
        assert_eq!(url(Scope::Server, None), Err("internal"));
    }

    #[test]
    fn a_link_gives_the_roblox_id() {
        assert_eq!(read(200, r#"{"robloxID":"1234","resolved":{}}"#), Ok(1234));
        assert_eq!(read(200, r#"{"robloxID":1234}"#), Ok(1234));
    }

    #[test]
    fn no_link_is_not_found() {
        let not_linked = err("not-found", "not linked to a Roblox account");
        assert_eq!(read(404, r#"{"error":"User not found"}"#), not_linked);
        assert_eq!(read(404, ""), not_linked);
        assert_eq!(read(200, r#"{"resolved":{}}"#), not_linked);
        assert_eq!(read(200, r#"{"robloxID":null}"#), not_linked);
    }

    #[test]
    fn a_refused_key_says_what_to_check() {
        let message = |status| {
            format!(
                "Bloxlink refused the API key (HTTP {status}): check the API key in /integrations \
                 config bloxlink; a server key needs scope = server and must belong to this server"
            )
        };
        assert_eq!(read(401, ""), err("denied", &message(401)));
        assert_eq!(read(403, ""), err("denied", &message(403)));
    }

    #[test]
    fn rate_limits_and_outages_are_told_apart() {
        assert_eq!(
            read(429, ""),
            err(
                "rate-limited",
                "Bloxlink is rate limiting the API key (HTTP 429, retry after 12 s); later \
                 tickets will try again. If this keeps happening, check the key's request limits \
                 with Bloxlink"
            )
        );
        assert_eq!(
            read(503, "<html>"),
            err(
                "upstream",
                "Bloxlink is having trouble (HTTP 503); tickets will try again"
            )
        );
        assert_eq!(
            read(302, ""),
            err(
                "upstream",
                "Bloxlink answered something unexpected (HTTP 302)"
            )
        );
    }

    #[test]
    fn malformed_answers_are_upstream_errors() {
        let unexpected = err("upstream", "Bloxlink answered something unexpected");
        for body in [
            "<html>",
            "",
            "[]",
            r#"{"robloxID":"abc"}"#,
            r#"{"robloxID":"0"}"#,
            r#"{"robloxID":-3}"#,
            r#"{"robloxID":{}}"#,
        ] {
            assert_eq!(read(200, body), unexpected, "{body}");
        }
    }
}
