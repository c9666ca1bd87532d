//! A blog post, and the rules a title and body must follow.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Longest title, in characters, after trimming.
pub const TITLE_MAX_CHARS: usize = 128;
/// Longest body, in bytes of UTF-8 (what a MariaDB `TEXT` column holds).
pub const BODY_MAX_BYTES: usize = 65_535;

/// A stored post as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Post {
    /// Assigned by the database; newer posts have larger ids.
    pub id: u64,
    /// One line, 1 to 128 characters.
    pub title: String,
    /// Markdown text.
    pub body: String,
    /// When the post was created, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the post last changed, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// 1 at creation, one more on every update: the post's entity tag.
    pub version: u32,
}

/// A title and body as a client sends them for `POST` and `PUT`.
///
/// Both fields are optional here so that a missing one is a 422 naming the field rather
/// than a generic 400; unknown fields are a 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostInput {
    /// The title before trimming.
    pub title: Option<String>,
    /// The body.
    pub body: Option<String>,
}

/// A title and body that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostContent {
    /// Trimmed title.
    pub title: String,
    /// Body as sent.
    pub body: String,
}

/// One broken rule, named by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// `title` or `body`.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl PostInput {
    /// Checks every rule and returns all violations at once, so a form can show them
    /// together.
    pub fn validate(self) -> Result<PostContent, Vec<FieldError>> {
        let mut errors = Vec::new();
        let title = match self.title {
            None => {
                errors.push(FieldError {
                    field: "title",
                    message: "title is required".to_owned(),
                });
                String::new()
            }
            Some(title) => {
                let title = title.trim().to_owned();
                let chars = title.chars().count();
                if chars == 0 {
                    errors.push(FieldError {
                        field: "title",
                        message: "title must not be empty".to_owned(),
                    });
                } else if chars > TITLE_MAX_CHARS {
                    errors.push(FieldError {
                        field: "title",
                        message: format!(
                            "title must be at most {TITLE_MAX_CHARS} characters (it has {chars})"
                        ),
                    });
                }
                title
            }
        };
        let body = match self.body {
            None => {
                errors.push(FieldError {
                    field: "body",
                    message: "body is required".to_owned(),
                });
                String::new()
            }
            Some(body) if body.len() > BODY_MAX_BYTES => {
                errors.push(FieldError {
                    field: "body",
                    message: format!(
                        "body must be at most {BODY_MAX_BYTES} bytes of UTF-8 (it has {})",
                        body.len()
                    ),
                });
                body
            }
            Some(body) => body,
        };
        if errors.is_empty() {
            Ok(PostContent { title, body })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(title: &str, body: &str) -> PostInput {
        PostInput {
            title: Some(title.to_owned()),
            body: Some(body.to_owned()),
        }
    }

    #[test]
    fn title_is_trimmed() {
        let content = input("  Hello \n", "b").validate().unwrap();
        assert_eq!(content.title, "Hello");
    }

    #[test]
    fn title_limits_count_characters_not_bytes() {
        assert!(input(&"é".repeat(128), "").validate().is_ok());
        let errors = input(&"é".repeat(129), "").validate().unwrap_err();
        assert_eq!(errors[0].field, "title");
    }

    #[test]
    fn blank_title_is_rejected() {
        let errors = input("   ", "").validate().unwrap_err();
        assert_eq!(errors[0].field, "title");
    }

    #[test]
    fn body_limit_counts_bytes() {
        assert!(input("t", &"a".repeat(BODY_MAX_BYTES)).validate().is_ok());
        let errors = input("t", &"€".repeat(BODY_MAX_BYTES / 3 + 1))
            .validate()
            .unwrap_err();
        assert_eq!(errors[0].field, "body");
    }

    #[test]
    fn every_violation_is_reported() {
        let errors = PostInput {
            title: None,
            body: None,
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["title", "body"]);
    }
}
