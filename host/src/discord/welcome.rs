//! The welcome message: the server's template with its `%…%` tokens filled in.
//!
//! Tokens: `%user%` (a mention of the opener), `%user.id%`, `%ticket%` (`#0042`), `%subject%`,
//! and `%plugin.placeholder%` for a placeholder returned by an enabled plugin. A plugin token
//! whose plugin failed, is not enabled, or did not return that name becomes
//! [`UNAVAILABLE`], never the raw token. Text between two `%` that is not a token (as in
//! "50% off, 20% more") is left alone. Filling is one pass: a value is never expanded again.

use super::text::{neutralise, MAX_MESSAGE_CHARS};
use crate::integrations::PluginRun;

/// The template when the server has not set one.
pub const DEFAULT_TEMPLATE: &str =
    "Welcome %user%! Staff will be with you shortly. Describe what you need and they will answer here.";

/// What a placeholder shows when its plugin could not provide it.
pub const UNAVAILABLE: &str = "*unavailable*";

/// The longest template `/welcome set` accepts.
pub const MAX_TEMPLATE_CHARS: usize = 1500;

/// A token found in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// `%user%`, `%user.id%`, `%ticket%` or `%subject%`.
    Builtin(&'a str),
    /// `%plugin.placeholder%`.
    Plugin {
        /// The plugin's id.
        plugin: &'a str,
        /// The placeholder's name.
        name: &'a str,
    },
}

const BUILTINS: &[&str] = &["user", "user.id", "ticket", "subject"];

fn parse_token(inner: &str) -> Option<Token<'_>> {
    if BUILTINS.contains(&inner) {
        return Some(Token::Builtin(inner));
    }
    let (plugin, name) = inner.split_once('.')?;
    let plugin_ok = !plugin.is_empty()
        && plugin.len() <= 32
        && plugin
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let name_ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (plugin_ok && name_ok).then_some(Token::Plugin { plugin, name })
}

/// Splits a template into literal text and tokens.
fn pieces(template: &str) -> Vec<Result<&str, Token<'_>>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        match after
            .find('%')
            .and_then(|end| parse_token(&after[..end]).map(|t| (end, t)))
        {
            Some((end, token)) => {
                out.push(Ok(&rest[..start]));
                out.push(Err(token));
                rest = &after[end + 1..];
            }
            None => {
                out.push(Ok(&rest[..=start]));
                rest = after;
            }
        }
    }
    out.push(Ok(rest));
    out
}

/// The tokens of a template, for checking it when it is set.
pub fn tokens(template: &str) -> Vec<Token<'_>> {
    pieces(template)
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

/// Who and what a welcome message is for.
pub struct WelcomeContext<'a> {
    /// The opener.
    pub user_id: u64,
    /// The ticket's per-server number.
    pub number: i64,
    /// The subject the opener gave.
    pub subject: Option<&'a str>,
}

/// Fills `template` (or the default) for one ticket with what the plugins returned.
pub fn render(template: Option<&str>, ctx: &WelcomeContext<'_>, runs: &[PluginRun]) -> String {
    let template = template.unwrap_or(DEFAULT_TEMPLATE);
    let mut body = String::with_capacity(template.len() + 64);
    let mut used_subject = false;
    for piece in pieces(template) {
        match piece {
            Ok(text) => body.push_str(text),
            Err(Token::Builtin("user")) => body.push_str(&format!("<@{}>", ctx.user_id)),
            Err(Token::Builtin("user.id")) => body.push_str(&ctx.user_id.to_string()),
            Err(Token::Builtin("ticket")) => body.push_str(&format!("#{:04}", ctx.number)),
            Err(Token::Builtin(_)) => {
                used_subject = true;
                body.push_str(
                    &ctx.subject
                        .map(neutralise)
                        .unwrap_or_else(|| "none given".to_owned()),
                );
            }
            Err(Token::Plugin { plugin, name }) => {
                let value = runs
                    .iter()
                    .find(|r| r.plugin_id == plugin)
                    .and_then(|r| r.result.as_ref().ok())
                    .and_then(|values| values.iter().find(|(n, _)| n == name))
                    .map(|(_, v)| neutralise(v));
                body.push_str(value.as_deref().unwrap_or(UNAVAILABLE));
            }
        }
    }
    if let (Some(subject), false) = (ctx.subject, used_subject) {
        body.push_str(&format!("\n**Subject:** {}", neutralise(subject)));
    }
    let footer = shared_with(runs);
    let room = MAX_MESSAGE_CHARS.saturating_sub(footer.chars().count());
    if body.chars().count() > room {
        body = body.chars().take(room.saturating_sub(1)).collect();
        body.push('…');
    }
    body.push_str(&footer);
    body
}

/// The line telling the member which integrations received their ID (PRIVACY.md #16).
fn shared_with(runs: &[PluginRun]) -> String {
    let received: Vec<(String, &str)> = runs
        .iter()
        .filter(|r| r.received())
        .map(|r| (neutralise(&r.name), r.privacy_policy.as_str()))
        .collect();
    crate::privacy::disclosure::at_ticket_open(&received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::runtime::PluginFailure;

    fn run(id: &str, result: Result<Vec<(&str, &str)>, PluginFailure>) -> PluginRun {
        PluginRun {
            plugin_id: id.to_owned(),
            name: format!("The {id}"),
            privacy_policy: format!("https://{id}.example/privacy"),
            result: result.map(|v| {
                v.into_iter()
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .collect()
            }),
            disabled_now: false,
            locked_now: false,
        }
    }

    const CTX: WelcomeContext<'static> = WelcomeContext {
        user_id: 42,
        number: 7,
        subject: None,
    };

    #[test]
    fn tokens_are_filled_and_failures_are_neutral() {
        let runs = [
            run("roblox", Ok(vec![("username", "builder_man")])),
            run("broken", Err(PluginFailure::Trap("boom".into()))),
        ];
        let text = render(
            Some("Hi %user% (%user.id%) in %ticket%: %roblox.username% / %broken.rank% / %absent.x% / %roblox.missing%"),
            &CTX,
            &runs,
        );
        assert!(text.starts_with("Hi <@42> (42) in #0007: builder_man / *unavailable* / *unavailable* / *unavailable*"), "{text}");
        assert!(!text.contains("%broken"), "{text}");
        assert!(
            text.contains("[privacy policy](<https://roblox.example/privacy>)"),
            "{text}"
        );
        assert!(text.contains("**The broken**"), "{text}");
    }

    #[test]
    fn percent_signs_that_are_not_tokens_stay() {
        let text = render(
            Some("50% off, 20% more %% and %User% and %a b.c%"),
            &CTX,
            &[],
        );
        assert_eq!(text, "50% off, 20% more %% and %User% and %a b.c%");
    }

    #[test]
    fn values_are_inert_and_never_expanded_again() {
        let runs = [run(
            "p",
            Ok(vec![(
                "v",
                "@everyone <@1> [x](https://evil) %user% `c`\nline",
            )]),
        )];
        let text = render(Some("%p.v%"), &CTX, &runs);
        let body = text.lines().next().unwrap_or_default();
        assert_eq!(
            body,
            "\\@everyone \\<\\@1\\> \\[x\\](https://evil) %user% \\`c\\` line"
        );
    }

    #[test]
    fn long_output_is_cut_but_keeps_the_privacy_line() {
        let long = "x".repeat(1024);
        let values: Vec<(&str, &str)> = (0..25).map(|_| ("v", long.as_str())).collect();
        let runs = [run("p", Ok(values))];
        let template = "%p.v%".repeat(25);
        let text = render(Some(&template), &CTX, &runs);
        assert!(text.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(text.contains("privacy policy"), "{text}");
    }

    #[test]
    fn subject_is_appended_unless_the_template_places_it() {
        let ctx = WelcomeContext {
            user_id: 1,
            number: 1,
            subject: Some("Refund *now*"),
        };
        // The member's text is shown as typed: no formatting of its own.
        assert!(render(None, &ctx, &[]).ends_with("\n**Subject:** Refund \\*now\\*"));
        assert_eq!(
            render(Some("About: %subject%"), &ctx, &[]),
            "About: Refund \\*now\\*"
        );
        assert_eq!(
            tokens("a %ticket% %x.y% %nope%"),
            vec![
                Token::Builtin("ticket"),
                Token::Plugin {
                    plugin: "x",
                    name: "y"
                }
            ]
        );
    }
}
