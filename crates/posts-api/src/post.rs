//! A post, a page of posts or of their summaries, and what a client sends to create or
//! replace one.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A stored post, as `GET /v1/posts/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// Assigned by the database; newer posts have larger ids.
    pub id: u64,
    /// One line, 1 to 128 characters.
    pub title: String,
    /// Markdown text.
    pub body: String,
    /// The body as safe HTML, rendered by posts-service when the post was written (never
    /// taken from a client). Required: a posts-service too old to send it is an error
    /// to render-service, not an empty page.
    pub html: String,
    /// The opening prose of the body as plain text, for lists and link previews.
    pub excerpt: String,
    /// Whether `excerpt` leaves some of the body out.
    pub excerpt_truncated: bool,
    /// When the post was created, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the post last changed, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// 1 at creation, one more on every update: the post's entity tag.
    pub version: u32,
}

/// One page of the newest-first list, `GET /v1/posts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostsPage {
    /// The posts, id descending.
    pub posts: Vec<Post>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next_before: Option<u64>,
}

/// A post without its body or HTML, as `GET /v1/post-summaries` lists it: what an
/// index page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSummary {
    /// The post's id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// The opening prose of the body as plain text.
    pub excerpt: String,
    /// Whether `excerpt` leaves some of the body out.
    pub excerpt_truncated: bool,
    /// When the post was created, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the post last changed, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The post's version.
    pub version: u32,
}

/// One page of the newest-first summaries, `GET /v1/post-summaries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummariesPage {
    /// The summaries, id descending.
    pub posts: Vec<PostSummary>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next_before: Option<u64>,
}

/// A title and body as a client sends them for `POST` and `PUT`.
///
/// Both fields are optional here so that a missing one is a 422 naming the field rather
/// than a generic 400; unknown fields are a 400.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostInput {
    /// The title before trimming.
    pub title: Option<String>,
    /// The body.
    pub body: Option<String>,
}

impl PostInput {
    /// A complete input.
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> PostInput {
        PostInput {
            title: Some(title.into()),
            body: Some(body.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_json_is_read_with_rfc3339_dates() {
        let post: Post = serde_json::from_str(
            r#"{"id":42,"title":"t","body":"b","html":"<p>b</p>","excerpt":"b",
                "excerpt_truncated":false,"created_at":"2026-11-24T10:00:00Z",
                "updated_at":"2026-11-24T11:00:00Z","version":3}"#,
        )
        .unwrap();
        assert_eq!(post.id, 42);
        assert_eq!(post.created_at.hour(), 10);
        assert_eq!(post.version, 3);
        let again: Post = serde_json::from_str(&serde_json::to_string(&post).unwrap()).unwrap();
        assert_eq!(again, post);
    }

    #[test]
    fn unknown_input_fields_are_refused() {
        let err = serde_json::from_str::<PostInput>(r#"{"title":"t","body":"b","author":"eve"}"#);
        assert!(err.is_err());
    }
}
