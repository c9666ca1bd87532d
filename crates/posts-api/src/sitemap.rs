//! What search engines are told about: the visible posts and the tags that have some,
//! as posts-service lists them for render-service's `/sitemap.xml`.
//!
//! A sitemap holds at most [`SITEMAP_MAX_URLS`] addresses, so the posts come in pages
//! of that many, by id: [`SitemapOutline`] says where each page starts, and
//! [`SitemapPosts`] is one page.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The most addresses one sitemap may hold (sitemaps.org 0.9), and the most entries of
/// one [`SitemapPosts`] page.
pub const SITEMAP_MAX_URLS: u32 = 50_000;

/// `GET /v1/sitemap`: the pages of visible posts and the tags with a visible post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitemapOutline {
    /// How many posts are visible, counted up to [`SITEMAP_MAX_URLS`] + 1 (a larger
    /// number is given as that): enough to tell whether one sitemap can hold them.
    pub posts: u64,
    /// Where each page of visible posts starts: pass as `after` to
    /// `GET /v1/sitemap/posts`, with `through` = `after` + [`SITEMAP_MAX_URLS`]. A page
    /// is a range of that many ids that holds a visible post, so it never holds more
    /// posts than a sitemap may. Empty when no post is visible.
    pub post_pages: Vec<u64>,
    /// The slugs of the tags that have at least one visible post, at most
    /// [`SITEMAP_MAX_URLS`], in slug order.
    pub tags: Vec<String>,
}

/// `GET /v1/sitemap/posts?after=ID&through=ID&limit=N`: visible posts with ids above
/// `after` (and at most `through`), in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitemapPosts {
    /// The posts' addresses and when each last changed for readers.
    pub entries: Vec<SitemapEntry>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next_after: Option<u64>,
}

/// A visible post in the sitemap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitemapEntry {
    /// Its slug: the page is `/posts/{slug}`.
    pub slug: String,
    /// When its page last changed: its last edit, or its publication when that is later
    /// (a scheduled post appears then), UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub lastmod: OffsetDateTime,
}
