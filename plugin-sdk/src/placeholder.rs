//! Building [`Placeholder`]s and the limits the host applies to them.

use crate::Placeholder;

/// The most placeholders the host keeps from one event.
pub const MAX_PLACEHOLDERS: usize = 25;
/// The longest placeholder name the host accepts, in characters (letters, digits, `_`, `-`).
pub const MAX_NAME_CHARS: usize = 32;
/// The longest placeholder value the host accepts, in characters.
pub const MAX_VALUE_CHARS: usize = 1024;

/// A placeholder used in the welcome message as `%plugin-id.name%`.
///
/// The host checks the limits above; stay within them (see [`truncate`]) rather than rely on it.
pub fn placeholder(name: impl Into<String>, value: impl Into<String>) -> Placeholder {
    Placeholder {
        name: name.into(),
        value: value.into(),
    }
}

/// `text` cut to at most `max_chars` characters, never inside a character.
pub fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_keeps_name_and_value() {
        let p = placeholder("user_id", String::from("42"));
        assert_eq!((p.name.as_str(), p.value.as_str()), ("user_id", "42"));
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 50), "héllo");
        assert_eq!(truncate("", 0), "");
    }
}
