//! The posts-service API's data types: what posts-service serves and parses, what
//! render-service's client sends and reads, and what the tests check, written once.
//!
//! The contract is `openapi.yaml` beside posts-service; `docs/api.md` explains it.
//!
//! # Layout
//!
//! - [`post`]: [`Post`], a page of posts ([`PostsPage`]) or of their summaries
//!   ([`SummariesPage`]), and the input of a create or
//!   update ([`PostInput`]).
//! - [`rules`]: the title and body limits and their validation, and the optional
//!   fields' ([`PostMeta`]), so the server and the admin form can never disagree about
//!   what a valid post is.
//! - [`slug`]: what a valid slug is, how one is made from a title, and the tag rules.
//! - [`search`]: how a search query is read (and the index's words made), and a page of
//!   results ([`SearchPage`]).
//! - [`sitemap`]: the visible posts and tags, in pages, for the blog's sitemap.
//! - [`problem`]: the RFC 9457 problem document every error is, with its field errors.
//! - [`etag`]: how a post's version is written as an entity tag and read back.
//! - [`session`]: the internal API's admin sessions and failed-login counts.
//! - [`account`]: accounts and roles: the username, display name and password rules,
//!   and the internal API's user documents.

pub mod account;
pub mod etag;
pub mod post;
pub mod problem;
pub mod rules;
pub mod search;
pub mod session;
pub mod sitemap;
pub mod slug;

pub use post::{
    visibility, Author, ListStatus, Post, PostInput, PostStatus, PostSummary, PostsPage,
    SummariesPage, Tag, Visibility,
};
pub use problem::{FieldError, Problem};
pub use rules::{MetaViolation, PostContent, PostMeta, Violation, BODY_MAX_BYTES, TITLE_MAX_CHARS};
pub use search::SearchPage;
pub use slug::{is_valid_slug, slugify, SLUG_MAX_CHARS, TAGS_MAX, TAG_MAX_CHARS};

/// Largest request body posts-service reads, in bytes (256 KiB): a post of the largest
/// size, JSON-escaped, fits.
pub const REQUEST_MAX_BYTES: usize = 256 * 1024;
