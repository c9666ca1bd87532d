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
    /// The post's address on the blog, `/posts/{slug}`: unique, lowercase
    /// `[a-z0-9]+(-[a-z0-9]+)*`, never only digits and hyphens.
    pub slug: String,
    /// Draft or published; see [`Post::is_visible_at`] for what readers see.
    pub status: PostStatus,
    /// When the post was, or is to be, published, UTC; `None` for a draft never
    /// published. A published post whose time is still ahead is *scheduled*.
    #[serde(with = "time::serde::rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// Who wrote it; `None` only for a post no account owns.
    pub author: Option<Author>,
    /// Its tags, as the author spelled them, in the order given.
    pub tags: Vec<String>,
    /// Each tag's slug, in the order of `tags`: the tag's page is `/tags/{slug}`.
    /// Empty from a posts-service that does not send them.
    #[serde(default)]
    pub tag_slugs: Vec<String>,
}

impl Post {
    /// Whether readers may see the post at `now`: published, and its time reached.
    pub fn is_visible_at(&self, now: OffsetDateTime) -> bool {
        visibility(self.status, self.published_at, now) == Visibility::Visible
    }
}

/// Draft or published: what the author chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    /// Not for readers yet, whatever its `published_at`.
    Draft,
    /// For readers from its `published_at` on.
    Published,
}

/// What a reader sees of a post at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// A draft: only its editors see it.
    Draft,
    /// Published with a time still ahead: it appears by itself at that time.
    Scheduled,
    /// Published and its time reached.
    Visible,
}

/// A post's visibility at `now`.
pub fn visibility(
    status: PostStatus,
    published_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Visibility {
    match (status, published_at) {
        (PostStatus::Draft, _) => Visibility::Draft,
        (PostStatus::Published, Some(at)) if at > now => Visibility::Scheduled,
        (PostStatus::Published, _) => Visibility::Visible,
    }
}

/// A post's author as posts show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The account's id.
    pub id: u64,
    /// The account's display name.
    pub name: String,
}

/// Which posts a list call returns: `?status=` (only with the API token; without it
/// the list is always [`ListStatus::Published`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListStatus {
    /// Drafts only.
    Draft,
    /// Published posts whose time is still ahead.
    Scheduled,
    /// Visible posts: what readers see (the default).
    #[default]
    Published,
    /// Every post.
    All,
}

/// One page of the newest-first list, `GET /v1/posts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostsPage {
    /// The posts, id descending.
    pub posts: Vec<Post>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next_before: Option<u64>,
    /// The tag the page is of (`?tag=`): absent for the list of every post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
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
    /// The post's slug.
    pub slug: String,
    /// Draft or published.
    pub status: PostStatus,
    /// When it was, or is to be, published.
    #[serde(with = "time::serde::rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// Who wrote it.
    pub author: Option<Author>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Each tag's slug, in the order of `tags`.
    #[serde(default)]
    pub tag_slugs: Vec<String>,
}

/// One page of the newest-first summaries, `GET /v1/post-summaries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummariesPage {
    /// The summaries, id descending.
    pub posts: Vec<PostSummary>,
    /// Pass as `before` to get the next (older) page; `None` on the last page.
    pub next_before: Option<u64>,
    /// The tag the page is of (`?tag=`): absent for the list of every post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
}

/// A tag as its page names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Its address, `/tags/{slug}`: a slug like a post's.
    pub slug: String,
    /// Its name, spelled as it was first used.
    pub name: String,
}

/// What a client sends for `POST` and `PUT`.
///
/// `title` and `body` are optional here so that a missing one is a 422 naming the field
/// rather than a generic 400; unknown fields are a 400. The other fields are optional
/// for good: on `POST` a missing `slug` is made from the title, missing `tags` are none,
/// a missing `status` is `published` and a missing `published_at` is now (for a
/// published post); on `PUT` a missing field keeps its stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostInput {
    /// The title before trimming.
    pub title: Option<String>,
    /// The body.
    pub body: Option<String>,
    /// The slug to use instead of one made from the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// The tags, replacing the stored ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Draft or published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PostStatus>,
    /// When to publish, UTC.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub published_at: Option<OffsetDateTime>,
}

impl PostInput {
    /// A title and body, every other field left to its default.
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> PostInput {
        PostInput {
            title: Some(title.into()),
            body: Some(body.into()),
            ..PostInput::default()
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
                "updated_at":"2026-11-24T11:00:00Z","version":3,"slug":"t",
                "status":"published","published_at":"2026-11-24T10:00:00Z",
                "author":{"id":1,"name":"Ann"},"tags":["rust"]}"#,
        )
        .unwrap();
        assert_eq!(post.id, 42);
        assert_eq!(post.created_at.hour(), 10);
        assert_eq!(post.version, 3);
        let again: Post = serde_json::from_str(&serde_json::to_string(&post).unwrap()).unwrap();
        assert_eq!(again, post);
    }

    #[test]
    fn visibility_follows_status_and_time() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let hour = time::Duration::HOUR;
        use PostStatus::*;
        assert_eq!(visibility(Draft, Some(now - hour), now), Visibility::Draft);
        assert_eq!(visibility(Draft, None, now), Visibility::Draft);
        assert_eq!(
            visibility(Published, Some(now + hour), now),
            Visibility::Scheduled
        );
        assert_eq!(visibility(Published, Some(now), now), Visibility::Visible);
        assert_eq!(
            visibility(Published, Some(now - hour), now),
            Visibility::Visible
        );
    }

    #[test]
    fn a_title_and_body_alone_is_still_valid_input() {
        let input: PostInput = serde_json::from_str(r#"{"title":"t","body":"b"}"#).unwrap();
        assert_eq!(input, PostInput::new("t", "b"));
        assert_eq!(
            serde_json::to_string(&input).unwrap(),
            r#"{"title":"t","body":"b"}"#
        );
    }

    #[test]
    fn unknown_input_fields_are_refused() {
        let err = serde_json::from_str::<PostInput>(r#"{"title":"t","body":"b","author":"eve"}"#);
        assert!(err.is_err());
    }
}
