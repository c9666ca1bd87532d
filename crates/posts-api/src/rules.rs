//! What a valid post is: the title and body limits and their validation.
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
    /// Over [`TITLE_MAX_CHARS`]; `chars` is how many it has.
    TitleTooLong {
        /// Characters after trimming.
        chars: usize,
    },
    /// No `body` at all.
    BodyMissing,
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
            Violation::TitleMissing | Violation::TitleEmpty | Violation::TitleTooLong { .. } => {
                "title"
            }
            Violation::BodyMissing | Violation::BodyTooLong { .. } => "body",
        }
    }

    /// The API's wording.
    pub fn message(self) -> String {
        match self {
            Violation::TitleMissing => "title is required".to_owned(),
            Violation::TitleEmpty => "title must not be empty".to_owned(),
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
            Some("") => violations.push(Violation::TitleEmpty),
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
    fn every_violation_is_reported() {
        let errors = PostInput {
            title: None,
            body: None,
        }
        .validate()
        .unwrap_err();
        assert_eq!(fields(&errors), ["title", "body"]);
    }
}
