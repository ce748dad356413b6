//! Discord's text rules in one place: a message's 2,000-character limit, what may ping whom,
//! and making text from members or plugins inert.
//!
//! Every ephemeral answer passes through [`fit`] (in the router), so a command never has to
//! count characters itself; lists that must drop whole entries use [`join_fitting`].

use serenity::builder::CreateAllowedMentions;
use serenity::model::id::UserId;

pub use crate::integrations::welcome::{inert_message, neutralise};

/// The most characters Discord accepts in a message's content.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `text` cut to Discord's limit, with an ellipsis where it was cut.
pub fn fit(text: String) -> String {
    fit_to(text, MAX_MESSAGE_CHARS)
}

/// `text` cut to `limit` characters, with an ellipsis where it was cut.
pub fn fit_to(text: String, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text;
    }
    let mut cut: String = text.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `entries` joined by `sep`, leaving out whole entries (and saying how many) past the limit.
pub fn join_fitting(entries: Vec<String>, sep: &str) -> String {
    let total = entries.len();
    let mut out = String::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let more = format!("{sep}…and {} more.", total - i);
        let candidate = if out.is_empty() {
            entry
        } else {
            format!("{out}{sep}{entry}")
        };
        if candidate.chars().count() + more.chars().count() > MAX_MESSAGE_CHARS {
            out.push_str(&more);
            return out;
        }
        out = candidate;
    }
    out
}

/// `text` shown verbatim inside a code block: a ``` in it cannot end the block early.
pub fn code_block(text: &str) -> String {
    format!("```\n{}\n```", text.replace("```", "`\u{200b}``"))
}

/// No one is pinged by the message, whatever mentions it shows.
pub fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// Only `user` may be pinged by the message.
pub fn ping_only(user: UserId) -> CreateAllowedMentions {
    CreateAllowedMentions::new().users(vec![user])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_leaves_short_text_alone_and_cuts_long_text_to_the_limit() {
        assert_eq!(fit("hello".into()), "hello");
        let long = "é".repeat(2500);
        let cut = fit(long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn join_fitting_drops_whole_entries_and_counts_them() {
        let entries: Vec<String> = (0..100)
            .map(|i| format!("{i}:{}", "x".repeat(60)))
            .collect();
        let text = join_fitting(entries, "\n");
        assert!(text.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(text.ends_with("more."), "{text}");
        assert!(!text.contains("99:"));
        let shown = text.lines().filter(|l| l.contains(':')).count();
        assert!(
            text.contains(&format!("…and {} more.", 100 - shown)),
            "{text}"
        );
    }

    #[test]
    fn a_code_block_cannot_be_closed_from_inside() {
        let block = code_block("a ``` b");
        assert_eq!(block.matches("```").count(), 2);
    }
}
