//! `PostStore`: every SQL statement the service runs for posts, parameterised, next to
//! the code that runs it.
//!
//! Each operation goes through `crate::operation::bounded`: a 503 at once while the
//! database has not started, the configured timeout (connection checkout included) so a
//! dead or frozen database turns into [`StoreError::Unavailable`] instead of a hung
//! request, and metrics. Errors are the store's own; `crate::error` decides what HTTP
//! makes of them. Optimistic concurrency is enforced by the database: an update or
//! conditional delete only touches the row when `version` still matches, so two
//! writers holding the same version can never both win. Write transactions that lose a
//! deadlock are run again (`crate::operation::retrying_deadlocks`).

use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, IsolationLevel, Pool, Row, TxOpts};
use time::{OffsetDateTime, PrimitiveDateTime};

use posts_api::{Post, PostContent, PostsPage};

use crate::database::Database;
use crate::db_metrics::DbMetrics;
use crate::idempotency::{self, Fingerprint, Key};
use crate::operation::{bounded, retrying_deadlocks};

pub use crate::operation::StoreError;

const POST_COLUMNS: &str = "id, title, body, created_at, updated_at, version";

/// Most expired idempotency keys one create purges, so a purge never holds locks long.
const KEY_PURGE_BATCH: u32 = 100;

/// ER_DUP_ENTRY: the idempotency key is taken.
const DUPLICATE_KEY: u16 = 1062;

/// Which version a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Any current version (`If-Match: *`, or no precondition on delete).
    Any,
    /// Exactly this version.
    Version(u32),
}

/// What a create under an idempotency key did.
#[derive(Debug, PartialEq, Eq)]
pub enum IdempotentCreate {
    /// Created now; the key is remembered with it.
    Created(Post),
    /// The key was used for the same request before: the post as that create answered
    /// it (whatever happened to it since), and nothing was created now.
    Replayed(Post),
    /// The key was used for another request: nothing was created.
    KeyReused,
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
    database: Database,
    timeout: Duration,
    metrics: DbMetrics,
}

impl PostStore {
    /// A store over `database` whose operations give up after `timeout`.
    pub fn new(database: Database, timeout: Duration, metrics: DbMetrics) -> PostStore {
        PostStore {
            database,
            timeout,
            metrics,
        }
    }

    /// The pool, for metrics.
    pub fn pool(&self) -> &Pool {
        self.database.pool()
    }

    /// One page of posts with ids below `before`, newest first.
    pub async fn list(&self, before: Option<u64>, limit: u32) -> Result<PostsPage, StoreError> {
        let before = before.unwrap_or(u64::MAX);
        let pool = self.pool().clone();
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
        let pool = self.pool().clone();
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
        let pool = self.pool().clone();
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

    /// Stores a new post at version 1 and remembers `key` with it, in one transaction;
    /// or, when `key` is remembered already (and not expired), answers what it was used
    /// for without creating anything. See [`crate::idempotency`].
    pub async fn create_idempotent(
        &self,
        content: PostContent,
        key: Key,
    ) -> Result<IdempotentCreate, StoreError> {
        let pool = self.pool().clone();
        let fingerprint = Fingerprint::of(&content);
        self.bounded(
            "create_idempotent",
            retrying_deadlocks(move || {
                let pool = pool.clone();
                let content = content.clone();
                async move {
                    let mut conn = pool.get_conn().await?;
                    // Forget expired keys, a bounded batch in a statement of its own, so
                    // the create's transaction holds no lock on them.
                    conn.exec_drop(
                        "DELETE FROM idempotency_keys \
                         WHERE created_at < UTC_TIMESTAMP(3) - INTERVAL ? HOUR \
                         ORDER BY created_at LIMIT ?",
                        (idempotency::RETENTION_HOURS, KEY_PURGE_BATCH),
                    )
                    .await?;
                    match insert_with_key(&mut conn, content, key, fingerprint).await? {
                        Some(post) => Ok(IdempotentCreate::Created(post)),
                        None => remembered(&mut conn, key, fingerprint).await,
                    }
                }
            }),
        )
        .await
    }

    /// Replaces title and body if the post is at the expected version, bumping it.
    pub async fn update(
        &self,
        id: u64,
        expected: Expected,
        content: PostContent,
    ) -> Result<WriteOutcome<Post>, StoreError> {
        let pool = self.pool().clone();
        let (changed, row): (u64, Option<Row>) = self
            .bounded(
                "update",
                retrying_deadlocks(move || {
                    let pool = pool.clone();
                    let content = content.clone();
                    async move {
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
                        // Within the transaction the row is locked by our UPDATE, so this
                        // reads exactly what we wrote (or, if nothing matched, why).
                        let row: Option<Row> = tx
                            .exec_first(
                                format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ?"),
                                (id,),
                            )
                            .await?;
                        tx.commit().await?;
                        Ok::<_, StoreError>((changed, row))
                    }
                }),
            )
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
        let pool = self.pool().clone();
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
                Ok::<_, mysql_async::Error>((deleted, still_exists))
            })
            .await?;
        Ok(match (deleted, still_exists) {
            (0, true) => WriteOutcome::Stale,
            (0, false) => WriteOutcome::Missing,
            _ => WriteOutcome::Written(()),
        })
    }

    /// Runs one database operation under the timeout, recording its outcome.
    async fn bounded<T, E: Into<StoreError>>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreError> {
        bounded(&self.database, self.timeout, &self.metrics, operation, work).await
    }
}

/// Inserts the post and its key in one transaction; `None` (and nothing inserted) when
/// the key is taken. A concurrent create with the same key that has not committed yet
/// makes the key's `INSERT` wait for it: then this one finds the key taken and replays.
async fn insert_with_key(
    conn: &mut Conn,
    content: PostContent,
    key: Key,
    fingerprint: Fingerprint,
) -> Result<Option<Post>, StoreError> {
    // READ COMMITTED takes no gap locks, so creates with different keys never wait for
    // each other; the duplicate-key check still waits for an uncommitted equal key.
    let mut opts = TxOpts::default();
    opts.with_isolation_level(IsolationLevel::ReadCommitted);
    let mut tx = conn.start_transaction(opts).await?;
    // A key past its retention is forgotten, whether or not the purge reached it.
    tx.exec_drop(
        "DELETE FROM idempotency_keys \
         WHERE key_hash = ? AND created_at < UTC_TIMESTAMP(3) - INTERVAL ? HOUR",
        (&key.digest()[..], idempotency::RETENTION_HOURS),
    )
    .await?;
    let row: Option<Row> = tx
        .exec_first(
            format!(
                "INSERT INTO posts (title, body, created_at, updated_at, version) \
                 VALUES (?, ?, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1) \
                 RETURNING {POST_COLUMNS}"
            ),
            (content.title, content.body),
        )
        .await?;
    let post = post_from_row(
        row.ok_or_else(|| StoreError::Internal("INSERT returned no row".to_owned()))?,
    )?;
    let response = serde_json::to_vec(&post)
        .map_err(|err| StoreError::Internal(format!("cannot serialise the post: {err}")))?;
    let remembered = tx
        .exec_drop(
            "INSERT INTO idempotency_keys \
             (key_hash, request_hash, post_id, response, created_at) \
             VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
            (
                &key.digest()[..],
                &fingerprint.digest()[..],
                post.id,
                response,
            ),
        )
        .await;
    match remembered {
        Ok(()) => {
            tx.commit().await?;
            Ok(Some(post))
        }
        Err(mysql_async::Error::Server(err)) if err.code == DUPLICATE_KEY => {
            tx.rollback().await?;
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

/// What a taken key was used for.
async fn remembered(
    conn: &mut Conn,
    key: Key,
    fingerprint: Fingerprint,
) -> Result<IdempotentCreate, StoreError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = conn
        .exec_first(
            "SELECT request_hash, response FROM idempotency_keys WHERE key_hash = ?",
            (&key.digest()[..],),
        )
        .await?;
    let Some((request_hash, response)) = row else {
        // Taken a moment ago, gone now (its create rolled back, or it expired and was
        // purged): a lost race, which running the transaction again settles.
        return Err(StoreError::Deadlock(
            "idempotency key vanished after a duplicate-key error".to_owned(),
        ));
    };
    if request_hash != fingerprint.digest() {
        return Ok(IdempotentCreate::KeyReused);
    }
    let post = serde_json::from_slice(&response)
        .map_err(|err| StoreError::Internal(format!("unreadable stored response: {err}")))?;
    Ok(IdempotentCreate::Replayed(post))
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
