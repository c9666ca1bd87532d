//! The SQL of the backfill ([`crate::backfill`]): posts made before slugs and
//! publication times existed (or by an older release during a rolling upgrade) have a
//! NULL `slug`; each gets the slug made from its title and, when published, its
//! creation time as its publication time.
//!
//! Posts are looked for in windows of ids (a bounded range scan of the clustered
//! index). Each post is filled in a transaction of its own that locks only its row, and
//! only when its slug is still NULL, so a post edited meanwhile (an edit gives it a
//! slug) or filled by another replica is left alone.
//!
//! Posts made before search existed have no row in `post_search`: the same walk copies
//! their title and stored plain text there, a batch per short transaction, never
//! replacing a row an edit wrote meanwhile (`INSERT IGNORE`).

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use super::error::StoreError;
use super::operation::sql;
use super::posts::{read_committed, PostStore};
use super::search_text;
use super::slugs;

/// A post without a slug.
#[derive(Debug, Clone)]
pub struct Unfilled {
    /// Its id.
    pub id: u64,
}

impl PostStore {
    /// Up to `limit` posts with ids in `after + 1 ..= through`, in id order, that have
    /// no slug.
    pub async fn unfilled_in(
        &self,
        after: u64,
        through: u64,
        limit: u32,
    ) -> Result<Vec<Unfilled>, StoreError> {
        let pool = self.pool().clone();
        let rows: Vec<Row> = self
            .bounded("backfill_scan", async move {
                let mut conn = pool.get_conn().await?;
                conn.exec(
                    "SELECT id FROM posts WHERE id > ? AND id <= ? AND slug IS NULL \
                     ORDER BY id LIMIT ?",
                    (after, through, limit),
                )
                .await
            })
            .await?;
        rows.into_iter()
            .map(|row| {
                let id = mysql_async::from_row_opt(row).map_err(|_| {
                    StoreError::Internal("unexpected row shape from posts".to_owned())
                })?;
                Ok(Unfilled { id })
            })
            .collect()
    }

    /// Gives the post its slug (made from its title) and, when published, its
    /// creation time as its publication time, unless it has a slug by now; answers
    /// whether it was filled.
    pub async fn fill(&self, post: &Unfilled) -> Result<bool, StoreError> {
        let pool = self.pool().clone();
        let id = post.id;
        self.bounded("backfill_fill", async move {
            let mut conn = pool.get_conn().await?;
            let mut tx = conn.start_transaction(read_committed()).await?;
            let row: Option<(Option<String>, String)> = sql(
                "SELECT posts",
                tx.exec_first(
                    "SELECT slug, title FROM posts WHERE id = ? FOR UPDATE",
                    (id,),
                ),
            )
            .await?;
            let Some((None, title)) = row else {
                tx.rollback().await?;
                return Ok(false);
            };
            slugs::assign_from_title(&mut tx, &title, id).await?;
            sql(
                "UPDATE posts",
                tx.exec_drop(
                    "UPDATE posts SET published_at = created_at \
                     WHERE id = ? AND status = 'published' AND published_at IS NULL",
                    (id,),
                ),
            )
            .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(true)
        })
        .await
    }
}

impl PostStore {
    /// Up to `limit` ids in `after + 1 ..= through`, in id order, of posts without
    /// searchable text (made before search existed).
    pub async fn unindexed_in(
        &self,
        after: u64,
        through: u64,
        limit: u32,
    ) -> Result<Vec<u64>, StoreError> {
        let pool = self.pool().clone();
        self.bounded("search_backfill_scan", async move {
            let mut conn = pool.get_conn().await?;
            conn.exec(
                "SELECT p.id FROM posts p LEFT JOIN post_search s ON s.post_id = p.id \
                 WHERE p.id > ? AND p.id <= ? AND s.post_id IS NULL ORDER BY p.id LIMIT ?",
                (after, through, limit),
            )
            .await
        })
        .await
    }

    /// Writes the searchable text of those posts of `ids` whose stored rendering is for
    /// their body and that still have none, in one short transaction; answers how many
    /// it wrote. A post being edited meanwhile keeps what its edit writes; one without a
    /// current rendering gets its text when the re-render stores one.
    pub async fn index_for_search(&self, ids: &[u64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let pool = self.pool().clone();
        let marks = vec!["?"; ids.len()].join(", ");
        let ids = ids.to_vec();
        self.bounded("search_backfill_fill", async move {
            let mut conn = pool.get_conn().await?;
            let mut tx = conn.start_transaction(read_committed()).await?;
            let rows: Vec<(u64, String, String)> = sql(
                "SELECT posts",
                tx.exec(
                    format!(
                        "SELECT id, title, plain_text FROM posts WHERE id IN ({marks}) \
                         AND rendered_for_version = version AND plain_text IS NOT NULL"
                    ),
                    ids,
                ),
            )
            .await?;
            let mut written = 0;
            for (id, title, plain_text) in rows {
                if search_text::write_missing_row(&mut tx, id, &title, &plain_text).await? {
                    written += 1;
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(written)
        })
        .await
    }
}
