//! The SQL of slugs and tags, run inside a write's transaction.
//!
//! A slug belongs to a post once it is in `post_slugs` (every slug a post has had, its
//! current one included): claiming one is an `INSERT` there, so two writers after one
//! slug cannot both have it (the second waits for the first's row lock, then sees the
//! duplicate), and an earlier slug of a post is never given to another. A made slug
//! that is taken is tried again with `-2`, `-3`, … ([`posts_api::slug::with_suffix`]).
//!
//! A tag is found by its lowercase form (`tags.name_key`) and made when first used,
//! with a slug of its own; a post's tags are `post_tags` rows with their position.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::Transaction;
use posts_api::slug::{slugify_with_prefix, tag_key, with_suffix};

use super::error::StoreError;
use super::operation::sql;

/// ER_DUP_ENTRY.
const DUPLICATE_KEY: u16 = 1062;

/// Suffixed candidates tried before falling back on the post's id.
const SUFFIXES_TRIED: u32 = 50;

/// Another post has, or had, the slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlugTaken;

fn is_duplicate(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(server) if server.code == DUPLICATE_KEY)
}

/// Makes `slug` post `post_id`'s (recorded in `post_slugs`): `Ok(true)` when it is now
/// (or was already) this post's, `Ok(false)` when another post has or had it.
pub async fn claim(tx: &mut Transaction<'_>, slug: &str, post_id: u64) -> Result<bool, StoreError> {
    let inserted = sql(
        "INSERT post_slugs",
        tx.exec_drop(
            "INSERT INTO post_slugs (slug, post_id) VALUES (?, ?)",
            (slug, post_id),
        ),
    )
    .await;
    match inserted {
        Ok(()) => Ok(true),
        Err(err) if is_duplicate(&err) => {
            let owner: Option<u64> = sql(
                "SELECT post_slugs",
                tx.exec_first("SELECT post_id FROM post_slugs WHERE slug = ?", (slug,)),
            )
            .await?;
            match owner {
                Some(owner) => Ok(owner == post_id),
                // Taken a moment ago, gone now (that post was deleted): a lost race,
                // which running the transaction again settles.
                None => Err(StoreError::Deadlock(
                    "a slug vanished after a duplicate-key error".to_owned(),
                )),
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Claims the first free slug made from `title` (`post-{id}` when nothing in it makes
/// one), suffixed `-2`, `-3`, … while taken, and sets it as the post's current slug.
pub async fn assign_from_title(
    tx: &mut Transaction<'_>,
    title: &str,
    post_id: u64,
) -> Result<String, StoreError> {
    let base = slugify_with_prefix(title, "post").unwrap_or_else(|| format!("post-{post_id}"));
    let candidates = std::iter::once(base.clone())
        .chain((2..=SUFFIXES_TRIED).map(|n| with_suffix(&base, n)))
        .chain(std::iter::once(format!("post-{post_id}")))
        .chain(std::iter::once(with_suffix(&format!("post-{post_id}"), 2)));
    for candidate in candidates {
        if claim(tx, &candidate, post_id).await? {
            set_current(tx, &candidate, post_id).await?;
            return Ok(candidate);
        }
    }
    Err(StoreError::Internal(format!(
        "no free slug for post {post_id}"
    )))
}

/// Sets `slug` (claimed already) as the post's current slug.
pub async fn set_current(
    tx: &mut Transaction<'_>,
    slug: &str,
    post_id: u64,
) -> Result<(), StoreError> {
    sql(
        "UPDATE posts",
        tx.exec_drop("UPDATE posts SET slug = ? WHERE id = ?", (slug, post_id)),
    )
    .await?;
    Ok(())
}

/// Replaces the post's tags with `tags` (normalised already), in that order, making
/// the tags not used before.
pub async fn set_tags(
    tx: &mut Transaction<'_>,
    post_id: u64,
    tags: &[String],
) -> Result<(), StoreError> {
    sql(
        "DELETE post_tags",
        tx.exec_drop("DELETE FROM post_tags WHERE post_id = ?", (post_id,)),
    )
    .await?;
    for (position, tag) in tags.iter().enumerate() {
        let tag_id = tag_id(tx, tag).await?;
        sql(
            "INSERT post_tags",
            tx.exec_drop(
                "INSERT INTO post_tags (post_id, tag_id, position) VALUES (?, ?, ?)",
                (post_id, tag_id, position as u32),
            ),
        )
        .await?;
    }
    Ok(())
}

/// The id of the tag `name` (whatever its case), made now if it is new.
async fn tag_id(tx: &mut Transaction<'_>, name: &str) -> Result<u64, StoreError> {
    let key = tag_key(name);
    let find = "SELECT id FROM tags WHERE name_key = ?";
    if let Some(id) = sql("SELECT tags", tx.exec_first(find, (&key,))).await? {
        return Ok(id);
    }
    let inserted = sql(
        "INSERT tags",
        tx.exec_drop(
            "INSERT INTO tags (name, name_key, slug) VALUES (?, ?, NULL)",
            (name, &key),
        ),
    )
    .await;
    match inserted {
        Ok(()) => {}
        // Made by a concurrent write a moment ago: use it.
        Err(err) if is_duplicate(&err) => {
            return sql("SELECT tags", tx.exec_first(find, (&key,)))
                .await?
                .ok_or_else(|| StoreError::Deadlock("a new tag vanished".to_owned()));
        }
        Err(err) => return Err(err.into()),
    }
    let id = tx
        .last_insert_id()
        .ok_or_else(|| StoreError::Internal("INSERT tags gave no id".to_owned()))?;
    let base = slugify_with_prefix(name, "tag").unwrap_or_else(|| format!("tag-{id}"));
    let candidates = std::iter::once(base.clone())
        .chain((2..=SUFFIXES_TRIED).map(|n| with_suffix(&base, n)))
        .chain(std::iter::once(with_suffix(
            &base,
            u32::try_from(id).unwrap_or(u32::MAX),
        )));
    for candidate in candidates {
        let updated = sql(
            "UPDATE tags",
            tx.exec_drop("UPDATE tags SET slug = ? WHERE id = ?", (&candidate, id)),
        )
        .await;
        match updated {
            Ok(()) => return Ok(id),
            Err(err) if is_duplicate(&err) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(StoreError::Internal(format!("no free slug for tag {id}")))
}

/// A post's tags: their names and slugs, in the post's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostTags {
    /// Each tag's name, spelled as first used.
    pub names: Vec<String>,
    /// Each tag's slug.
    pub slugs: Vec<String>,
}

/// The tags of each of `post_ids`, in their order, in one query.
pub async fn tags_of<Q: Queryable>(
    conn: &mut Q,
    post_ids: &[u64],
) -> Result<HashMap<u64, PostTags>, StoreError> {
    let mut tags: HashMap<u64, PostTags> = HashMap::new();
    if post_ids.is_empty() {
        return Ok(tags);
    }
    let placeholders = vec!["?"; post_ids.len()].join(", ");
    // A tag gets its slug in the transaction that makes it: a NULL is never committed.
    let rows: Vec<(u64, String, String)> = sql(
        "SELECT post_tags",
        conn.exec(
            format!(
                "SELECT pt.post_id, t.name, COALESCE(t.slug, CONCAT('tag-', t.id)) \
                 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id \
                 WHERE pt.post_id IN ({placeholders}) ORDER BY pt.post_id, pt.position"
            ),
            post_ids.to_vec(),
        ),
    )
    .await?;
    for (post_id, name, slug) in rows {
        let post = tags.entry(post_id).or_default();
        post.names.push(name);
        post.slugs.push(slug);
    }
    Ok(tags)
}

/// The tag whose slug is `slug`: its id and name, or `None`.
pub async fn tag_by_slug<Q: Queryable>(
    conn: &mut Q,
    slug: &str,
) -> Result<Option<(u64, String)>, StoreError> {
    sql(
        "SELECT tags",
        conn.exec_first("SELECT id, name FROM tags WHERE slug = ?", (slug,)),
    )
    .await
    .map_err(StoreError::from)
}
