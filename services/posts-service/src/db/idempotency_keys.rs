//! The `idempotency_keys` table: a create made under an `Idempotency-Key`, remembered as
//! the key's digest, the request's fingerprint and the post as that create answered it
//! (JSON), for [`super::posts::PostStore::create_idempotent`] to replay. The rules are
//! [`crate::idempotency`]'s.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Transaction};
use posts_api::Post;

use super::error::StoreError;
use super::operation::sql;
use crate::idempotency::{Fingerprint, Key, RETENTION_HOURS};

/// Most expired keys one purge removes, so a purge never holds locks long.
const PURGE_BATCH: u32 = 100;

/// ER_DUP_ENTRY: the key is taken.
const DUPLICATE_KEY: u16 = 1062;

/// What a key was used for.
pub enum Remembered {
    /// The same request: its answer, the post as it was created.
    SameRequest(Box<Post>),
    /// Another request.
    OtherRequest,
}

/// Forgets expired keys, a bounded batch in a statement of its own, so that the create's
/// transaction holds no lock on them.
pub async fn purge_expired(conn: &mut Conn) -> Result<(), StoreError> {
    sql(
        "DELETE idempotency_keys",
        conn.exec_drop(
            "DELETE FROM idempotency_keys \
         WHERE created_at < UTC_TIMESTAMP(3) - INTERVAL ? HOUR \
         ORDER BY created_at LIMIT ?",
            (RETENTION_HOURS, PURGE_BATCH),
        ),
    )
    .await?;
    Ok(())
}

/// Forgets `key` if it is past its retention, whether or not a purge reached it.
pub async fn forget_if_expired(tx: &mut Transaction<'_>, key: Key) -> Result<(), StoreError> {
    sql(
        "DELETE idempotency_keys",
        tx.exec_drop(
            "DELETE FROM idempotency_keys \
         WHERE key_hash = ? AND created_at < UTC_TIMESTAMP(3) - INTERVAL ? HOUR",
            (&key.digest()[..], RETENTION_HOURS),
        ),
    )
    .await?;
    Ok(())
}

/// Remembers `key` with the request and the post it created, in the create's
/// transaction; `false` (and nothing written) when the key is taken. A concurrent
/// create with the same key that has not committed yet makes this wait for it.
pub async fn remember(
    tx: &mut Transaction<'_>,
    key: Key,
    fingerprint: Fingerprint,
    post: &Post,
) -> Result<bool, StoreError> {
    let answer = serde_json::to_vec(post)
        .map_err(|err| StoreError::Internal(format!("cannot serialise the post: {err}")))?;
    let inserted = sql(
        "INSERT idempotency_keys",
        tx.exec_drop(
            "INSERT INTO idempotency_keys \
             (key_hash, request_hash, post_id, response, created_at) \
             VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
            (
                &key.digest()[..],
                &fingerprint.digest()[..],
                post.id,
                answer,
            ),
        ),
    )
    .await;
    match inserted {
        Ok(()) => Ok(true),
        Err(mysql_async::Error::Server(err)) if err.code == DUPLICATE_KEY => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// What the taken `key` was used for, compared with this request's `fingerprint`.
pub async fn lookup(
    conn: &mut Conn,
    key: Key,
    fingerprint: Fingerprint,
) -> Result<Remembered, StoreError> {
    let row: Option<(Vec<u8>, Vec<u8>)> = sql(
        "SELECT idempotency_keys",
        conn.exec_first(
            "SELECT request_hash, response FROM idempotency_keys WHERE key_hash = ?",
            (&key.digest()[..],),
        ),
    )
    .await?;
    let Some((request_hash, answer)) = row else {
        // Taken a moment ago, gone now (its create rolled back, or it expired and was
        // purged): a lost race, which running the transaction again settles.
        return Err(StoreError::Deadlock(
            "idempotency key vanished after a duplicate-key error".to_owned(),
        ));
    };
    if request_hash != fingerprint.digest() {
        return Ok(Remembered::OtherRequest);
    }
    let mut post = replayed_post(&answer)?;
    if post.slug.is_empty() {
        // Remembered before posts had slugs: the post's slug now, if it still exists.
        let slug: Option<Option<String>> = sql(
            "SELECT posts",
            conn.exec_first("SELECT slug FROM posts WHERE id = ?", (post.id,)),
        )
        .await?;
        post.slug = slug
            .flatten()
            .unwrap_or_else(|| format!("post-{}", post.id));
    }
    Ok(Remembered::SameRequest(Box::new(post)))
}

/// The post of a stored answer. An answer stored before posts carried their rendering
/// gets it now, and one stored before posts had a status, publication time, tags and
/// slug gets those of a post of that time (published when created, no tags, and an
/// empty slug for [`lookup`] to fill in); only within a day of an upgrade, while such
/// keys live.
fn replayed_post(answer: &[u8]) -> Result<Post, StoreError> {
    let unreadable =
        |err: serde_json::Error| StoreError::Internal(format!("unreadable stored response: {err}"));
    let mut value: serde_json::Value = serde_json::from_slice(answer).map_err(unreadable)?;
    if let Some(fields) = value.as_object_mut() {
        if !fields.contains_key("html") {
            let body = fields
                .get("body")
                .and_then(|b| b.as_str())
                .unwrap_or_default();
            let rendered = post_render::render(body);
            fields.insert("html".into(), rendered.html.into());
            fields.insert("excerpt".into(), rendered.excerpt.into());
            fields.insert(
                "excerpt_truncated".into(),
                rendered.excerpt_truncated.into(),
            );
        }
        if !fields.contains_key("status") {
            let created_at = fields.get("created_at").cloned().unwrap_or_default();
            fields.insert("status".into(), "published".into());
            fields.insert("published_at".into(), created_at);
            fields.insert("author".into(), serde_json::Value::Null);
            fields.insert("tags".into(), serde_json::Value::Array(Vec::new()));
            fields.insert("slug".into(), "".into());
        }
    }
    serde_json::from_value(value).map_err(unreadable)
}
