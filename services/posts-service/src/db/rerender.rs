//! The SQL of the background re-render ([`crate::rerender`]): find stored posts whose
//! rendering is not for their body or is older than this binary's rules, and store
//! their new rendering.
//!
//! Posts are looked for in windows of ids, each a bounded range scan of the clustered
//! index whatever the table's size and however few posts need work (no index is
//! needed, and none is built: on a Galera cluster building one stalls every node). A
//! rendering is stored by a single-row update by primary key, with the post's searchable
//! text, in a transaction of their own, so its row lock is held for those two statements
//! only. Each update is conditional on the
//! post's `version`: a post edited meanwhile was rendered by its edit and is left alone.
//! Rows rendered by newer rules for their current body (a newer release, during a
//! rolling upgrade) are left alone too.

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row};
use post_render::Rendered;

use super::error::StoreError;
use super::operation::sql;
use super::posts::{read_committed, PostStore};
use super::search_text;

/// Which posts need rendering: none stored for the current body, or older rules.
const NEEDS_RENDERING: &str = "(rendered_for_version <> version OR renderer_version < ?)";

/// A stored post whose rendering is not for its body, or older than
/// [`post_render::VERSION`].
#[derive(Debug, Clone)]
pub struct Unrendered {
    /// Its id.
    pub id: u64,
    /// Its version when read: the store is conditional on it.
    pub version: u32,
    /// Its title.
    pub title: String,
    /// Its body.
    pub body: String,
}

impl PostStore {
    /// The highest post id (0 without posts).
    pub async fn max_id(&self) -> Result<u64, StoreError> {
        let pool = self.pool().clone();
        let max: Option<u64> = self
            .bounded("rerender_max_id", async move {
                let mut conn = pool.get_conn().await?;
                conn.query_first("SELECT COALESCE(MAX(id), 0) FROM posts")
                    .await
            })
            .await?;
        Ok(max.unwrap_or(0))
    }

    /// Up to `limit` posts with ids in `after + 1 ..= through`, in id order, that need
    /// rendering.
    pub async fn unrendered_in(
        &self,
        after: u64,
        through: u64,
        limit: u32,
    ) -> Result<Vec<Unrendered>, StoreError> {
        let pool = self.pool().clone();
        let rows: Vec<Row> = self
            .bounded("rerender_scan", async move {
                let mut conn = pool.get_conn().await?;
                conn.exec(
                    format!(
                        "SELECT id, version, title, body FROM posts \
                         WHERE id > ? AND id <= ? AND {NEEDS_RENDERING} ORDER BY id LIMIT ?"
                    ),
                    (after, through, post_render::VERSION, limit),
                )
                .await
            })
            .await?;
        rows.into_iter()
            .map(|row| {
                let (id, version, title, body) = mysql_async::from_row_opt(row).map_err(|_| {
                    StoreError::Internal("unexpected row shape from posts".to_owned())
                })?;
                Ok(Unrendered {
                    id,
                    version,
                    title,
                    body,
                })
            })
            .collect()
    }

    /// Stores a post's new rendering and searchable text unless the post changed since
    /// it was read, in a transaction of their own; answers whether it was stored.
    pub async fn store_rendering(
        &self,
        post: &Unrendered,
        rendered: &Rendered,
    ) -> Result<bool, StoreError> {
        let pool = self.pool().clone();
        let params = Params::Positional(vec![
            rendered.html.as_str().into(),
            rendered.excerpt.as_str().into(),
            rendered.excerpt_truncated.into(),
            rendered.plain_text.as_str().into(),
            post_render::VERSION.into(),
            post.id.into(),
            post.version.into(),
            post_render::VERSION.into(),
        ]);
        let (id, title, plain_text) = (post.id, post.title.clone(), rendered.plain_text.clone());
        self.bounded("rerender_store", async move {
            let mut conn = pool.get_conn().await?;
            let mut tx = conn.start_transaction(read_committed()).await?;
            sql(
                "UPDATE posts",
                tx.exec_drop(
                    format!(
                        "UPDATE posts SET html = ?, excerpt = ?, excerpt_truncated = ?, \
                         plain_text = ?, renderer_version = ?, \
                         rendered_for_version = version \
                         WHERE id = ? AND version = ? AND {NEEDS_RENDERING}"
                    ),
                    params,
                ),
            )
            .await?;
            if tx.affected_rows() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            search_text::write_row(&mut tx, id, &title, &plain_text).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(true)
        })
        .await
    }
}
