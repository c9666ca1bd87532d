//! `PostStore`: every SQL statement the service runs, parameterised, next to the code
//! that runs it.
//!
//! Each operation is bounded by the configured database timeout (connection checkout
//! included), so a dead or frozen database turns into [`StoreError::Unavailable`] instead
//! of a hung request. Errors are the store's own; `crate::error` decides what HTTP
//! makes of them. Optimistic concurrency is enforced by the database: an update or
//! conditional delete only touches the row when `version` still matches, so two
//! writers holding the same version can never both win.

use std::future::Future;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Pool, Row, TxOpts};
use time::{OffsetDateTime, PrimitiveDateTime};

use posts_api::{Post, PostContent, PostsPage};

use crate::db_metrics::DbMetrics;

const POST_COLUMNS: &str = "id, title, body, created_at, updated_at, version";

/// Which version a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Any current version (`If-Match: *`, or no precondition on delete).
    Any,
    /// Exactly this version.
    Version(u32),
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, lost the connection, or took longer than the timeout.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error, or with rows we cannot read: a bug of ours.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<mysql_async::Error> for StoreError {
    fn from(err: mysql_async::Error) -> Self {
        match err {
            // The server answered: a query or schema problem, which is ours.
            mysql_async::Error::Server(_) => StoreError::Internal(err.to_string()),
            // Could not reach the server or lost the connection.
            _ => StoreError::Unavailable(err.to_string()),
        }
    }
}

/// Why a conditional write did not happen.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome<T> {
    /// Done.
    Written(T),
    /// No such post.
    Missing,
    /// The post exists at another version.
    Stale,
}

/// Reads and writes posts in MariaDB.
#[derive(Clone)]
pub struct PostStore {
    pool: Pool,
    timeout: Duration,
    metrics: DbMetrics,
}

impl PostStore {
    /// A store over `pool` whose operations give up after `timeout`.
    pub fn new(pool: Pool, timeout: Duration, metrics: DbMetrics) -> PostStore {
        PostStore {
            pool,
            timeout,
            metrics,
        }
    }

    /// The pool, for readiness checks and shutdown.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// One page of posts with ids below `before`, newest first.
    pub async fn list(&self, before: Option<u64>, limit: u32) -> Result<PostsPage, StoreError> {
        let before = before.unwrap_or(u64::MAX);
        let pool = self.pool.clone();
        let mut rows: Vec<Row> = self
            .bounded("list", async move {
                let mut conn = pool.get_conn().await?;
                conn.exec(
                    format!(
                        "SELECT {POST_COLUMNS} FROM posts WHERE id < ? ORDER BY id DESC LIMIT ?"
                    ),
                    (before, limit + 1),
                )
                .await
            })
            .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let posts = rows
            .into_iter()
            .map(post_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next_before = if has_more {
            posts.last().map(|p| p.id)
        } else {
            None
        };
        Ok(PostsPage { posts, next_before })
    }

    /// The post with this id, if any.
    pub async fn get(&self, id: u64) -> Result<Option<Post>, StoreError> {
        let pool = self.pool.clone();
        let row: Option<Row> = self
            .bounded("get", async move {
                let mut conn = pool.get_conn().await?;
                conn.exec_first(
                    format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ?"),
                    (id,),
                )
                .await
            })
            .await?;
        row.map(post_from_row).transpose()
    }

    /// Stores a new post at version 1.
    pub async fn create(&self, content: PostContent) -> Result<Post, StoreError> {
        let pool = self.pool.clone();
        let row: Option<Row> = self
            .bounded("create", async move {
                let mut conn = pool.get_conn().await?;
                conn.exec_first(
                    format!(
                        "INSERT INTO posts (title, body, created_at, updated_at, version) \
                         VALUES (?, ?, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1) \
                         RETURNING {POST_COLUMNS}"
                    ),
                    (content.title, content.body),
                )
                .await
            })
            .await?;
        let row = row.ok_or_else(|| StoreError::Internal("INSERT returned no row".to_owned()))?;
        post_from_row(row)
    }

    /// Replaces title and body if the post is at the expected version, bumping it.
    pub async fn update(
        &self,
        id: u64,
        expected: Expected,
        content: PostContent,
    ) -> Result<WriteOutcome<Post>, StoreError> {
        let pool = self.pool.clone();
        let (changed, row): (u64, Option<Row>) = self
            .bounded("update", async move {
                let mut conn = pool.get_conn().await?;
                let mut tx = conn.start_transaction(TxOpts::default()).await?;
                let (required_version, any_version) = match expected {
                    Expected::Any => (0, true),
                    Expected::Version(v) => (v, false),
                };
                tx.exec_drop(
                    "UPDATE posts SET title = ?, body = ?, updated_at = UTC_TIMESTAMP(), \
                     version = version + 1 WHERE id = ? AND (? OR version = ?)",
                    (
                        content.title,
                        content.body,
                        id,
                        any_version,
                        required_version,
                    ),
                )
                .await?;
                let changed = tx.affected_rows();
                // Within the transaction the row is locked by our UPDATE, so this reads
                // exactly what we wrote (or, if nothing matched, why).
                let row: Option<Row> = tx
                    .exec_first(
                        format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ?"),
                        (id,),
                    )
                    .await?;
                tx.commit().await?;
                Ok((changed, row))
            })
            .await?;
        match (changed, row) {
            (1, Some(row)) => Ok(WriteOutcome::Written(post_from_row(row)?)),
            (_, None) => Ok(WriteOutcome::Missing),
            (_, Some(_)) => Ok(WriteOutcome::Stale),
        }
    }

    /// Deletes the post if it is at the expected version.
    pub async fn delete(
        &self,
        id: u64,
        expected: Expected,
    ) -> Result<WriteOutcome<()>, StoreError> {
        let pool = self.pool.clone();
        let (deleted, still_exists) = self
            .bounded("delete", async move {
                let mut conn = pool.get_conn().await?;
                let (required_version, any_version) = match expected {
                    Expected::Any => (0, true),
                    Expected::Version(v) => (v, false),
                };
                conn.exec_drop(
                    "DELETE FROM posts WHERE id = ? AND (? OR version = ?)",
                    (id, any_version, required_version),
                )
                .await?;
                let deleted = conn.affected_rows();
                let still_exists = if deleted == 0 {
                    conn.exec_first::<u64, _, _>("SELECT id FROM posts WHERE id = ?", (id,))
                        .await?
                        .is_some()
                } else {
                    false
                };
                Ok((deleted, still_exists))
            })
            .await?;
        Ok(match (deleted, still_exists) {
            (0, true) => WriteOutcome::Stale,
            (0, false) => WriteOutcome::Missing,
            _ => WriteOutcome::Written(()),
        })
    }

    /// Runs one database operation under the timeout, recording its outcome.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, mysql_async::Error>>,
    ) -> Result<T, StoreError> {
        bounded(self.timeout, &self.metrics, operation, work).await
    }
}

/// Runs one database operation under `timeout`, recording its outcome in `metrics`.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    metrics: &DbMetrics,
    operation: &'static str,
    work: impl Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(StoreError::from(err)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "{operation} took longer than {timeout:?}"
        ))),
    };
    let label = match &outcome {
        Ok(_) => "ok",
        Err(StoreError::Unavailable(_)) => "unavailable",
        Err(_) => "error",
    };
    metrics.observe(operation, label, started.elapsed());
    outcome
}

fn post_from_row(row: Row) -> Result<Post, StoreError> {
    let malformed = || StoreError::Internal("unexpected row shape from posts".to_owned());
    let (id, title, body, created_at, updated_at, version): (
        u64,
        String,
        String,
        PrimitiveDateTime,
        PrimitiveDateTime,
        u32,
    ) = mysql_async::from_row_opt(row).map_err(|_| malformed())?;
    Ok(Post {
        id,
        title,
        body,
        created_at: utc(created_at),
        updated_at: utc(updated_at),
        version,
    })
}

/// Stored `DATETIME`s are UTC (written with `UTC_TIMESTAMP()`).
fn utc(stored: PrimitiveDateTime) -> OffsetDateTime {
    stored.assume_utc()
}
