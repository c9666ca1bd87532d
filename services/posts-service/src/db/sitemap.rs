//! The SQL of the sitemap: the visible posts in pages of ids, and the tags that have a
//! visible post. Each is one bounded statement, whatever the number of posts: the pages'
//! first ids come from one scan of the `(status, id)` index, a page is a range of it,
//! and a tag is kept once the first visible post of it is found.

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

impl PostStore {
    /// How many posts are visible, where each page of [`SITEMAP_MAX_URLS`] of them
    /// starts, and the tags with a visible post.
    pub async fn sitemap_outline(&self) -> Result<SitemapOutline, StoreError> {
        let pool = self.pool().clone();
        self.bounded("sitemap_outline", async move {
            let mut conn = pool.get_conn().await?;
            let posts: Option<u64> = sql(
                "SELECT posts",
                conn.query_first(format!("SELECT COUNT(*) FROM posts WHERE {VISIBLE}")),
            )
            .await?;
            // The first post of each page is every SITEMAP_MAX_URLS-th visible post in
            // id order, counting from the first; its page starts after the id before it.
            let firsts: Vec<u64> = sql(
                "SELECT posts",
                conn.exec(
                    format!(
                        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n \
                         FROM posts WHERE {VISIBLE}) AS visible \
                         WHERE MOD(n - 1, ?) = 0 ORDER BY id"
                    ),
                    (SITEMAP_MAX_URLS,),
                ),
            )
            .await?;
            let post_pages = firsts.into_iter().map(|id| id - 1).collect();
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

    /// Up to `limit` visible posts with ids above `after`, in id order.
    pub async fn sitemap_posts(&self, after: u64, limit: u32) -> Result<SitemapPosts, StoreError> {
        let pool = self.pool().clone();
        let rows: Vec<(u64, String, PrimitiveDateTime)> = self
            .bounded("sitemap_posts", async move {
                let mut conn = pool.get_conn().await?;
                sql(
                    "SELECT posts",
                    conn.exec(
                        format!(
                            "SELECT id, {SLUG}, {LASTMOD} FROM posts \
                             WHERE id > ? AND {VISIBLE} ORDER BY id LIMIT ?"
                        ),
                        (after, limit + 1),
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
