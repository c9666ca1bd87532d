//! What a valid post is: the title and body limits and their validation.
//!
//! Text is text: a title holds no control characters and keeps a visible character
//! after trimming; a body holds none but tab, line feed and carriage return. Neither
//! holds the noncharacters U+FFFE and U+FFFF. So every page and the Atom feed (XML 1.0)
//! stay well-formed, whatever was pasted.
//!
//! posts-service enforces these; render-service's form checks them first so that most
//! mistakes need no round trip, and words them for people. Both call [`PostInput::validate`].

use crate::post::PostInput;
use crate::problem::FieldError;

/// Longest title, in characters, after trimming.
pub const TITLE_MAX_CHARS: usize = 128;
/// Longest body, in bytes of UTF-8 (what a MariaDB `TEXT` column holds).
pub const BODY_MAX_BYTES: usize = 65_535;

/// A title and body that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostContent {
    /// Trimmed title.
    pub title: String,
    /// Body as sent.
    pub body: String,
}

/// One broken rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// No `title` at all.
    TitleMissing,
    /// Nothing left after trimming.
    TitleEmpty,
    /// A control character (or a noncharacter) in the title.
    TitleControl,
    /// Over [`TITLE_MAX_CHARS`]; `chars` is how many it has.
    TitleTooLong {
        /// Characters after trimming.
        chars: usize,
    },
    /// No `body` at all.
    BodyMissing,
    /// A control character other than tab, line feed and carriage return (or a
    /// noncharacter) in the body.
    BodyControl,
    /// Over [`BODY_MAX_BYTES`]; `bytes` is how many it has.
    BodyTooLong {
        /// Bytes of UTF-8.
        bytes: usize,
    },
}

impl Violation {
    /// The field the rule is about: `title` or `body`.
    pub fn field(self) -> &'static str {
        match self {
            Violation::TitleMissing
            | Violation::TitleEmpty
            | Violation::TitleControl
            | Violation::TitleTooLong { .. } => "title",
            Violation::BodyMissing | Violation::BodyControl | Violation::BodyTooLong { .. } => {
                "body"
            }
        }
    }

    /// The API's wording.
    pub fn message(self) -> String {
        match self {
            Violation::TitleMissing => "title is required".to_owned(),
            Violation::TitleEmpty => {
                "title must not be empty (it needs a visible character)".to_owned()
            }
            Violation::TitleControl => "title must not contain control characters".to_owned(),
            Violation::BodyControl => {
                "body must not contain control characters other than tab and line breaks".to_owned()
            }
            Violation::TitleTooLong { chars } => {
                format!("title must be at most {TITLE_MAX_CHARS} characters (it has {chars})")
            }
            Violation::BodyMissing => "body is required".to_owned(),
            Violation::BodyTooLong { bytes } => {
                format!("body must be at most {BODY_MAX_BYTES} bytes of UTF-8 (it has {bytes})")
            }
        }
    }

    /// The violation as a problem document's field error.
    pub fn to_field_error(self) -> FieldError {
        FieldError {
            field: self.field().to_owned(),
            message: self.message(),
        }
    }
}

impl PostInput {
    /// Checks every rule and returns all violations at once, so a form can show them
    /// together.
    pub fn validate(&self) -> Result<PostContent, Vec<Violation>> {
        let mut violations = Vec::new();
        let title = self.title.as_deref().map(str::trim);
        match title {
            None => violations.push(Violation::TitleMissing),
            Some(title) if title.chars().any(|c| c.is_control() || is_noncharacter(c)) => {
                violations.push(Violation::TitleControl)
            }
            Some(title) if title.chars().all(is_invisible) => {
                violations.push(Violation::TitleEmpty)
            }
            Some(title) => {
                let chars = title.chars().count();
                if chars > TITLE_MAX_CHARS {
                    violations.push(Violation::TitleTooLong { chars });
                }
            }
        }
        match &self.body {
            None => violations.push(Violation::BodyMissing),
            Some(body) if body.len() > BODY_MAX_BYTES => {
                violations.push(Violation::BodyTooLong { bytes: body.len() })
            }
            Some(body) if body.chars().any(is_forbidden_in_body) => {
                violations.push(Violation::BodyControl)
            }
            Some(_) => {}
        }
        if violations.is_empty() {
            Ok(PostContent {
                title: title.unwrap_or_default().to_owned(),
                body: self.body.clone().unwrap_or_default(),
            })
        } else {
            Err(violations)
        }
    }
}

/// U+FFFE and U+FFFF: not characters, and not allowed in XML.
fn is_noncharacter(c: char) -> bool {
    matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

fn is_forbidden_in_body(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || is_noncharacter(c)
}

/// White space, and the characters that take no room: zero-width spaces and joiners,
/// the word joiner and invisible operators, the byte order mark, the soft hyphen, the
/// combining grapheme joiner, and the directional marks.
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{FEFF}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: &[Violation]) -> Vec<&'static str> {
        violations.iter().map(|v| v.field()).collect()
    }

    #[test]
    fn title_is_trimmed() {
        let content = PostInput::new("  Hello \n", "b").validate().unwrap();
        assert_eq!(content.title, "Hello");
    }

    #[test]
    fn title_limits_count_characters_not_bytes() {
        assert!(PostInput::new("é".repeat(128), "").validate().is_ok());
        let errors = PostInput::new("é".repeat(129), "").validate().unwrap_err();
        assert_eq!(fields(&errors), ["title"]);
    }

    #[test]
    fn blank_title_is_rejected() {
        let errors = PostInput::new("   ", "").validate().unwrap_err();
        assert_eq!(fields(&errors), ["title"]);
    }

    #[test]
    fn body_limit_counts_bytes() {
        assert!(PostInput::new("t", "a".repeat(BODY_MAX_BYTES))
            .validate()
            .is_ok());
        let errors = PostInput::new("t", "€".repeat(BODY_MAX_BYTES / 3 + 1))
            .validate()
            .unwrap_err();
        assert_eq!(fields(&errors), ["body"]);
    }

    #[test]
    fn control_characters_are_refused_where_they_break_text() {
        for title in [
            "bell\u{7}",
            "vertical\u{B}tab",
            "line\nbreak",
            "nul\u{0}",
            "\u{FFFF}x",
        ] {
            let errors = PostInput::new(title, "b").validate().unwrap_err();
            assert_eq!(errors, [Violation::TitleControl], "{title:?}");
        }
        for body in ["bell\u{7}", "form\u{C}feed", "\u{FFFE}"] {
            let errors = PostInput::new("t", body).validate().unwrap_err();
            assert_eq!(errors, [Violation::BodyControl], "{body:?}");
        }
        assert!(PostInput::new("Tabs\tin a title? No", "a\tb\r\nc\n")
            .validate()
            .is_err());
        assert!(PostInput::new("fine", "a\tb\r\nc\n").validate().is_ok());
    }

    #[test]
    fn a_title_needs_a_visible_character() {
        for title in [
            "\u{200B}",
            " \u{200B}\u{FEFF} ",
            "\u{00AD}",
            "\u{2060}\u{200D}",
        ] {
            let errors = PostInput::new(title, "b").validate().unwrap_err();
            assert_eq!(errors, [Violation::TitleEmpty], "{title:?}");
        }
        assert!(PostInput::new("a\u{200B}b", "").validate().is_ok());
    }

    #[test]
    fn every_violation_is_reported() {
        let errors = PostInput::default().validate().unwrap_err();
        assert_eq!(fields(&errors), ["title", "body"]);
    }
}
