//! The SQL of the sitemap: the visible posts in pages of ids, and the tags that have a
//! visible post. Every statement is bounded, whatever the number of posts: a page is a
//! range of [`SITEMAP_MAX_URLS`] ids (so it never holds more posts than a sitemap may),
//! found by a probe for its first visible post; the count stops past one sitemap's
//! worth; a tag is kept once the first visible post of it is found. (Counting the
//! visible posts and numbering them, as the first version did, read every post: at
//! 1,000,000 posts that took longer than the database timeout.)

use mysql_async::prelude::Queryable;
use posts_api::sitemap::{SitemapEntry, SitemapOutline, SitemapPosts, SITEMAP_MAX_URLS};
use time::PrimitiveDateTime;

use super::error::StoreError;
use super::operation::sql;
use super::posts::{PostStore, VISIBLE};

/// When a visible post's page last changed: its last edit, or its publication when
/// that came later (a scheduled post appears at its time).
const LASTMOD: &str = "GREATEST(updated_at, COALESCE(published_at, created_at))";

/// A post an older release made has no slug until the backfill reaches it; it is
/// served as `post-{id}` until then.
const SLUG: &str = "COALESCE(slug, CONCAT('post-', id))";

/// The first visible post with an id above the one bound: where a sitemap page starts.
/// The primary key is named: left to itself, MariaDB reads `(status, id)` from its
/// first published entry up to the bound (half a million entries at 1,000,000 posts).
pub fn page_probe_query() -> String {
    format!(
        "SELECT id FROM posts FORCE INDEX (PRIMARY) \
         WHERE id > ? AND {VISIBLE} ORDER BY id LIMIT 1"
    )
}

impl PostStore {
    /// How many posts are visible (counted up to [`SITEMAP_MAX_URLS`] + 1: enough to
    /// tell one sitemap from an index of them), where each page of visible posts starts
    /// (ranges of [`SITEMAP_MAX_URLS`] ids that hold one), and the tags with a visible
    /// post. No statement reads more than [`SITEMAP_MAX_URLS`] + 1 rows, whatever the
    /// number of posts.
    pub async fn sitemap_outline(&self) -> Result<SitemapOutline, StoreError> {
        let pool = self.pool().clone();
        self.bounded("sitemap_outline", async move {
            let mut conn = pool.get_conn().await?;
            let posts: Option<u64> = sql(
                "SELECT posts",
                conn.exec_first(
                    format!(
                        "SELECT COUNT(*) FROM \
                         (SELECT 1 FROM posts WHERE {VISIBLE} LIMIT ?) AS visible"
                    ),
                    (SITEMAP_MAX_URLS + 1,),
                ),
            )
            .await?;
            // The pages are ranges of ids, each holding at most SITEMAP_MAX_URLS posts:
            // found by a probe each (the first visible post of a range), not by counting
            // every visible post.
            let mut post_pages = Vec::new();
            let mut after = 0u64;
            loop {
                let first: Option<u64> = sql(
                    "SELECT posts",
                    conn.exec_first(page_probe_query(), (after,)),
                )
                .await?;
                let Some(first) = first else { break };
                let start = (first - 1) / u64::from(SITEMAP_MAX_URLS) * u64::from(SITEMAP_MAX_URLS);
                post_pages.push(start);
                after = start + u64::from(SITEMAP_MAX_URLS);
            }
            let tags: Vec<String> = sql(
                "SELECT tags",
                conn.exec(
                    format!(
                        "SELECT t.slug FROM tags t WHERE t.slug IS NOT NULL AND EXISTS \
                         (SELECT 1 FROM post_tags pt JOIN posts ON posts.id = pt.post_id \
                          WHERE pt.tag_id = t.id AND {VISIBLE}) \
                         ORDER BY t.slug LIMIT ?"
                    ),
                    (SITEMAP_MAX_URLS,),
                ),
            )
            .await?;
            Ok::<_, StoreError>(SitemapOutline {
                posts: posts.unwrap_or(0),
                post_pages,
                tags,
            })
        })
        .await
    }

    /// Up to `limit` visible posts with ids above `after` (and at most `through`), in id
    /// order.
    pub async fn sitemap_posts(
        &self,
        after: u64,
        through: u64,
        limit: u32,
    ) -> Result<SitemapPosts, StoreError> {
        let pool = self.pool().clone();
        let rows: Vec<(u64, String, PrimitiveDateTime)> = self
            .bounded("sitemap_posts", async move {
                let mut conn = pool.get_conn().await?;
                sql(
                    "SELECT posts",
                    conn.exec(
                        format!(
                            "SELECT id, {SLUG}, {LASTMOD} FROM posts \
                             WHERE id > ? AND id <= ? AND {VISIBLE} ORDER BY id LIMIT ?"
                        ),
                        (after, through, limit + 1),
                    ),
                )
                .await
            })
            .await?;
        let next_after = (rows.len() > limit as usize)
            .then(|| rows.get(limit as usize - 1).map(|&(id, _, _)| id))
            .flatten();
        let entries = rows
            .into_iter()
            .take(limit as usize)
            .map(|(_, slug, lastmod)| SitemapEntry {
                slug,
                lastmod: lastmod.assume_utc(),
            })
            .collect();
        Ok(SitemapPosts {
            entries,
            next_after,
        })
    }
}
