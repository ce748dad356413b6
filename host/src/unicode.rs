//! Unicode rules shared by everything that shows text from members and plugins (Discord
//! messages, plugin logs).

/// Whether `c` reorders or hides text without showing itself: bidirectional overrides,
/// isolates and marks, zero-width spaces and the byte-order mark. Text from members and plugins
/// could use them to make one name look like another. (The zero-width joiner stays: emoji
/// sequences need it, and it cannot reorder text.)
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}
