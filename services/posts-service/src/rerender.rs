//! The background re-render: when the stored rendering of some posts is older than this
//! binary's rules ([`post_render::VERSION`]), because they were written before rendering
//! was stored, by an older release, or the rules changed, render them again and store
//! the result, a batch at a time, at a bounded rate, without ever making a reader wait.
//! Until a post's turn comes, readers get its stored rendering (or, for a post that has
//! none, one made when it is read).
//!
//! It starts once the database has started, walks the table once in id order, and
//! ends. Failures (the database away, a timeout) pause it and it resumes from where it
//! was. Every replica walks; the updates are conditional, so two replicas at work
//! together only repeat each other's rendering, never undo it.

use std::time::{Duration, Instant};

use prometheus::{IntCounter, Registry};
use tokio::task::JoinHandle;

use crate::db::rerender::Unrendered;
use crate::db::{Database, PostStore};

/// How fast and in what steps to re-render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RerenderSettings {
    /// Most posts re-rendered a second (`RERENDER_ROWS_PER_SECOND`).
    pub rows_per_second: u32,
    /// Posts read, rendered and stored together (`RERENDER_BATCH_ROWS`).
    pub batch_rows: u32,
}

/// Pause after a failed batch before trying it again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// What one walk did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walk {
    /// Posts whose new rendering was stored.
    pub stored: u64,
    /// Batches written.
    pub batches: u64,
    /// The longest time one batch's transaction took.
    pub longest_batch: Duration,
}

/// `posts_rerendered_total`: posts whose rendering the background re-render stored.
#[derive(Clone)]
pub struct RerenderMetrics {
    stored: IntCounter,
}

impl RerenderMetrics {
    /// Registers the counter in `registry`.
    pub fn register(registry: &Registry) -> Result<RerenderMetrics, prometheus::Error> {
        let stored = IntCounter::new(
            "posts_rerendered_total",
            "Posts whose stored rendering the background re-render replaced",
        )?;
        registry.register(Box::new(stored.clone()))?;
        Ok(RerenderMetrics { stored })
    }
}

/// Starts the walk in the background, once `database` has started.
pub fn spawn(
    database: Database,
    store: PostStore,
    settings: RerenderSettings,
    metrics: RerenderMetrics,
) -> JoinHandle<Walk> {
    tokio::spawn(async move {
        database.started().await;
        run(&store, settings, &metrics).await
    })
}

/// Walks every post once, re-rendering those rendered by older rules.
pub async fn run(store: &PostStore, settings: RerenderSettings, metrics: &RerenderMetrics) -> Walk {
    let started = Instant::now();
    let mut walk = Walk::default();
    let mut after = 0;
    let rate = f64::from(settings.rows_per_second.max(1));
    let mut walked: u64 = 0;
    let mut logged_start = false;
    loop {
        let batch = match store
            .unrendered_after(after, settings.batch_rows.max(1))
            .await
        {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(error = %err, after, "re-render paused: cannot read posts");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let Some(last) = batch.last().map(|post| post.id) else {
            break;
        };
        if !logged_start {
            tracing::info!(
                renderer_version = post_render::VERSION,
                "re-rendering posts rendered by older rules"
            );
            logged_start = true;
        }
        walked += batch.len() as u64;
        let renderings = render_batch(batch).await;
        let writing = Instant::now();
        match store.store_renderings(renderings).await {
            Ok(stored) => {
                walk.longest_batch = walk.longest_batch.max(writing.elapsed());
                walk.stored += stored;
                walk.batches += 1;
                metrics.stored.inc_by(stored);
                after = last;
            }
            Err(err) => {
                tracing::warn!(error = %err, after, "re-render paused: cannot store a batch");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        }
        // Keep to the rate: the walk so far may not have taken less than its share.
        let due = started + Duration::from_secs_f64(walked as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
    }
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

/// Renders a batch on the blocking pool: it is CPU work, and must not hold up requests.
async fn render_batch(batch: Vec<Unrendered>) -> Vec<(Unrendered, post_render::Rendered)> {
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
    .unwrap_or_default()
}
