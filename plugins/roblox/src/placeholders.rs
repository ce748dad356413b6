//! The `roblox_*` placeholders: what the link alone tells (ID, profile link) and, when Roblox
//! answered, the public profile.

use std::time::{SystemTime, UNIX_EPOCH};

use tessera_plugin_sdk::{placeholder, truncate, Placeholder, MAX_VALUE_CHARS};

use crate::date::{format_date, parse_rfc3339, whole_days_between};
use crate::users::{profile_url, RobloxUser};

/// `%<plugin>.roblox_id%`: the Roblox user ID.
pub const ROBLOX_ID: &str = "roblox_id";
/// `%<plugin>.roblox_username%`: the username.
pub const ROBLOX_USERNAME: &str = "roblox_username";
/// `%<plugin>.roblox_display_name%`: the display name.
pub const ROBLOX_DISPLAY_NAME: &str = "roblox_display_name";
/// `%<plugin>.roblox_profile_url%`: `https://www.roblox.com/users/{id}/profile`.
pub const ROBLOX_PROFILE_URL: &str = "roblox_profile_url";
/// `%<plugin>.roblox_created%`: the account's creation date, `YYYY-MM-DD` (UTC).
pub const ROBLOX_CREATED: &str = "roblox_created";
/// `%<plugin>.roblox_account_age_days%`: whole days since the account was created.
pub const ROBLOX_ACCOUNT_AGE_DAYS: &str = "roblox_account_age_days";
/// `%<plugin>.roblox_verified_badge%`: `yes` or `no`.
pub const ROBLOX_VERIFIED_BADGE: &str = "roblox_verified_badge";
/// `%<plugin>.roblox_banned%`: `yes` or `no`.
pub const ROBLOX_BANNED: &str = "roblox_banned";

/// The placeholders for Roblox user `id`, with the profile's when `user` is known. `now` (Unix
/// seconds) dates the account's age; a field Roblox left out, or a date that does not parse,
/// gives no placeholder.
pub fn roblox_placeholders(
    id: u64,
    user: Option<&RobloxUser>,
    now: Option<i64>,
) -> Vec<Placeholder> {
    let mut out = vec![
        placeholder(ROBLOX_ID, id.to_string()),
        placeholder(ROBLOX_PROFILE_URL, profile_url(id)),
    ];
    let Some(user) = user else {
        return out;
    };
    let text = |name: &str, value: &str| placeholder(name, truncate(value, MAX_VALUE_CHARS));
    let yes_no = |name: &str, value: bool| placeholder(name, if value { "yes" } else { "no" });
    out.extend(user.name.as_deref().map(|v| text(ROBLOX_USERNAME, v)));
    out.extend(
        user.display_name
            .as_deref()
            .map(|v| text(ROBLOX_DISPLAY_NAME, v)),
    );
    if let Some(created) = user.created.as_deref().and_then(parse_rfc3339) {
        out.push(placeholder(ROBLOX_CREATED, format_date(created)));
        out.extend(now.map(|now| {
            placeholder(
                ROBLOX_ACCOUNT_AGE_DAYS,
                whole_days_between(created, now).to_string(),
            )
        }));
    }
    out.extend(
        user.has_verified_badge
            .map(|v| yes_no(ROBLOX_VERIFIED_BADGE, v)),
    );
    out.extend(user.is_banned.map(|v| yes_no(ROBLOX_BANNED, v)));
    out
}

/// The current Unix time, if the clock is past 1970.
pub fn now() -> Option<i64> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(placeholders: &[Placeholder]) -> Vec<(&str, &str)> {
        placeholders
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect()
    }

    #[test]
    fn the_link_alone_gives_the_id_and_profile_link() {
        assert_eq!(
            pairs(&roblox_placeholders(156, None, Some(0))),
            [
                ("roblox_id", "156"),
                (
                    "roblox_profile_url",
                    "https://www.roblox.com/users/156/profile"
                ),
            ]
        );
    }

    #[test]
    fn a_profile_fills_every_placeholder() {
        let user = RobloxUser {
            id: Some(156),
            name: Some("builderman".into()),
            display_name: Some("Builderman".into()),
            created: Some("2006-02-27T21:06:40.3Z".into()),
            is_banned: Some(false),
            has_verified_badge: Some(true),
        };
        // 2006-02-27T21:06:40Z plus 100 days and an hour.
        let now = parse_rfc3339("2006-06-07T22:06:40Z");
        assert_eq!(
            pairs(&roblox_placeholders(156, Some(&user), now)),
            [
                ("roblox_id", "156"),
                (
                    "roblox_profile_url",
                    "https://www.roblox.com/users/156/profile"
                ),
                ("roblox_username", "builderman"),
                ("roblox_display_name", "Builderman"),
                ("roblox_created", "2006-02-27"),
                ("roblox_account_age_days", "100"),
                ("roblox_verified_badge", "yes"),
                ("roblox_banned", "no"),
            ]
        );
    }

    #[test]
    fn missing_or_unreadable_fields_give_no_placeholder() {
        let user = RobloxUser {
            name: Some("builderman".into()),
            created: Some("last Tuesday".into()),
            is_banned: Some(true),
            ..RobloxUser::default()
        };
        assert_eq!(
            pairs(&roblox_placeholders(156, Some(&user), Some(0))),
            [
                ("roblox_id", "156"),
                (
                    "roblox_profile_url",
                    "https://www.roblox.com/users/156/profile"
                ),
                ("roblox_username", "builderman"),
                ("roblox_banned", "yes"),
            ]
        );
    }

    #[test]
    fn the_clock_is_past_1970() {
        assert!(now().is_some_and(|now| now > 1_700_000_000));
    }
}
