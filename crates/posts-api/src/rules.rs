//! What a valid post is: the title and body limits and their validation.
//!
//! Text is text: a title holds no control characters and keeps a visible character
//! after trimming; a body holds none but tab, line feed and carriage return. Neither
//! holds the noncharacters U+FFFE and U+FFFF. So every page and the Atom feed (XML 1.0)
//! stay well-formed, whatever was pasted.
//!
//! posts-service enforces these; render-service's form checks them first so that most
//! mistakes need no round trip, and words them for people. Both call [`PostInput::validate`].

use time::OffsetDateTime;

use crate::post::{PostInput, PostStatus};
use crate::problem::FieldError;
use crate::slug::{self, TagProblem, SLUG_MAX_CHARS, TAGS_MAX, TAG_MAX_CHARS};

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

/// The optional fields of a create or update, validated: `None` where the client sent
/// nothing (a create then takes the default, an update keeps the stored value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostMeta {
    /// A valid slug, trimmed.
    pub slug: Option<String>,
    /// The tags, trimmed and deduplicated regardless of case ([`slug::normalize_tags`]).
    pub tags: Option<Vec<String>>,
    /// Draft or published.
    pub status: Option<PostStatus>,
    /// When to publish, to the millisecond (what is stored).
    pub published_at: Option<OffsetDateTime>,
}

impl PostMeta {
    /// Whether the client sent none of these fields.
    pub fn is_empty(&self) -> bool {
        *self == PostMeta::default()
    }
}

/// One broken rule of the optional fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaViolation {
    /// Not a valid slug ([`slug::is_valid_slug`]).
    SlugInvalid,
    /// Another post has, or had, this slug (only posts-service can tell).
    SlugTaken,
    /// A tag, or the number of tags, breaks a rule.
    Tag(TagProblem),
    /// A publication time before 1970 or after 9999.
    PublishedAtOutOfRange,
}

impl MetaViolation {
    /// The field the rule is about: `slug`, `tags` or `published_at`.
    pub fn field(&self) -> &'static str {
        match self {
            MetaViolation::SlugInvalid | MetaViolation::SlugTaken => "slug",
            MetaViolation::Tag(_) => "tags",
            MetaViolation::PublishedAtOutOfRange => "published_at",
        }
    }

    /// The API's wording.
    pub fn message(&self) -> String {
        match self {
            MetaViolation::SlugInvalid => format!(
                "slug must be 1 to {SLUG_MAX_CHARS} lowercase letters, digits and single \
                 hyphens between them, with at least one letter"
            ),
            MetaViolation::SlugTaken => "slug is taken by another post".to_owned(),
            MetaViolation::Tag(TagProblem::Empty) => "tags must not be empty".to_owned(),
            MetaViolation::Tag(TagProblem::TooLong { tag, chars }) => {
                format!("tags must be at most {TAG_MAX_CHARS} characters ({tag:?} has {chars})")
            }
            MetaViolation::Tag(TagProblem::Control) => {
                "tags must not contain control characters".to_owned()
            }
            MetaViolation::Tag(TagProblem::TooMany { count }) => {
                format!("a post has at most {TAGS_MAX} tags (it has {count})")
            }
            MetaViolation::PublishedAtOutOfRange => {
                "published_at must be between 1970 and 9999".to_owned()
            }
        }
    }

    /// The violation as a problem document's field error.
    pub fn to_field_error(&self) -> FieldError {
        FieldError {
            field: self.field().to_owned(),
            message: self.message(),
        }
    }
}

impl PostInput {
    /// Checks the optional fields (`slug`, `tags`, `published_at`; `status` is checked
    /// by parsing) and returns all violations at once, like [`PostInput::validate`].
    pub fn validate_meta(&self) -> Result<PostMeta, Vec<MetaViolation>> {
        let mut violations = Vec::new();
        let slug = self.slug.as_deref().map(str::trim);
        if slug.is_some_and(|slug| !slug::is_valid_slug(slug)) {
            violations.push(MetaViolation::SlugInvalid);
        }
        let tags = match self.tags.as_deref().map(slug::normalize_tags) {
            Some(Err(problems)) => {
                violations.extend(problems.into_iter().map(MetaViolation::Tag));
                None
            }
            Some(Ok(tags)) => Some(tags),
            None => None,
        };
        let published_at = self.published_at.map(|at| {
            let at = at.to_offset(time::UtcOffset::UTC);
            at.replace_nanosecond(at.millisecond() as u32 * 1_000_000)
                .unwrap_or(at)
        });
        if published_at.is_some_and(|at| !(1970..=9999).contains(&at.year())) {
            violations.push(MetaViolation::PublishedAtOutOfRange);
        }
        if violations.is_empty() {
            Ok(PostMeta {
                slug: slug.map(str::to_owned),
                tags,
                status: self.status,
                published_at,
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

    fn meta(json: &str) -> Result<PostMeta, Vec<MetaViolation>> {
        serde_json::from_str::<PostInput>(json)
            .unwrap()
            .validate_meta()
    }

    #[test]
    fn optional_fields_absent_are_none() {
        assert!(meta(r#"{"title":"t","body":"b"}"#).unwrap().is_empty());
    }

    #[test]
    fn an_explicit_slug_must_be_valid() {
        let ok = meta(r#"{"slug":" hello-world "}"#).unwrap();
        assert_eq!(ok.slug.as_deref(), Some("hello-world"));
        for bad in ["", "Hello", "2026", "a--b", "grüße"] {
            let errors = meta(&format!(r#"{{"slug":"{bad}"}}"#)).unwrap_err();
            assert_eq!(errors, [MetaViolation::SlugInvalid], "{bad}");
            assert_eq!(errors[0].field(), "slug");
        }
    }

    #[test]
    fn tags_are_normalised_and_limited() {
        let ok = meta(r#"{"tags":[" Rust","rust","Web"]}"#).unwrap();
        assert_eq!(ok.tags.unwrap(), ["Rust", "Web"]);
        let errors = meta(r#"{"tags":["", "a\u0007"]}"#).unwrap_err();
        assert_eq!(
            errors,
            [
                MetaViolation::Tag(TagProblem::Empty),
                MetaViolation::Tag(TagProblem::Control)
            ]
        );
        assert!(errors.iter().all(|e| e.field() == "tags"));
    }

    #[test]
    fn published_at_is_kept_to_the_millisecond_and_in_range() {
        let ok = meta(r#"{"status":"draft","published_at":"2027-01-02T03:04:05.678999+01:00"}"#)
            .unwrap();
        assert_eq!(ok.status, Some(PostStatus::Draft));
        assert_eq!(
            ok.published_at.unwrap(),
            time::macros::datetime!(2027-01-02 02:04:05.678 UTC)
        );
        let errors = meta(r#"{"published_at":"1969-12-31T23:59:59Z"}"#).unwrap_err();
        assert_eq!(errors, [MetaViolation::PublishedAtOutOfRange]);
        assert_eq!(errors[0].field(), "published_at");
    }

    #[test]
    fn every_violation_is_reported() {
        let errors = PostInput::default().validate().unwrap_err();
        assert_eq!(fields(&errors), ["title", "body"]);
    }
}
