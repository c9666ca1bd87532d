//! Characters XML 1.0 forbids (C0 controls other than tab, newline and carriage return,
//! and U+FFFE, U+FFFF) can reach the output through a numeric reference such as
//! `&#1;`, which CommonMark decodes to the character itself. One of them in a page is
//! harmless to a browser but makes the Atom feed ill-formed for every reader, so
//! everything the renderer makes passes through [`replace_forbidden`].

use std::borrow::Cow;

/// Whether XML 1.0 allows `c` in a document.
pub fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `text` with every character XML forbids replaced by U+FFFD.
pub fn replace_forbidden(text: &str) -> Cow<'_, str> {
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_nonchars_are_replaced_and_the_rest_kept() {
        assert_eq!(
            replace_forbidden("a\u{1}b\u{0}c\u{1f}d"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d"
        );
        assert_eq!(replace_forbidden("x\u{FFFE}\u{FFFF}"), "x\u{FFFD}\u{FFFD}");
        let kept = "tab\tnl\ncr\r äöü 漢字 😀 \u{FFFD}";
        assert!(matches!(replace_forbidden(kept), Cow::Borrowed(_)));
    }
}
