//! The background re-render: posts whose stored rendering is not for their body
//! (written before rendering was stored, or changed by an older release) or was made by
//! older rules than this binary's ([`post_render::VERSION`]) are rendered again and
//! stored, a batch at a time, at a bounded rate, without ever making a reader wait.
//! Until a post's turn comes, readers get its stored rendering, or, when none is for
//! its body, one made as it is read ([`crate::db::posts`]).
//!
//! A walk goes over every post once, in id order, in windows of ids. One starts once
//! the database has started, and again whenever a read has met a post without a
//! rendering for its body since the last one began. Failures (the database away, a
//! timeout) pause it, and it resumes where it was. Every replica walks, each at its own
//! `RERENDER_ROWS_PER_SECOND`; the updates are conditional, so two replicas at work
//! together only repeat each other's rendering, never undo it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, Registry};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::db::rerender::Unrendered;
use crate::db::{Database, PostStore, StoreError};

/// How fast and in what steps to re-render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RerenderSettings {
    /// Most posts re-rendered a second (`RERENDER_ROWS_PER_SECOND`).
    pub rows_per_second: u32,
    /// Posts read, rendered and stored together (`RERENDER_BATCH_ROWS`).
    pub batch_rows: u32,
}

/// Ids one scan looks through: a bounded range scan of the primary key.
const WINDOW_IDS: u64 = 2_000;

/// Pause after a failed step before trying it again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What one walk did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walk {
    /// Posts whose new rendering was stored.
    pub stored: u64,
    /// Batches written.
    pub batches: u64,
    /// The longest time storing one batch took.
    pub longest_batch: Duration,
}

/// `posts_rerendered_total`: posts whose rendering the background re-render stored;
/// `posts_rerender_walks_total`: walks it finished.
#[derive(Clone)]
pub struct RerenderMetrics {
    stored: IntCounter,
    walks: IntCounter,
}

impl RerenderMetrics {
    /// Registers the counter in `registry`.
    pub fn register(registry: &Registry) -> Result<RerenderMetrics, prometheus::Error> {
        let stored = IntCounter::new(
            "posts_rerendered_total",
            "Posts whose stored rendering the background re-render replaced",
        )?;
        registry.register(Box::new(stored.clone()))?;
        let walks = IntCounter::new(
            "posts_rerender_walks_total",
            "Walks over every post that the background re-render finished",
        )?;
        registry.register(Box::new(walks.clone()))?;
        Ok(RerenderMetrics { stored, walks })
    }
}

/// Walks once `database` has started, then again each time a read meets a post
/// without a rendering for its body. Runs until aborted.
pub fn spawn(
    database: Database,
    store: PostStore,
    settings: RerenderSettings,
    metrics: RerenderMetrics,
) -> JoinHandle<()> {
    let stale_seen: Arc<Notify> = store.stale_seen();
    tokio::spawn(async move {
        database.started().await;
        loop {
            run(&store, settings, &metrics).await;
            stale_seen.notified().await;
        }
    })
}

/// Walks every post once, re-rendering those that need it.
pub async fn run(store: &PostStore, settings: RerenderSettings, metrics: &RerenderMetrics) -> Walk {
    let started = Instant::now();
    let batch_rows = settings.batch_rows.max(1);
    let seconds_per_row = 1.0 / f64::from(settings.rows_per_second.max(1));
    let mut walk = Walk::default();
    let last_id = retrying(|| store.max_id(), "read the highest post id").await;
    let mut after = 0;
    let mut logged_start = false;
    while after < last_id {
        let through = last_id.min(after + WINDOW_IDS);
        let batch = retrying(
            || store.unrendered_in(after, through, batch_rows),
            "read posts to render",
        )
        .await;
        let Some(last) = batch.last().map(|post| post.id) else {
            after = through;
            continue;
        };
        if !logged_start {
            tracing::info!(
                renderer_version = post_render::VERSION,
                "re-rendering posts whose stored rendering is not current"
            );
            logged_start = true;
        }
        // A full batch may have left posts in this window; else the window is done.
        let next = if batch.len() as u32 == batch_rows {
            last
        } else {
            through
        };
        let batch_started = Instant::now();
        let rows = batch.len();
        let Some(renderings) = render_batch(batch).await else {
            tracing::warn!(after, "re-render paused: rendering a batch failed");
            tokio::time::sleep(RETRY_AFTER).await;
            continue;
        };
        let writing = Instant::now();
        for (post, rendered) in &renderings {
            let stored = retrying(
                || store.store_rendering(post, rendered),
                "store a rendering",
            )
            .await;
            if stored {
                walk.stored += 1;
                metrics.stored.inc();
            }
        }
        walk.longest_batch = walk.longest_batch.max(writing.elapsed());
        walk.batches += 1;
        after = next;
        // Keep to the rate: this batch's share of a second, less what it took.
        let share = Duration::from_secs_f64(rows as f64 * seconds_per_row);
        tokio::time::sleep(share.saturating_sub(batch_started.elapsed())).await;
    }
    metrics.walks.inc();
    if logged_start {
        tracing::info!(
            stored = walk.stored,
            batches = walk.batches,
            seconds = started.elapsed().as_secs_f64(),
            longest_batch_ms = walk.longest_batch.as_secs_f64() * 1000.0,
            "re-render finished"
        );
    }
    walk
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
                tracing::warn!(error = %err, "re-render paused: cannot {what}");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// Renders a batch on the blocking pool: it is CPU work, and must not hold up requests.
/// `None` when the rendering did not finish (the runtime is shutting down).
async fn render_batch(batch: Vec<Unrendered>) -> Option<Vec<(Unrendered, post_render::Rendered)>> {
    tokio::task::spawn_blocking(move || {
        batch
            .into_iter()
            .map(|post| {
                let rendered = post_render::render(&post.body);
                (post, rendered)
            })
            .collect()
    })
    .await
    .ok()
}
