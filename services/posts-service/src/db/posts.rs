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
//!
//! A post's slug and tags are written in the post's transaction ([`super::slugs`]). What
//! readers may see is decided in the query: published, and its publication time reached
//! by the database's clock ([`VISIBLE`]); a post made before slugs and publication
//! times existed (a NULL `published_at`) counts as published when it was created until
//! the background walk ([`super::backfill`]) fills it in.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::{FromValue, Queryable};
use mysql_async::{Conn, IsolationLevel, Pool, Row, Transaction, TxOpts};
use time::{OffsetDateTime, PrimitiveDateTime};
use tokio::sync::Notify;

use posts_api::{
    Author, ListStatus, Post, PostMeta, PostStatus, PostSummary, PostsPage, SummariesPage, Tag,
};

use super::error::StoreError;
use super::idempotency_keys::{self, Remembered};
use super::metrics::DbMetrics;
use super::operation::{bounded, retrying_deadlocks, sql};
use super::search_text;
use super::slugs::{self, PostTags, SlugTaken};
use super::start_up::Database;
use crate::idempotency::{Fingerprint, Key, Outcome};
use crate::rendering::RenderedContent;

/// The columns a post is read with (the benchmark's point-select reads the same). The
/// last two are its author: the id, and the display name, one row of `users` read by
/// its primary key per post (so a page costs the same whatever the number of accounts).
pub const POST_COLUMNS: &str = "id, title, body, created_at, updated_at, version, \
     IF(rendered_for_version = version, html, NULL), \
     IF(rendered_for_version = version, excerpt, NULL), excerpt_truncated, \
     slug, status, IF(status = 'published', COALESCE(published_at, created_at), published_at), \
     posts.author_id, \
     (SELECT users.display_name FROM users WHERE users.id = posts.author_id)";

/// A summary's columns: the stored teaser when it is for the current body, else the
/// body to make one from.
pub(super) const SUMMARY_COLUMNS: &str = "id, title, created_at, updated_at, version, \
     IF(rendered_for_version = version, excerpt, NULL), excerpt_truncated, \
     IF(rendered_for_version = version AND excerpt IS NOT NULL, NULL, body), \
     slug, status, IF(status = 'published', COALESCE(published_at, created_at), published_at), \
     posts.author_id, \
     (SELECT users.display_name FROM users WHERE users.id = posts.author_id)";

/// Which posts readers see: published, and the publication time reached. A published
/// post that an older release wrote has no `published_at` yet: its `created_at` counts.
pub const VISIBLE: &str =
    "status = 'published' AND COALESCE(published_at, created_at) <= UTC_TIMESTAMP(3)";

/// The condition of a list's `?status=`.
fn status_condition(status: ListStatus) -> &'static str {
    match status {
        ListStatus::Published => VISIBLE,
        ListStatus::Draft => "status = 'draft'",
        ListStatus::Scheduled => "status = 'published' AND published_at > UTC_TIMESTAMP(3)",
        ListStatus::All => "TRUE",
    }
}

/// The query of one page of a tag's posts (`columns` of those meeting `condition`),
/// taking the tag's id, `before` and the limit: the tag's entries of `post_tags
/// (tag_id, post_id)` walked newest first from `before` (STRAIGHT_JOIN and the index
/// named, so the plan never scans the posts), each post then read by its primary key.
pub fn tag_page_query(columns: &str, condition: &str) -> String {
    format!(
        "SELECT {columns} FROM post_tags pt FORCE INDEX (post_tags_tag_id) \
         STRAIGHT_JOIN posts ON posts.id = pt.post_id \
         WHERE pt.tag_id = ? AND pt.post_id < ? AND {condition} \
         ORDER BY pt.post_id DESC LIMIT ?"
    )
}

/// A new post at version 1, rendered, without its slug yet. A published post without
/// a publication time is published now; a draft keeps none unless given one.
const INSERT: &str = "INSERT INTO posts (title, body, html, excerpt, excerpt_truncated, \
     plain_text, renderer_version, rendered_for_version, created_at, updated_at, version, \
     status, published_at, author_id) \
     VALUES (?, ?, ?, ?, ?, ?, ?, 1, UTC_TIMESTAMP(), UTC_TIMESTAMP(), 1, ?, \
     COALESCE(?, IF(? = 'published', UTC_TIMESTAMP(3), NULL)), ?)";

/// Who is reading: readers see only visible posts; the API token sees every post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// No token: visible posts only.
    Readers,
    /// The API token: any post.
    Editors,
}

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
    /// The slug asked for is another post's, now or before: nothing was written.
    SlugTaken,
}

/// A valid post to write: the title and body rendered, and the optional fields.
#[derive(Debug, Clone)]
pub struct NewContent {
    /// Title, body and what the body renders to.
    pub rendered: RenderedContent,
    /// Slug, tags, status and publication time, where given.
    pub meta: PostMeta,
    /// The account that writes it (`X-Acting-User`); set on a create only.
    pub author_id: Option<u64>,
}

fn status_text(status: PostStatus) -> &'static str {
    match status {
        PostStatus::Draft => "draft",
        PostStatus::Published => "published",
    }
}

/// The rows of one page of a list, their posts' tags, whether older posts remain, and
/// the tag the list is of.
struct PageRows {
    rows: Vec<Row>,
    tags: HashMap<u64, PostTags>,
    has_more: bool,
    tag: Option<Tag>,
}

/// Reads and writes posts in MariaDB.
#[derive(Clone)]
pub struct PostStore {
    database: Database,
    timeout: Duration,
    metrics: DbMetrics,
    /// Told when a read met a post whose rendering is not for its body.
    stale_seen: Arc<Notify>,
    /// Told when a read met a post without a slug (made by an older release).
    unfilled_seen: Arc<Notify>,
}

impl PostStore {
    /// A store over `database` whose operations give up after `timeout`.
    pub fn new(database: Database, timeout: Duration, metrics: DbMetrics) -> PostStore {
        PostStore {
            database,
            timeout,
            metrics,
            stale_seen: Arc::new(Notify::new()),
            unfilled_seen: Arc::new(Notify::new()),
        }
    }

    /// Notified when a read meets a post whose stored rendering is not for its body:
    /// the background re-render waits on it.
    pub fn stale_seen(&self) -> Arc<Notify> {
        self.stale_seen.clone()
    }

    /// Notified when a read meets a post without a slug: the background backfill
    /// waits on it.
    pub fn unfilled_seen(&self) -> Arc<Notify> {
        self.unfilled_seen.clone()
    }

    /// The pool, for metrics.
    pub fn pool(&self) -> &Pool {
        self.database.pool()
    }

    /// One page of the posts of `status` with ids below `before`, newest first; with
    /// `tag` (a tag's slug), only the posts with that tag, and `None` when no tag has
    /// that slug.
    pub async fn list(
        &self,
        status: ListStatus,
        before: Option<u64>,
        limit: u32,
        tag: Option<String>,
    ) -> Result<Option<PostsPage>, StoreError> {
        let Some(page) = self
            .page_rows("list", POST_COLUMNS, status, before, limit, tag)
            .await?
        else {
            return Ok(None);
        };
        let posts = page
            .rows
            .into_iter()
            .map(stored_post)
            .collect::<Result<Vec<_>, _>>()?;
        let posts = self.rendered(with_tags(posts, page.tags)).await?;
        let next_before = page.has_more.then(|| posts.last().map(|p| p.id)).flatten();
        Ok(Some(PostsPage {
            posts,
            next_before,
            tag: page.tag,
        }))
    }

    /// One page of the summaries (no body, no HTML) of the posts of `status` with ids
    /// below `before`, newest first; with `tag` (a tag's slug), only the posts with
    /// that tag, and `None` when no tag has that slug.
    pub async fn summaries(
        &self,
        status: ListStatus,
        before: Option<u64>,
        limit: u32,
        tag: Option<String>,
    ) -> Result<Option<SummariesPage>, StoreError> {
        let Some(page) = self
            .page_rows("summaries", SUMMARY_COLUMNS, status, before, limit, tag)
            .await?
        else {
            return Ok(None);
        };
        let posts = self.summaries_of(page.rows, page.tags).await?;
        let next_before = page.has_more.then(|| posts.last().map(|p| p.id)).flatten();
        Ok(Some(SummariesPage {
            posts,
            next_before,
            tag: page.tag,
        }))
    }

    /// The `columns` of up to `limit` posts of `status` with ids below `before`, newest
    /// first (a range scan of the primary key, or of `(status, id)`), their tags, and
    /// whether older posts remain. With `tag`, only that tag's posts: a range scan of
    /// `post_tags (tag_id, post_id)`, each post then read by its primary key; `None`
    /// when no tag has that slug.
    async fn page_rows(
        &self,
        operation: &'static str,
        columns: &'static str,
        status: ListStatus,
        before: Option<u64>,
        limit: u32,
        tag: Option<String>,
    ) -> Result<Option<PageRows>, StoreError> {
        let before = before.unwrap_or(u64::MAX);
        let pool = self.pool().clone();
        let condition = status_condition(status);
        let found = self
            .bounded(operation, async move {
                let mut conn = pool.get_conn().await?;
                let (mut rows, tag): (Vec<Row>, Option<Tag>) = match tag {
                    None => {
                        let rows = sql(
                            "SELECT posts",
                            conn.exec(
                                format!(
                                    "SELECT {columns} FROM posts WHERE id < ? AND {condition} \
                                     ORDER BY id DESC LIMIT ?"
                                ),
                                (before, limit + 1),
                            ),
                        )
                        .await?;
                        (rows, None)
                    }
                    Some(slug) => {
                        let Some((tag_id, name)) = slugs::tag_by_slug(&mut conn, &slug).await?
                        else {
                            return Ok::<_, StoreError>(None);
                        };
                        let rows = sql(
                            "SELECT posts",
                            conn.exec(
                                tag_page_query(columns, condition),
                                (tag_id, before, limit + 1),
                            ),
                        )
                        .await?;
                        (rows, Some(Tag { slug, name }))
                    }
                };
                rows.truncate(limit as usize + 1);
                let ids: Vec<u64> = rows
                    .iter()
                    .take(limit as usize)
                    .filter_map(|row| row.get::<u64, _>(0))
                    .collect();
                let tags = slugs::tags_of(&mut conn, &ids).await?;
                Ok(Some((rows, tags, tag)))
            })
            .await?;
        let Some((mut rows, tags, tag)) = found else {
            return Ok(None);
        };
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(Some(PageRows {
            rows,
            tags,
            has_more,
            tag,
        }))
    }

    /// The post with this id, if any (and, for readers, if visible).
    pub async fn get(&self, id: u64, audience: Audience) -> Result<Option<Post>, StoreError> {
        let visible_only = audience == Audience::Readers;
        self.get_where("get", "id = ?", id.into(), visible_only)
            .await
    }

    /// The post with this slug, current or earlier, if any (and, for readers, if
    /// visible). Its JSON carries its current slug.
    pub async fn get_by_slug(
        &self,
        slug: &str,
        audience: Audience,
    ) -> Result<Option<Post>, StoreError> {
        let visible_only = audience == Audience::Readers;
        let found = self
            .get_where(
                "get_by_slug",
                "id = (SELECT post_id FROM post_slugs WHERE slug = ?)",
                slug.into(),
                visible_only,
            )
            .await?;
        if found.is_some() {
            return Ok(found);
        }
        // A post an older release made has no slug until the backfill reaches it; until
        // then it is served as `post-{id}`, and found as that.
        let Some(id) = slug
            .strip_prefix("post-")
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok())
        else {
            return Ok(None);
        };
        Ok(self
            .get_where(
                "get_by_slug",
                "id = ? AND slug IS NULL",
                id.into(),
                visible_only,
            )
            .await?
            .filter(|post| post.slug == slug))
    }

    async fn get_where(
        &self,
        operation: &'static str,
        condition: &'static str,
        key: mysql_async::Value,
        visible_only: bool,
    ) -> Result<Option<Post>, StoreError> {
        let pool = self.pool().clone();
        let (row, tags): (Option<Row>, _) = self
            .bounded(operation, async move {
                let mut conn = pool.get_conn().await?;
                let row: Option<Row> = sql(
                    "SELECT posts",
                    conn.exec_first(
                        format!(
                            "SELECT {POST_COLUMNS} FROM posts WHERE {condition} \
                             AND (? OR ({VISIBLE}))"
                        ),
                        (key, !visible_only),
                    ),
                )
                .await?;
                let ids: Vec<u64> = row.iter().filter_map(|row| row.get(0)).collect();
                let tags = slugs::tags_of(&mut conn, &ids).await?;
                Ok::<_, StoreError>((row, tags))
            })
            .await?;
        match row.map(stored_post).transpose()? {
            Some(post) => Ok(self.rendered(with_tags(vec![post], tags)).await?.pop()),
            None => Ok(None),
        }
    }

    /// The posts, each with a rendering for its body: the stored one, or one made now
    /// (on the blocking pool) for those without, which also wakes the background
    /// re-render to store it. A post without a slug wakes the backfill.
    async fn rendered(&self, posts: Vec<Stored<Post>>) -> Result<Vec<Post>, StoreError> {
        if posts.iter().any(|post| post.unfilled) {
            self.unfilled_seen.notify_one();
        }
        if posts.iter().all(|post| post.unrendered_body.is_none()) {
            return Ok(posts.into_iter().map(|post| post.value).collect());
        }
        self.stale_seen.notify_one();
        off_the_async_threads(move || {
            posts
                .into_iter()
                .map(|stored| {
                    let mut value = stored.value;
                    if let Some(body) = stored.unrendered_body {
                        let rendered = post_render::render(&body);
                        value.html = rendered.html;
                        value.excerpt = rendered.excerpt;
                        value.excerpt_truncated = rendered.excerpt_truncated;
                    }
                    value
                })
                .collect()
        })
        .await
    }

    /// Summaries from rows of [`SUMMARY_COLUMNS`] (and any columns after them) with
    /// their tags, each with a teaser for its body.
    pub(super) async fn summaries_of(
        &self,
        rows: Vec<Row>,
        tags: HashMap<u64, PostTags>,
    ) -> Result<Vec<PostSummary>, StoreError> {
        let summaries = rows
            .into_iter()
            .map(stored_summary)
            .collect::<Result<Vec<_>, _>>()?;
        self.with_teasers(with_tags(summaries, tags)).await
    }

    /// The summaries, each with a teaser for its body, like [`PostStore::rendered`].
    async fn with_teasers(
        &self,
        summaries: Vec<Stored<PostSummary>>,
    ) -> Result<Vec<PostSummary>, StoreError> {
        if summaries.iter().any(|s| s.unfilled) {
            self.unfilled_seen.notify_one();
        }
        if summaries.iter().all(|s| s.unrendered_body.is_none()) {
            return Ok(summaries.into_iter().map(|s| s.value).collect());
        }
        self.stale_seen.notify_one();
        off_the_async_threads(move || {
            summaries
                .into_iter()
                .map(|stored| {
                    let mut value = stored.value;
                    if let Some(body) = stored.unrendered_body {
                        (value.excerpt, value.excerpt_truncated) = post_render::teaser(&body);
                    }
                    value
                })
                .collect()
        })
        .await
    }

    /// Stores a new post at version 1 with its slug and tags, or answers that the slug
    /// asked for is taken (and stores nothing).
    pub async fn create(&self, content: NewContent) -> Result<Result<Post, SlugTaken>, StoreError> {
        let pool = self.pool().clone();
        self.bounded(
            "create",
            retrying_deadlocks(move || {
                let pool = pool.clone();
                let content = content.clone();
                async move {
                    let mut conn = pool.get_conn().await?;
                    let mut tx = conn.start_transaction(read_committed()).await?;
                    match insert(&mut tx, content).await? {
                        Ok(post) => {
                            tx.commit().await?;
                            Ok(Ok(post))
                        }
                        Err(taken) => {
                            tx.rollback().await?;
                            Ok(Err(taken))
                        }
                    }
                }
            }),
        )
        .await
    }

    /// Stores a new post at version 1 and remembers `key` with it, in one transaction;
    /// or, when `key` is remembered already (and not expired), answers what it was used
    /// for without creating anything. See [`crate::idempotency`].
    pub async fn create_idempotent(
        &self,
        content: NewContent,
        key: Key,
    ) -> Result<Outcome, StoreError> {
        let pool = self.pool().clone();
        let fingerprint = Fingerprint::of(&content.rendered.content, &content.meta);
        self.bounded(
            "create_idempotent",
            retrying_deadlocks(move || {
                let pool = pool.clone();
                let content = content.clone();
                async move {
                    let mut conn = pool.get_conn().await?;
                    idempotency_keys::purge_expired(&mut conn).await?;
                    match insert_with_key(&mut conn, content, key, fingerprint).await? {
                        KeyedInsert::Created(post) => return Ok(Outcome::Created(*post)),
                        KeyedInsert::SlugTaken => return Ok(Outcome::SlugTaken),
                        KeyedInsert::KeyTaken => {}
                    }
                    Ok(
                        match idempotency_keys::lookup(&mut conn, key, fingerprint).await? {
                            Remembered::SameRequest(post) => Outcome::Replayed(*post),
                            Remembered::OtherRequest => Outcome::KeyReused,
                        },
                    )
                }
            }),
        )
        .await
    }

    /// Replaces title and body, and the optional fields given, if the post is at the
    /// expected version, bumping it. A slug change keeps the earlier slug leading to
    /// the post.
    pub async fn update(
        &self,
        id: u64,
        expected: Expected,
        content: NewContent,
    ) -> Result<WriteOutcome<Post>, StoreError> {
        let pool = self.pool().clone();
        let outcome: WriteOutcome<RowWithTags> = self
            .bounded(
                "update",
                retrying_deadlocks(move || {
                    let pool = pool.clone();
                    let content = content.clone();
                    async move {
                        let mut conn = pool.get_conn().await?;
                        let mut tx = conn.start_transaction(read_committed()).await?;
                        let outcome = update_in(&mut tx, id, expected, content).await?;
                        if matches!(outcome, WriteOutcome::Written(_)) {
                            tx.commit().await?;
                        } else {
                            tx.rollback().await?;
                        }
                        Ok::<_, StoreError>(outcome)
                    }
                }),
            )
            .await?;
        Ok(match outcome {
            WriteOutcome::Written(row) => {
                WriteOutcome::Written(self.rendered(vec![row_with_tags(row)?]).await?.remove(0))
            }
            WriteOutcome::Missing => WriteOutcome::Missing,
            WriteOutcome::Stale => WriteOutcome::Stale,
            WriteOutcome::SlugTaken => WriteOutcome::SlugTaken,
        })
    }

    /// The account that wrote post `id`: `None` when there is no such post,
    /// `Some(None)` when no account did. Never changes once the post exists.
    pub async fn author_of(&self, id: u64) -> Result<Option<Option<u64>>, StoreError> {
        let pool = self.pool().clone();
        self.bounded("author_of", async move {
            let mut conn = pool.get_conn().await?;
            sql(
                "SELECT posts",
                conn.exec_first::<Option<u64>, _, _>(
                    "SELECT author_id FROM posts WHERE id = ?",
                    (id,),
                ),
            )
            .await
        })
        .await
    }

    /// Deletes the post if it is at the expected version, with its slugs and its tags.
    pub async fn delete(
        &self,
        id: u64,
        expected: Expected,
    ) -> Result<WriteOutcome<()>, StoreError> {
        let pool = self.pool().clone();
        let (deleted, still_exists) = self
            .bounded(
                "delete",
                retrying_deadlocks(move || {
                    let pool = pool.clone();
                    async move {
                        let mut conn = pool.get_conn().await?;
                        let (required_version, any_version) = match expected {
                            Expected::Any => (0, true),
                            Expected::Version(v) => (v, false),
                        };
                        let mut tx = conn.start_transaction(read_committed()).await?;
                        sql(
                            "DELETE posts",
                            tx.exec_drop(
                                "DELETE FROM posts WHERE id = ? AND (? OR version = ?)",
                                (id, any_version, required_version),
                            ),
                        )
                        .await?;
                        let deleted = tx.affected_rows();
                        if deleted == 0 {
                            tx.rollback().await?;
                            let still_exists = sql(
                                "SELECT posts",
                                conn.exec_first::<u64, _, _>(
                                    "SELECT id FROM posts WHERE id = ?",
                                    (id,),
                                ),
                            )
                            .await?
                            .is_some();
                            return Ok::<_, StoreError>((deleted, still_exists));
                        }
                        sql(
                            "DELETE post_slugs",
                            tx.exec_drop("DELETE FROM post_slugs WHERE post_id = ?", (id,)),
                        )
                        .await?;
                        sql(
                            "DELETE post_tags",
                            tx.exec_drop("DELETE FROM post_tags WHERE post_id = ?", (id,)),
                        )
                        .await?;
                        search_text::delete_row(&mut tx, id).await?;
                        tx.commit().await?;
                        Ok((deleted, false))
                    }
                }),
            )
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

/// READ COMMITTED: no gap locks, so writes of different posts never wait for each
/// other, and a read after a duplicate-key error sees the row that caused it.
pub(super) fn read_committed() -> TxOpts {
    let mut opts = TxOpts::default();
    opts.with_isolation_level(IsolationLevel::ReadCommitted);
    opts
}

/// Inserts the post, its slug and its tags in `tx`; the post as stored, or
/// [`SlugTaken`] (the caller rolls back).
async fn insert(
    tx: &mut Transaction<'_>,
    content: NewContent,
) -> Result<Result<Post, SlugTaken>, StoreError> {
    let NewContent {
        rendered,
        meta,
        author_id,
    } = content;
    let title = rendered.content.title.clone();
    let plain_text = rendered.rendered.plain_text.clone();
    sql(
        "INSERT posts",
        tx.exec_drop(INSERT, insert_params(rendered, &meta, author_id)),
    )
    .await?;
    let id = tx
        .last_insert_id()
        .ok_or_else(|| StoreError::Internal("INSERT posts gave no id".to_owned()))?;
    search_text::write_row(tx, id, &title, &plain_text).await?;
    match &meta.slug {
        Some(slug) => {
            if !slugs::claim(tx, slug, id).await? {
                return Ok(Err(SlugTaken));
            }
            slugs::set_current(tx, slug, id).await?;
        }
        None => {
            slugs::assign_from_title(tx, &title, id).await?;
        }
    }
    if let Some(tags) = &meta.tags {
        slugs::set_tags(tx, id, tags).await?;
    }
    let row = read_back(tx, id)
        .await?
        .ok_or_else(|| StoreError::Internal("a new post vanished".to_owned()))?;
    Ok(Ok(written_post(row_with_tags(row)?)?))
}

/// A row read in a write's transaction, with the post's tags.
struct RowWithTags {
    row: Row,
    tags: PostTags,
}

fn row_with_tags(read: RowWithTags) -> Result<Stored<Post>, StoreError> {
    let mut stored = stored_post(read.row)?;
    stored.value.set_tags(read.tags);
    Ok(stored)
}

/// The post `id` as `tx` sees it, with its tags.
async fn read_back(tx: &mut Transaction<'_>, id: u64) -> Result<Option<RowWithTags>, StoreError> {
    let row: Option<Row> = sql(
        "SELECT posts",
        tx.exec_first(
            format!("SELECT {POST_COLUMNS} FROM posts WHERE id = ?"),
            (id,),
        ),
    )
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut tags = slugs::tags_of(tx, &[id]).await?;
    Ok(Some(RowWithTags {
        row,
        tags: tags.remove(&id).unwrap_or_default(),
    }))
}

/// The update of [`PostStore::update`], in `tx`; the caller commits only when written.
async fn update_in(
    tx: &mut Transaction<'_>,
    id: u64,
    expected: Expected,
    content: NewContent,
) -> Result<WriteOutcome<RowWithTags>, StoreError> {
    let (required_version, any_version) = match expected {
        Expected::Any => (0, true),
        Expected::Version(v) => (v, false),
    };
    let NewContent { rendered, meta, .. } = content;
    let RenderedContent { content, rendered } = rendered;
    let title = content.title.clone();
    let plain_text = rendered.plain_text.clone();
    let status = meta.status.map(status_text);
    let published_at = meta.published_at.map(stored_time);
    sql(
        "UPDATE posts",
        tx.exec_drop(
            // Assignments run left to right: `rendered_for_version` takes the new
            // version before `version` changes, and `published_at` sees the old
            // `status` (a draft published without a time is published now; a post an
            // older release made keeps its creation time).
            "UPDATE posts SET title = ?, body = ?, html = ?, excerpt = ?, \
             excerpt_truncated = ?, plain_text = ?, renderer_version = ?, \
             rendered_for_version = version + 1, \
             published_at = CASE \
                 WHEN ? IS NOT NULL THEN ? \
                 WHEN published_at IS NOT NULL THEN published_at \
                 WHEN COALESCE(?, status) = 'draft' THEN NULL \
                 WHEN status = 'published' THEN created_at \
                 ELSE UTC_TIMESTAMP(3) END, \
             status = COALESCE(?, status), \
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
                published_at.into(),
                published_at.into(),
                status.into(),
                status.into(),
                id.into(),
                any_version.into(),
                required_version.into(),
            ]),
        ),
    )
    .await?;
    let changed = tx.affected_rows();
    if changed != 1 {
        let exists: Option<u64> = sql(
            "SELECT posts",
            tx.exec_first("SELECT id FROM posts WHERE id = ?", (id,)),
        )
        .await?;
        return Ok(match exists {
            Some(_) => WriteOutcome::Stale,
            None => WriteOutcome::Missing,
        });
    }
    search_text::write_row(tx, id, &title, &plain_text).await?;
    let current: Option<String> = sql(
        "SELECT posts",
        tx.exec_first("SELECT slug FROM posts WHERE id = ?", (id,)),
    )
    .await?
    .flatten();
    match (&meta.slug, current) {
        (Some(wanted), current) if current.as_deref() != Some(wanted.as_str()) => {
            if !slugs::claim(tx, wanted, id).await? {
                return Ok(WriteOutcome::SlugTaken);
            }
            slugs::set_current(tx, wanted, id).await?;
        }
        // A post an older release made gets its slug with its first edit here.
        (None, None) => {
            slugs::assign_from_title(tx, &title, id).await?;
        }
        _ => {}
    }
    if let Some(tags) = &meta.tags {
        slugs::set_tags(tx, id, tags).await?;
    }
    // Within the transaction the row is locked by our UPDATE, so this reads exactly
    // what we wrote.
    match read_back(tx, id).await? {
        Some(read) => Ok(WriteOutcome::Written(read)),
        None => Ok(WriteOutcome::Missing),
    }
}

/// What [`insert_with_key`] did.
enum KeyedInsert {
    Created(Box<Post>),
    KeyTaken,
    SlugTaken,
}

/// Inserts the post and its key in one transaction; nothing inserted when the key or
/// the slug asked for is taken. A concurrent create with the same key that has not
/// committed yet makes the key's `INSERT` wait for it: then this one finds the key
/// taken and replays.
async fn insert_with_key(
    conn: &mut Conn,
    content: NewContent,
    key: Key,
    fingerprint: Fingerprint,
) -> Result<KeyedInsert, StoreError> {
    let mut tx = conn.start_transaction(read_committed()).await?;
    idempotency_keys::forget_if_expired(&mut tx, key).await?;
    let post = match insert(&mut tx, content).await? {
        Ok(post) => post,
        Err(SlugTaken) => {
            tx.rollback().await?;
            return Ok(KeyedInsert::SlugTaken);
        }
    };
    if idempotency_keys::remember(&mut tx, key, fingerprint, &post).await? {
        tx.commit().await?;
        Ok(KeyedInsert::Created(Box::new(post)))
    } else {
        tx.rollback().await?;
        Ok(KeyedInsert::KeyTaken)
    }
}

/// The parameters of [`INSERT`].
fn insert_params(
    content: RenderedContent,
    meta: &PostMeta,
    author_id: Option<u64>,
) -> mysql_async::Params {
    let RenderedContent { content, rendered } = content;
    let status = status_text(meta.status.unwrap_or(PostStatus::Published));
    mysql_async::Params::Positional(vec![
        content.title.into(),
        content.body.into(),
        rendered.html.into(),
        rendered.excerpt.into(),
        rendered.excerpt_truncated.into(),
        rendered.plain_text.into(),
        post_render::VERSION.into(),
        status.into(),
        meta.published_at.map(stored_time).into(),
        status.into(),
        author_id.into(),
    ])
}

/// A time as a `DATETIME(3)` stores it: UTC, to the millisecond.
fn stored_time(at: OffsetDateTime) -> PrimitiveDateTime {
    let at = at.to_offset(time::UtcOffset::UTC);
    PrimitiveDateTime::new(at.date(), at.time())
}

fn malformed() -> StoreError {
    StoreError::Internal("unexpected row shape from posts".to_owned())
}

/// Column `index` of `row`.
fn take<T: FromValue>(row: &mut Row, index: usize) -> Result<T, StoreError> {
    row.take_opt(index)
        .and_then(Result::ok)
        .ok_or_else(malformed)
}

/// A value read from the database, the body to render for it when the stored
/// rendering is not for that body, and whether it still lacks its slug.
struct Stored<T> {
    value: T,
    unrendered_body: Option<String>,
    unfilled: bool,
}

/// What posts and summaries have in common: their tags are filled in after the query.
trait Tagged {
    fn id(&self) -> u64;
    fn set_tags(&mut self, tags: PostTags);
}

impl Tagged for Post {
    fn id(&self) -> u64 {
        self.id
    }
    fn set_tags(&mut self, tags: PostTags) {
        self.tags = tags.names;
        self.tag_slugs = tags.slugs;
    }
}

impl Tagged for PostSummary {
    fn id(&self) -> u64 {
        self.id
    }
    fn set_tags(&mut self, tags: PostTags) {
        self.tags = tags.names;
        self.tag_slugs = tags.slugs;
    }
}

fn with_tags<T: Tagged>(
    mut stored: Vec<Stored<T>>,
    mut tags: HashMap<u64, PostTags>,
) -> Vec<Stored<T>> {
    for item in &mut stored {
        let id = item.value.id();
        item.value.set_tags(tags.remove(&id).unwrap_or_default());
    }
    stored
}

/// The slug, status and publication time columns that close [`POST_COLUMNS`] and
/// [`SUMMARY_COLUMNS`], from `first`: a post without a slug yet (made by an older
/// release) is served as `post-{id}` until the backfill gives it one.
fn publication(
    row: &mut Row,
    first: usize,
    id: u64,
) -> Result<(String, PostStatus, Option<OffsetDateTime>, bool), StoreError> {
    let slug: Option<String> = take(row, first)?;
    let status: String = take(row, first + 1)?;
    let published_at: Option<PrimitiveDateTime> = take(row, first + 2)?;
    let status = match status.as_str() {
        "draft" => PostStatus::Draft,
        "published" => PostStatus::Published,
        _ => return Err(malformed()),
    };
    let unfilled = slug.is_none();
    let slug = slug.unwrap_or_else(|| format!("post-{id}"));
    Ok((slug, status, published_at.map(utc), unfilled))
}

/// The author columns (the last two of [`POST_COLUMNS`] and [`SUMMARY_COLUMNS`]) from `first`: none for a post no account wrote (or
/// whose account is gone).
fn author(row: &mut Row, first: usize) -> Result<Option<Author>, StoreError> {
    let id: Option<u64> = take(row, first)?;
    let name: Option<String> = take(row, first + 1)?;
    Ok(id.zip(name).map(|(id, name)| Author { id, name }))
}

/// A post from [`POST_COLUMNS`]; its rendering empty when none is stored for its body,
/// its tags empty (filled in by [`with_tags`]).
fn stored_post(mut row: Row) -> Result<Stored<Post>, StoreError> {
    let id: u64 = take(&mut row, 0)?;
    let body: String = take(&mut row, 2)?;
    let html: Option<String> = take(&mut row, 6)?;
    let excerpt: Option<String> = take(&mut row, 7)?;
    let (slug, status, published_at, unfilled) = publication(&mut row, 9, id)?;
    let author = author(&mut row, 12)?;
    let (html, excerpt, unrendered_body) = match (html, excerpt) {
        (Some(html), Some(excerpt)) => (html, excerpt, None),
        _ => (String::new(), String::new(), Some(body.clone())),
    };
    Ok(Stored {
        value: Post {
            id,
            title: take(&mut row, 1)?,
            body,
            html,
            excerpt,
            excerpt_truncated: take(&mut row, 8)?,
            created_at: utc(take(&mut row, 3)?),
            updated_at: utc(take(&mut row, 4)?),
            version: take(&mut row, 5)?,
            slug,
            status,
            published_at,
            author,
            tags: Vec::new(),
            tag_slugs: Vec::new(),
        },
        unrendered_body,
        unfilled,
    })
}

/// A post this release has just written: its rendering is stored with it.
fn written_post(stored: Stored<Post>) -> Result<Post, StoreError> {
    if stored.unrendered_body.is_some() {
        return Err(StoreError::Internal(
            "a post written without its rendering".to_owned(),
        ));
    }
    Ok(stored.value)
}

/// A summary from [`SUMMARY_COLUMNS`]; its teaser empty when none is stored for its
/// body, its tags empty (filled in by [`with_tags`]).
fn stored_summary(mut row: Row) -> Result<Stored<PostSummary>, StoreError> {
    let id: u64 = take(&mut row, 0)?;
    let excerpt: Option<String> = take(&mut row, 5)?;
    let unrendered_body: Option<String> = take(&mut row, 7)?;
    let (slug, status, published_at, unfilled) = publication(&mut row, 8, id)?;
    let author = author(&mut row, 11)?;
    Ok(Stored {
        value: PostSummary {
            id,
            title: take(&mut row, 1)?,
            excerpt: excerpt.unwrap_or_default(),
            excerpt_truncated: take(&mut row, 6)?,
            created_at: utc(take(&mut row, 2)?),
            updated_at: utc(take(&mut row, 3)?),
            version: take(&mut row, 4)?,
            slug,
            status,
            published_at,
            author,
            tags: Vec::new(),
            tag_slugs: Vec::new(),
        },
        unrendered_body,
        unfilled,
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
