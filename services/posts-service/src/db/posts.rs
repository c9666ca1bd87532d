//! [`PostStore`]: every SQL statement the service runs for posts, parameterised, next to
//! the code that runs it.
//!
//! Each operation goes through [`super::operation::bounded`]: a 503 at once while the
//! database has not started, the configured timeout (connection checkout included) so a
//! dead or frozen database turns into [`StoreError::Unavailable`] instead of a hung
//! request, and metrics. Errors are the store's own; `crate::error` decides what HTTP
//! makes of them. A create under an `Idempotency-Key` writes its key in the same
//! transaction ([`super::idempotency_keys`]).
//!
//! Optimistic concurrency is enforced by the database: an update or conditional delete
//! only touches the row when `version` still matches, so two writers holding the same
//! version can never both win. Write transactions that lose a deadlock are run again
//! ([`super::operation::retrying_deadlocks`]).
//!
//! A post is stored with what its body renders to ([`crate::rendering`]), written in the
//! same statement as the body, with the post version it was made for. A post whose
//! stored rendering is not for its body (written before rendering was stored, or
//! changed by an older release) is rendered when read, on the blocking pool, and the
//! background re-render ([`super::rerender`]) is woken to store it. A rendering made by
//! older rules but for the current body is served as it is: re-rendering for new rules
//! is the background walk's alone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, IsolationLevel, Pool, Row, TxOpts};
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::sync::Notify;

use posts_api::{Post, PostSummary, PostsPage, SummariesPage};

use super::error::StoreError;
use super::idempotency_keys::{self, Remembered};
use super::metrics::DbMetrics;
use super::operation::{bounded, retrying_deadlocks, sql};
use super::start_up::Database;
use crate::idempotency::{Fingerprint, Key, Outcome};
use crate::rendering::RenderedContent;

/// The columns a post is read with (the benchmark's point-select reads the same).
pub const POST_COLUMNS: &str = "id, title, body, created_at, updated_at, version, \
     IF(rendered_for_version = version, html, NULL), \
     IF(rendered_for_version = version, excerpt, NULL), excerpt_truncated";

/// A summary's columns: the stored teaser when it is for the current body, else the
/// body to make one from.
const SUMMARY_COLUMNS: &str = "id, title, created_at, updated_at, version, \
     IF(rendered_for_version = version, excerpt, NULL), excerpt_truncated, \
     IF(rendered_for_version = version AND excerpt IS NOT NULL, NULL, body)";

/// A new post at version 1, rendered.
const INSERT: &str = "INSERT INTO posts (title, body, html, excerpt, excerpt_truncated, \
     plain_text, renderer_version, rendered_for_version, created_at, updated_at, version) \
     VALUES (?, ?, ?, ?, ?, ?, ?, 1, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1)";

/// Which version a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Any current version (`If-Match: *`, or no precondition on delete).
    Any,
    /// Exactly this version.
    Version(u32),
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
    /// Told when a read met a post whose rendering is not for its body.
    stale_seen: Arc<Notify>,
}

impl PostStore {
    /// A store over `database` whose operations give up after `timeout`.
    pub fn new(database: Database, timeout: Duration, metrics: DbMetrics) -> PostStore {
        PostStore {
            database,
            timeout,
            metrics,
            stale_seen: Arc::new(Notify::new()),
        }
    }

    /// Notified when a read meets a post whose stored rendering is not for its body:
    /// the background re-render waits on it.
    pub fn stale_seen(&self) -> Arc<Notify> {
        self.stale_seen.clone()
    }

    /// The pool, for metrics.
    pub fn pool(&self) -> &Pool {
        self.database.pool()
    }

    /// One page of posts with ids below `before`, newest first.
    pub async fn list(&self, before: Option<u64>, limit: u32) -> Result<PostsPage, StoreError> {
        let (rows, has_more) = self.page_rows("list", POST_COLUMNS, before, limit).await?;
        let posts = rows
            .into_iter()
            .map(stored_post)
            .collect::<Result<Vec<_>, _>>()?;
        let posts = self.rendered(posts).await?;
        let next_before = has_more.then(|| posts.last().map(|p| p.id)).flatten();
        Ok(PostsPage { posts, next_before })
    }

    /// One page of summaries (no body, no HTML) with ids below `before`, newest first.
    pub async fn summaries(
        &self,
        before: Option<u64>,
        limit: u32,
    ) -> Result<SummariesPage, StoreError> {
        let (rows, has_more) = self
            .page_rows("summaries", SUMMARY_COLUMNS, before, limit)
            .await?;
        let summaries = rows
            .into_iter()
            .map(stored_summary)
            .collect::<Result<Vec<_>, _>>()?;
        let posts = self.with_teasers(summaries).await?;
        let next_before = has_more.then(|| posts.last().map(|p| p.id)).flatten();
        Ok(SummariesPage { posts, next_before })
    }

    /// The `columns` of up to `limit` posts with ids below `before`, newest first (a
    /// range scan of the primary key), and whether older posts remain.
    async fn page_rows(
        &self,
        operation: &'static str,
        columns: &'static str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<(Vec<Row>, bool), StoreError> {
        let before = before.unwrap_or(u64::MAX);
        let pool = self.pool().clone();
        let mut rows: Vec<Row> = self
            .bounded(operation, async move {
                let mut conn = pool.get_conn().await?;
                sql(
                    "SELECT posts",
                    conn.exec(
                        format!(
                            "SELECT {columns} FROM posts WHERE id < ? ORDER BY id DESC LIMIT ?"
                        ),
                        (before, limit + 1),
                    ),
                )
                .await
            })
            .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((rows, has_more))
    }

    /// The post with this id, if any.
    pub async fn get(&self, id: u64) -> Result<Option<Post>, StoreError> {
        let pool = self.pool().clone();
        let row: Option<Row> = self
            .bounded("get", async move {
                let mut conn = pool.get_conn().await?;
                sql(
                    "SELECT posts",
                    conn.exec_first(
                        format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ?"),
                        (id,),
                    ),
                )
                .await
            })
            .await?;
        match row.map(stored_post).transpose()? {
            Some(post) => Ok(self.rendered(vec![post]).await?.pop()),
            None => Ok(None),
        }
    }

    /// The posts, each with a rendering for its body: the stored one, or one made now
    /// (on the blocking pool) for those without, which also wakes the background
    /// re-render to store it.
    async fn rendered(&self, posts: Vec<Stored<Post>>) -> Result<Vec<Post>, StoreError> {
        if posts.iter().all(|post| post.unrendered_body.is_none()) {
            return Ok(posts.into_iter().map(|post| post.value).collect());
        }
        self.stale_seen.notify_one();
        off_the_async_threads(move || {
            posts
                .into_iter()
                .map(
                    |Stored {
                         mut value,
                         unrendered_body,
                     }| {
                        if let Some(body) = unrendered_body {
                            let rendered = post_render::render(&body);
                            value.html = rendered.html;
                            value.excerpt = rendered.excerpt;
                            value.excerpt_truncated = rendered.excerpt_truncated;
                        }
                        value
                    },
                )
                .collect()
        })
        .await
    }

    /// The summaries, each with a teaser for its body, like [`PostStore::rendered`].
    async fn with_teasers(
        &self,
        summaries: Vec<Stored<PostSummary>>,
    ) -> Result<Vec<PostSummary>, StoreError> {
        if summaries.iter().all(|s| s.unrendered_body.is_none()) {
            return Ok(summaries.into_iter().map(|s| s.value).collect());
        }
        self.stale_seen.notify_one();
        off_the_async_threads(move || {
            summaries
                .into_iter()
                .map(
                    |Stored {
                         mut value,
                         unrendered_body,
                     }| {
                        if let Some(body) = unrendered_body {
                            (value.excerpt, value.excerpt_truncated) = post_render::teaser(&body);
                        }
                        value
                    },
                )
                .collect()
        })
        .await
    }

    /// Stores a new post at version 1.
    pub async fn create(&self, content: RenderedContent) -> Result<Post, StoreError> {
        let pool = self.pool().clone();
        let row: Option<Row> = self
            .bounded("create", async move {
                let mut conn = pool.get_conn().await?;
                sql(
                    "INSERT posts",
                    conn.exec_first(
                        format!("{INSERT} RETURNING {POST_COLUMNS}"),
                        insert_params(content),
                    ),
                )
                .await
            })
            .await?;
        let row = row.ok_or_else(|| StoreError::Internal("INSERT returned no row".to_owned()))?;
        written_post(row)
    }

    /// Stores a new post at version 1 and remembers `key` with it, in one transaction;
    /// or, when `key` is remembered already (and not expired), answers what it was used
    /// for without creating anything. See [`crate::idempotency`].
    pub async fn create_idempotent(
        &self,
        content: RenderedContent,
        key: Key,
    ) -> Result<Outcome, StoreError> {
        let pool = self.pool().clone();
        let fingerprint = Fingerprint::of(&content.content);
        self.bounded(
            "create_idempotent",
            retrying_deadlocks(move || {
                let pool = pool.clone();
                let content = content.clone();
                async move {
                    let mut conn = pool.get_conn().await?;
                    idempotency_keys::purge_expired(&mut conn).await?;
                    if let Some(post) =
                        insert_with_key(&mut conn, content, key, fingerprint).await?
                    {
                        return Ok(Outcome::Created(post));
                    }
                    Ok(
                        match idempotency_keys::lookup(&mut conn, key, fingerprint).await? {
                            Remembered::SameRequest(post) => Outcome::Replayed(post),
                            Remembered::OtherRequest => Outcome::KeyReused,
                        },
                    )
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
        content: RenderedContent,
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
                        let RenderedContent { content, rendered } = content;
                        sql(
                            "UPDATE posts",
                            tx.exec_drop(
                                // Assignments run left to right: `rendered_for_version`
                                // takes the new version before `version` changes.
                                "UPDATE posts SET title = ?, body = ?, html = ?, excerpt = ?, \
                             excerpt_truncated = ?, plain_text = ?, renderer_version = ?, \
                             rendered_for_version = version + 1, \
                             updated_at = UTC_TIMESTAMP(), version = version + 1 \
                             WHERE id = ? AND (? OR version = ?)",
                                mysql_async::Params::Positional(vec![
                                    content.title.into(),
                                    content.body.into(),
                                    rendered.html.into(),
                                    rendered.excerpt.into(),
                                    rendered.excerpt_truncated.into(),
                                    rendered.plain_text.into(),
                                    post_render::VERSION.into(),
                                    id.into(),
                                    any_version.into(),
                                    required_version.into(),
                                ]),
                            ),
                        )
                        .await?;
                        let changed = tx.affected_rows();
                        // Within the transaction the row is locked by our UPDATE, so this
                        // reads exactly what we wrote (or, if nothing matched, why).
                        let row: Option<Row> = sql(
                            "SELECT posts",
                            tx.exec_first(
                                format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ?"),
                                (id,),
                            ),
                        )
                        .await?;
                        tx.commit().await?;
                        Ok::<_, StoreError>((changed, row))
                    }
                }),
            )
            .await?;
        match (changed, row) {
            (1, Some(row)) => Ok(WriteOutcome::Written(
                self.rendered(vec![stored_post(row)?]).await?.remove(0),
            )),
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
                sql(
                    "DELETE posts",
                    conn.exec_drop(
                        "DELETE FROM posts WHERE id = ? AND (? OR version = ?)",
                        (id, any_version, required_version),
                    ),
                )
                .await?;
                let deleted = conn.affected_rows();
                let still_exists = if deleted == 0 {
                    sql(
                        "SELECT posts",
                        conn.exec_first::<u64, _, _>("SELECT id FROM posts WHERE id = ?", (id,)),
                    )
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
    pub(super) async fn bounded<T, E: Into<StoreError>>(
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
    content: RenderedContent,
    key: Key,
    fingerprint: Fingerprint,
) -> Result<Option<Post>, StoreError> {
    // READ COMMITTED takes no gap locks, so creates with different keys never wait for
    // each other; the duplicate-key check still waits for an uncommitted equal key.
    let mut opts = TxOpts::default();
    opts.with_isolation_level(IsolationLevel::ReadCommitted);
    let mut tx = conn.start_transaction(opts).await?;
    idempotency_keys::forget_if_expired(&mut tx, key).await?;
    let row: Option<Row> = sql(
        "INSERT posts",
        tx.exec_first(
            format!("{INSERT} RETURNING {POST_COLUMNS}"),
            insert_params(content),
        ),
    )
    .await?;
    let post = written_post(
        row.ok_or_else(|| StoreError::Internal("INSERT returned no row".to_owned()))?,
    )?;
    if idempotency_keys::remember(&mut tx, key, fingerprint, &post).await? {
        tx.commit().await?;
        Ok(Some(post))
    } else {
        tx.rollback().await?;
        Ok(None)
    }
}

/// The parameters of [`INSERT`].
fn insert_params(content: RenderedContent) -> mysql_async::Params {
    let RenderedContent { content, rendered } = content;
    mysql_async::Params::Positional(vec![
        content.title.into(),
        content.body.into(),
        rendered.html.into(),
        rendered.excerpt.into(),
        rendered.excerpt_truncated.into(),
        rendered.plain_text.into(),
        post_render::VERSION.into(),
    ])
}

fn malformed() -> StoreError {
    StoreError::Internal("unexpected row shape from posts".to_owned())
}

/// A value read from the database, and the body to render for it when the stored
/// rendering is not for that body.
struct Stored<T> {
    value: T,
    unrendered_body: Option<String>,
}

/// A post from [`POST_COLUMNS`]; its rendering empty when none is stored for its body.
fn stored_post(row: Row) -> Result<Stored<Post>, StoreError> {
    type Columns = (
        u64,
        String,
        String,
        PrimitiveDateTime,
        PrimitiveDateTime,
        u32,
        Option<String>,
        Option<String>,
        bool,
    );
    let (id, title, body, created_at, updated_at, version, html, excerpt, truncated): Columns =
        mysql_async::from_row_opt(row).map_err(|_| malformed())?;
    let (html, excerpt, unrendered_body) = match (html, excerpt) {
        (Some(html), Some(excerpt)) => (html, excerpt, None),
        _ => (String::new(), String::new(), Some(body.clone())),
    };
    Ok(Stored {
        value: Post {
            id,
            title,
            body,
            html,
            excerpt,
            excerpt_truncated: truncated,
            created_at: utc(created_at),
            updated_at: utc(updated_at),
            version,
            // SCAFFOLD(authoring): placeholders until the V5 columns are read.
            slug: format!("post-{id}"),
            status: posts_api::PostStatus::Published,
            published_at: Some(utc(created_at)),
            author: None,
            tags: Vec::new(),
        },
        unrendered_body,
    })
}

/// A post this release has just written: its rendering is stored with it.
fn written_post(row: Row) -> Result<Post, StoreError> {
    let stored = stored_post(row)?;
    if stored.unrendered_body.is_some() {
        return Err(StoreError::Internal(
            "a post written without its rendering".to_owned(),
        ));
    }
    Ok(stored.value)
}

/// A summary from [`SUMMARY_COLUMNS`]; its teaser empty when none is stored for its
/// body.
fn stored_summary(row: Row) -> Result<Stored<PostSummary>, StoreError> {
    type Columns = (
        u64,
        String,
        PrimitiveDateTime,
        PrimitiveDateTime,
        u32,
        Option<String>,
        bool,
        Option<String>,
    );
    let (id, title, created_at, updated_at, version, excerpt, truncated, unrendered_body): Columns =
        mysql_async::from_row_opt(row).map_err(|_| malformed())?;
    Ok(Stored {
        value: PostSummary {
            id,
            title,
            excerpt: excerpt.unwrap_or_default(),
            excerpt_truncated: truncated,
            created_at: utc(created_at),
            updated_at: utc(updated_at),
            version,
            // SCAFFOLD(authoring): placeholders until the V5 columns are read.
            slug: format!("post-{id}"),
            status: posts_api::PostStatus::Published,
            published_at: Some(utc(created_at)),
            author: None,
            tags: Vec::new(),
        },
        unrendered_body,
    })
}

/// Runs CPU work on the blocking pool, so that it holds up no other request.
async fn off_the_async_threads<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StoreError::Internal(format!("rendering did not finish: {err}")))
}

/// Stored `DATETIME`s are UTC (written with `UTC_TIMESTAMP()`).
fn utc(stored: PrimitiveDateTime) -> OffsetDateTime {
    stored.assume_utc()
}
