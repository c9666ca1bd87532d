//! Each post's searchable text in `post_search` (its title, its stored plain text, and
//! the character pairs of its scripts written without spaces), written and deleted in
//! the post's own transaction, so a post is searchable once its write is committed.

use mysql_async::prelude::Queryable;
use mysql_async::Transaction;
use posts_api::search;

use super::error::StoreError;
use super::operation::sql;

/// Writes (or replaces) post `id`'s searchable text, in the post's transaction.
pub async fn write_row(
    tx: &mut Transaction<'_>,
    id: u64,
    title: &str,
    plain_text: &str,
) -> Result<(), StoreError> {
    let grams = search::index_grams(&format!("{title}\n{plain_text}"));
    sql(
        "INSERT post_search",
        tx.exec_drop(
            "INSERT INTO post_search (post_id, title_text, body_text, grams) \
             VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             title_text = VALUES(title_text), body_text = VALUES(body_text), \
             grams = VALUES(grams)",
            (id, title, plain_text, grams),
        ),
    )
    .await?;
    Ok(())
}

/// Deletes post `id`'s searchable text, in the post's transaction.
pub async fn delete_row(tx: &mut Transaction<'_>, id: u64) -> Result<(), StoreError> {
    sql(
        "DELETE post_search",
        tx.exec_drop("DELETE FROM post_search WHERE post_id = ?", (id,)),
    )
    .await?;
    Ok(())
}

/// Writes post `id`'s searchable text unless it has some (a post made before search
/// existed, indexed by the backfill: an edit's newer text is never replaced); answers
/// whether it was written.
pub async fn write_missing_row(
    tx: &mut Transaction<'_>,
    id: u64,
    title: &str,
    plain_text: &str,
) -> Result<bool, StoreError> {
    let grams = search::index_grams(&format!("{title}\n{plain_text}"));
    sql(
        "INSERT post_search",
        tx.exec_drop(
            "INSERT IGNORE INTO post_search (post_id, title_text, body_text, grams) \
             VALUES (?, ?, ?, ?)",
            (id, title, plain_text, grams),
        ),
    )
    .await?;
    Ok(tx.affected_rows() == 1)
}
