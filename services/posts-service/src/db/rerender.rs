//! The SQL of the background re-render ([`crate::rerender`]): find stored posts whose
//! rendering is older than this binary's rules, and store their new rendering.
//!
//! Posts are walked in primary-key order from a cursor, so each batch is a short range
//! scan of the clustered index, whatever the table's size, and no index is needed. A
//! batch is written in one short transaction of single-row updates by primary key, so
//! the row locks it takes are held for milliseconds. Each update is conditional on the
//! post's `version`: a post edited meanwhile was rendered by its edit and is left alone.
//! Rows rendered by newer rules (a newer release, during a rolling upgrade) are left
//! alone too.

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, TxOpts};
use post_render::Rendered;

use super::error::StoreError;
use super::posts::PostStore;

/// A stored post whose rendering is older than [`post_render::VERSION`].
#[derive(Debug, Clone)]
pub struct Unrendered {
    /// Its id.
    pub id: u64,
    /// Its version when read: the store is conditional on it.
    pub version: u32,
    /// Its body.
    pub body: String,
}

impl PostStore {
    /// Up to `limit` posts after id `after` (in id order) rendered by older rules.
    pub async fn unrendered_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Unrendered>, StoreError> {
        let pool = self.pool().clone();
        let rows: Vec<Row> = self
            .bounded("rerender_scan", async move {
                let mut conn = pool.get_conn().await?;
                conn.exec(
                    "SELECT id, version, body FROM posts \
                     WHERE id > ? AND renderer_version < ? ORDER BY id LIMIT ?",
                    (after, post_render::VERSION, limit),
                )
                .await
            })
            .await?;
        rows.into_iter()
            .map(|row| {
                let (id, version, body) = mysql_async::from_row_opt(row).map_err(|_| {
                    StoreError::Internal("unexpected row shape from posts".to_owned())
                })?;
                Ok(Unrendered { id, version, body })
            })
            .collect()
    }

    /// Stores each post's new rendering unless the post changed since it was read;
    /// answers how many were stored.
    pub async fn store_renderings(
        &self,
        renderings: Vec<(Unrendered, Rendered)>,
    ) -> Result<u64, StoreError> {
        let pool = self.pool().clone();
        self.bounded("rerender_store", async move {
            let mut conn = pool.get_conn().await?;
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            let mut stored = 0;
            for (post, rendered) in renderings {
                tx.exec_drop(
                    "UPDATE posts SET html = ?, excerpt = ?, excerpt_truncated = ?, \
                     plain_text = ?, renderer_version = ? \
                     WHERE id = ? AND version = ? AND renderer_version < ?",
                    Params::Positional(vec![
                        rendered.html.into(),
                        rendered.excerpt.into(),
                        rendered.excerpt_truncated.into(),
                        rendered.plain_text.into(),
                        post_render::VERSION.into(),
                        post.id.into(),
                        post.version.into(),
                        post_render::VERSION.into(),
                    ]),
                )
                .await?;
                stored += tx.affected_rows();
            }
            tx.commit().await?;
            Ok::<_, mysql_async::Error>(stored)
        })
        .await
    }
}
