//! Discord's text rules in one place: a message's 2,000-character limit, what may ping whom,
//! and making text from members or plugins inert.
//!
//! Every ephemeral answer passes through [`fit`] (in `Reply::text`), so a command never has to
//! count characters itself; lists that must drop whole entries use [`join_fitting`].

use serenity::builder::CreateAllowedMentions;
use serenity::model::id::UserId;

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

pub use crate::unicode::is_invisible_format;

/// Makes a plugin's value inert: no mentions, masked links, code, formatting, headings, lists
/// or quotes, one line, no invisible reordering. URLs stay clickable: in a word containing
/// `://` only the characters that could mention or mask a link are escaped.
pub fn neutralise(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let one_line: String = value
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .filter(|&c| !c.is_control() && !is_invisible_format(c))
        .collect();
    // Block syntax (`-# `, `- `, `+ `, `1. `) only counts at the start of a line.
    let mut rest = one_line.as_str();
    if let Some(c @ ('-' | '+')) = rest.chars().next() {
        out.push('\\');
        out.push(c);
        rest = &rest[1..];
    } else {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with('.') {
            out.push_str(&rest[..digits]);
            out.push_str("\\.");
            rest = &rest[digits + 1..];
        }
    }
    for (i, word) in rest.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let url = word.contains("://");
        let chars: Vec<char> = word.chars().collect();
        for (j, &c) in chars.iter().enumerate() {
            let escape = match c {
                // Mentions, masked links and code spans.
                '\\' | '<' | '>' | '[' | ']' | '`' | '@' => true,
                // Emphasis, strike-through, spoilers and headings; not inside URLs.
                '*' | '~' | '|' | '#' => !url,
                // `_` formats only at a word's edge (`_a_`, `__a__`); snake_case is left alone.
                '_' => {
                    let alnum = |k: Option<&char>| k.is_some_and(|c| c.is_alphanumeric());
                    let inside_word = j > 0 && alnum(chars.get(j - 1)) && alnum(chars.get(j + 1));
                    !url && !inside_word
                }
                _ => false,
            };
            if escape {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// Makes a plugin's message to admins (a refused setting, a failure) safe to show: it cannot
/// mention anyone or mask a link, but keeps code spans (`like this`), which admins read better.
pub fn inert_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '<' | '>' | '[' | ']' | '@' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push('\n'),
            c if c.is_control() || is_invisible_format(c) => {}
            c => out.push(c),
        }
    }
    out
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
    fn formatting_headings_and_lists_are_inert_but_urls_and_snake_case_survive() {
        for (value, inert) in [
            (
                "**bold** __under__ ~~gone~~ ||spoiler||",
                "\\*\\*bold\\*\\* \\_\\_under\\_\\_ \\~\\~gone\\~\\~ \\|\\|spoiler\\|\\|",
            ),
            ("# Huge", "\\# Huge"),
            ("-# small", "\\-\\# small"),
            ("- item", "\\- item"),
            ("1. first", "1\\. first"),
            (
                "builder_man_2 https://x.example/a_b*c#d",
                "builder_man_2 https://x.example/a_b*c#d",
            ),
            ("_italic_", "\\_italic\\_"),
        ] {
            assert_eq!(neutralise(value), inert, "{value}");
        }
    }

    #[test]
    fn bidirectional_overrides_and_zero_width_characters_are_removed() {
        // "gnp.exe" shown as "exe.png" by a right-to-left override, and a hidden space.
        let spoof = "invoice\u{202E}gnp.exe and ad\u{200B}min\u{2066}x\u{2069}\u{FEFF}";
        assert_eq!(neutralise(spoof), "invoicegnp.exe and adminx");
        assert_eq!(inert_message(spoof), "invoicegnp.exe and adminx");
        // Emoji sequences keep their joiner.
        assert_eq!(neutralise("👩\u{200D}💻"), "👩\u{200D}💻");
    }

    #[test]
    fn a_code_block_cannot_be_closed_from_inside() {
        let block = code_block("a ``` b");
        assert_eq!(block.matches("```").count(), 2);
    }
}
