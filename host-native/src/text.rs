//! Text from servers and files made safe for a terminal, in one place
//!
//! A provider's `user_code` or `error_description`, an account label from an ID token or a remote
//! name from a config file can carry escape sequences that retitle the terminal, clear it, move
//! the cursor to fake a "Logged in" line, or reorder what the user reads (bidi overrides). Every
//! such text goes through [`terminal_safe`] before it is printed for people; JSON output escapes
//! control characters by itself and keeps the text as sent.
use std::borrow::Cow;

/// What a replaced character becomes: visible, so the user sees that something was there
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether `c` must not reach a terminal: C0 controls (tab and newline included: outside text is
/// shown on one line), DEL, C1 controls, and the bidi embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069)
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every [`is_unsafe`] character replaced by [`REPLACEMENT`]; borrowed when clean
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe) {
        Cow::Owned(
            text.chars()
                .map(|c| if is_unsafe(c) { REPLACEMENT } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_controls_and_bidi_overrides() {
        assert!(matches!(terminal_safe("ada@example.com"), Cow::Borrowed(_)));
        assert_eq!(
            terminal_safe("\u{1b}]0;pwned\u{7}\r✓ Logged in\n\tx\u{7f}\u{9b}2J"),
            "\u{FFFD}]0;pwned\u{FFFD}\u{FFFD}✓ Logged in\u{FFFD}\u{FFFD}x\u{FFFD}\u{FFFD}2J"
        );
        for bidi in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}'] {
            assert_eq!(terminal_safe(&format!("a{bidi}b")), "a\u{FFFD}b");
        }
        for isolate in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert_eq!(terminal_safe(&format!("a{isolate}b")), "a\u{FFFD}b");
        }
        // Neighbours of the ranges, and ordinary non-ASCII text, stay.
        assert_eq!(
            terminal_safe("\u{2029}\u{202F}\u{2065}\u{206A}é✓"),
            "\u{2029}\u{202F}\u{2065}\u{206A}é✓"
        );
    }
}
