//! The backfill: posts made before slugs and publication times existed, or written by
//! an older release during a rolling upgrade, have no slug; each is given the slug made
//! from its title and, when published, its creation time as its publication time
//! ([`crate::db::backfill`]), a batch at a time, at the re-render's rate
//! (`RERENDER_ROWS_PER_SECOND`, `RERENDER_BATCH_ROWS`), each post in a short
//! transaction of its own.
//!
//! Until its turn comes, a post is read as published when it was created and served
//! with the slug `post-{id}`, which also finds it ([`crate::db::posts`]). A walk over
//! every post starts once the database has started, and again whenever a read has met
//! a post without a slug since the last one began. Failures pause it, and it resumes
//! where it was. Every replica walks; a post is filled only while its slug is NULL, so
//! two replicas never fill one post twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, Registry};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::db::{Database, PostStore, StoreError};
use crate::rerender::RerenderSettings;

/// Ids one scan looks through: a bounded range scan of the primary key.
const WINDOW_IDS: u64 = 2_000;

/// Pause after a failed step before trying it again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// `posts_backfilled_total`: posts the backfill gave a slug;
/// `posts_backfill_walks_total`: walks it finished;
/// `posts_search_indexed_total`: posts it gave their searchable text.
#[derive(Clone)]
pub struct BackfillMetrics {
    filled: IntCounter,
    walks: IntCounter,
    indexed: IntCounter,
}

impl BackfillMetrics {
    /// Registers the counters in `registry`.
    pub fn register(registry: &Registry) -> Result<BackfillMetrics, prometheus::Error> {
        let filled = IntCounter::new(
            "posts_backfilled_total",
            "Posts made before slugs existed that the backfill gave a slug and publication time",
        )?;
        registry.register(Box::new(filled.clone()))?;
        let walks = IntCounter::new(
            "posts_backfill_walks_total",
            "Walks over every post that the backfill finished",
        )?;
        registry.register(Box::new(walks.clone()))?;
        let indexed = IntCounter::new(
            "posts_search_indexed_total",
            "Posts made before search existed that the backfill gave their searchable text",
        )?;
        registry.register(Box::new(indexed.clone()))?;
        Ok(BackfillMetrics {
            filled,
            walks,
            indexed,
        })
    }
}

/// Walks once `database` has started, then again each time a read meets a post
/// without a slug. Runs until aborted.
pub fn spawn(
    database: Database,
    store: PostStore,
    settings: RerenderSettings,
    metrics: BackfillMetrics,
) -> JoinHandle<()> {
    let unfilled_seen: Arc<Notify> = store.unfilled_seen();
    tokio::spawn(async move {
        database.started().await;
        loop {
            run(&store, settings, &metrics).await;
            index_for_search(&store, settings, &metrics).await;
            unfilled_seen.notified().await;
        }
    })
}

/// Walks every post once, filling those without a slug; answers how many it filled.
pub async fn run(store: &PostStore, settings: RerenderSettings, metrics: &BackfillMetrics) -> u64 {
    let started = Instant::now();
    let batch_rows = settings.batch_rows.max(1);
    let seconds_per_row = 1.0 / f64::from(settings.rows_per_second.max(1));
    let last_id = retrying(|| store.max_id(), "read the highest post id").await;
    let mut filled = 0;
    let mut after = 0;
    while after < last_id {
        let through = last_id.min(after + WINDOW_IDS);
        let batch = retrying(
            || store.unfilled_in(after, through, batch_rows),
            "read posts without a slug",
        )
        .await;
        let Some(last) = batch.last().map(|post| post.id) else {
            after = through;
            continue;
        };
        if filled == 0 {
            tracing::info!("giving slugs and publication times to posts made before them");
        }
        let next = if batch.len() as u32 == batch_rows {
            last
        } else {
            through
        };
        let batch_started = Instant::now();
        for post in &batch {
            if retrying(|| store.fill(post), "fill a post").await {
                filled += 1;
                metrics.filled.inc();
            }
        }
        after = next;
        let share = Duration::from_secs_f64(batch.len() as f64 * seconds_per_row);
        tokio::time::sleep(share.saturating_sub(batch_started.elapsed())).await;
    }
    metrics.walks.inc();
    if filled > 0 {
        tracing::info!(
            filled,
            seconds = started.elapsed().as_secs_f64(),
            "backfill finished"
        );
    }
    filled
}

/// Walks every post once, giving those made before search existed their searchable
/// text, at the same pace as [`run`]; answers how many it gave.
pub async fn index_for_search(
    store: &PostStore,
    settings: RerenderSettings,
    metrics: &BackfillMetrics,
) -> u64 {
    let started = Instant::now();
    let batch_rows = settings.batch_rows.max(1);
    let seconds_per_row = 1.0 / f64::from(settings.rows_per_second.max(1));
    let last_id = retrying(|| store.max_id(), "read the highest post id").await;
    let mut indexed = 0;
    let mut after = 0;
    while after < last_id {
        let through = last_id.min(after + WINDOW_IDS);
        let batch = retrying(
            || store.unindexed_in(after, through, batch_rows),
            "read posts without searchable text",
        )
        .await;
        let Some(&last) = batch.last() else {
            after = through;
            continue;
        };
        let batch_started = Instant::now();
        let written = retrying(|| store.index_for_search(&batch), "index posts for search").await;
        indexed += written;
        metrics.indexed.inc_by(written);
        after = if batch.len() as u32 == batch_rows {
            last
        } else {
            through
        };
        let share = Duration::from_secs_f64(batch.len() as f64 * seconds_per_row);
        tokio::time::sleep(share.saturating_sub(batch_started.elapsed())).await;
    }
    if indexed > 0 {
        tracing::info!(
            indexed,
            seconds = started.elapsed().as_secs_f64(),
            "search index backfill finished"
        );
    }
    indexed
}

/// `step`'s result, trying again after a pause for as long as it fails.
async fn retrying<T, F, Fut>(mut step: F, what: &str) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    loop {
        match step().await {
            Ok(value) => return value,
            Err(err) => {
                tracing::warn!(error = %err, "backfill paused: cannot {what}");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}
