//! Rendered pages for readers, kept briefly, so a popular page costs one call to
//! posts-service per second instead of one per view.
//!
//! The cache keeps three promises (tested in `tests/integration/cache.rs`):
//!
//! - **The admin sees their own write on the very next page.** Pages are shared only
//!   between anonymous readers without a flash message; the admin's pages are always
//!   rendered from posts-service, on every replica. A write through this replica also
//!   empties its cache.
//! - **No reader sees an edited or deleted post's old version for longer than the
//!   bound** (`PAGE_CACHE_TTL_MS`, default 1 s): a page is served from the cache only
//!   that long after it was rendered. Concurrent readers of an expired page wait for
//!   one render rather than each calling posts-service.
//! - **An outage serves the last good page rather than an error.** Every rendered page
//!   is also kept as the "last good" copy (for `PAGE_CACHE_STALE_SECS`, default an
//!   hour); when posts-service is unavailable, a reader gets that copy. Only then may a
//!   page be older than the bound. A page never rendered before is the 503 page.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use moka::future::Cache;
use prometheus::{IntCounterVec, Opts, Registry};

use crate::config::CacheSettings;
use crate::error::PageError;
use crate::posts_client::UpstreamError;

/// Which shared page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageKey {
    /// `/` or `/?before=ID`.
    Index {
        /// The `before` parameter.
        before: Option<u64>,
    },
    /// `/posts/{id}`.
    Post {
        /// The post's id.
        id: u64,
    },
}

/// A page as rendered for any anonymous reader.
#[derive(Debug)]
pub struct CachedPage {
    /// The page's status.
    pub status: StatusCode,
    /// The HTML.
    pub html: Bytes,
}

/// Where a served page came from, for the `X-Cache` header and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Rendered now, from posts-service.
    Rendered,
    /// From the cache, within the bound.
    Fresh,
    /// The last good copy, because posts-service is unavailable.
    Stale,
}

impl Served {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Rendered => "miss",
            Served::Fresh => "hit",
            Served::Stale => "stale",
        }
    }
}

/// The cache. Cheap to clone; clones share entries.
#[derive(Clone)]
pub struct PageCache {
    fresh: Cache<PageKey, Arc<CachedPage>>,
    last_good: Cache<PageKey, Arc<CachedPage>>,
    enabled: bool,
    served: IntCounterVec,
}

impl PageCache {
    /// An empty cache whose counters are registered in `registry`.
    pub fn new(settings: CacheSettings, registry: &Registry) -> prometheus::Result<PageCache> {
        let served = IntCounterVec::new(
            Opts::new(
                "page_cache_requests_total",
                "Shared pages served, by where they came from",
            ),
            &["result"],
        )?;
        registry.register(Box::new(served.clone()))?;
        // Each tier gets half the budget, weighed in bytes, so both together stay in it.
        let tier_bytes = (settings.bytes / 2).max(1);
        Ok(PageCache {
            fresh: Cache::builder()
                .max_capacity(tier_bytes)
                .weigher(weight)
                .time_to_live(settings.ttl.max(Duration::from_millis(1)))
                .build(),
            last_good: Cache::builder()
                .max_capacity(tier_bytes)
                .weigher(weight)
                .time_to_live(settings.stale_ttl.max(Duration::from_millis(1)))
                .build(),
            enabled: !settings.ttl.is_zero(),
            served,
        })
    }

    /// The page for `key`: from the cache within the bound, else rendered by `render`
    /// (once, however many readers ask at the same time), else — when posts-service is
    /// unavailable — the last good copy.
    pub async fn get_or_render<F>(
        &self,
        key: PageKey,
        render: F,
    ) -> Result<(Arc<CachedPage>, Served), PageError>
    where
        F: std::future::Future<Output = Result<CachedPage, PageError>>,
    {
        if !self.enabled {
            let page = Arc::new(render.await?);
            return Ok((page, Served::Rendered));
        }
        let mut rendered_here = false;
        let outcome = self
            .fresh
            .try_get_with(key, async {
                rendered_here = true;
                let page = Arc::new(render.await?);
                self.last_good.insert(key, page.clone()).await;
                Ok::<_, PageError>(page)
            })
            .await;
        let result = match outcome {
            Ok(page) if rendered_here => Ok((page, Served::Rendered)),
            Ok(page) => Ok((page, Served::Fresh)),
            Err(shared) => {
                let error = unshare(shared);
                match (&error, self.last_good.get(&key).await) {
                    (PageError::Upstream(_), Some(page)) => {
                        tracing::warn!(
                            ?key,
                            "posts-service unavailable, serving the last good page"
                        );
                        Ok((page, Served::Stale))
                    }
                    _ => Err(error),
                }
            }
        };
        if let Ok((_, served)) = &result {
            self.served.with_label_values(&[served.as_str()]).inc();
        }
        result
    }

    /// Forgets every page: after a write through this replica, readers see it at once.
    pub fn invalidate_all(&self) {
        self.fresh.invalidate_all();
        self.last_good.invalidate_all();
    }
}

/// What a page costs the budget: its HTML, plus the entry's own bookkeeping.
fn weight(_key: &PageKey, page: &Arc<CachedPage>) -> u32 {
    u32::try_from(page.html.len() + 128).unwrap_or(u32::MAX)
}

/// Readers that waited for someone else's failed render share its error; give each an
/// error of its own, keeping what decides the page (not found, or upstream trouble).
fn unshare(error: Arc<PageError>) -> PageError {
    Arc::try_unwrap(error).unwrap_or_else(|shared| match &*shared {
        PageError::NotFound => PageError::NotFound,
        other => PageError::Upstream(UpstreamError::Unavailable {
            operation: "shared page render",
            cause: other.to_string(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(ttl_ms: u64) -> PageCache {
        PageCache::new(
            CacheSettings {
                ttl: Duration::from_millis(ttl_ms),
                stale_ttl: Duration::from_secs(60),
                bytes: 1024 * 1024,
            },
            &Registry::new(),
        )
        .unwrap()
    }

    fn page(text: &'static str) -> CachedPage {
        CachedPage {
            status: StatusCode::OK,
            html: Bytes::from_static(text.as_bytes()),
        }
    }

    fn unavailable() -> PageError {
        PageError::Upstream(UpstreamError::Unavailable {
            operation: "test",
            cause: "down".into(),
        })
    }

    const KEY: PageKey = PageKey::Post { id: 1 };

    #[tokio::test]
    async fn concurrent_readers_share_one_render() {
        let cache = cache(1000);
        let renders = AtomicUsize::new(0);
        let readers = (0..20).map(|_| {
            cache.get_or_render(KEY, async {
                renders.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(page("one"))
            })
        });
        for result in futures_util::future::join_all(readers).await {
            assert_eq!(&result.unwrap().0.html[..], b"one");
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn pages_expire_after_the_bound() {
        let cache = cache(100);
        let (_, served) = cache
            .get_or_render(KEY, async { Ok(page("old")) })
            .await
            .unwrap();
        assert_eq!(served, Served::Rendered);
        let (first, served) = cache
            .get_or_render(KEY, async { Ok(page("new")) })
            .await
            .unwrap();
        assert_eq!((&first.html[..], served), (&b"old"[..], Served::Fresh));
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (later, served) = cache
            .get_or_render(KEY, async { Ok(page("new")) })
            .await
            .unwrap();
        assert_eq!((&later.html[..], served), (&b"new"[..], Served::Rendered));
    }

    #[tokio::test]
    async fn outage_serves_the_last_good_page_but_not_a_missing_one() {
        let cache = cache(50);
        cache
            .get_or_render(KEY, async { Ok(page("good")) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        let (stale, served) = cache
            .get_or_render(KEY, async { Err(unavailable()) })
            .await
            .unwrap();
        assert_eq!((&stale.html[..], served), (&b"good"[..], Served::Stale));
        let other = cache
            .get_or_render(PageKey::Post { id: 2 }, async { Err(unavailable()) })
            .await;
        assert!(matches!(other, Err(PageError::Upstream(_))));
        // A post that is gone is gone, even with an old copy around.
        let gone = cache
            .get_or_render(KEY, async { Err(PageError::NotFound) })
            .await;
        assert!(matches!(gone, Err(PageError::NotFound)));
    }

    #[tokio::test]
    async fn invalidation_forgets_fresh_and_last_good_pages() {
        let cache = cache(10_000);
        cache
            .get_or_render(KEY, async { Ok(page("before")) })
            .await
            .unwrap();
        cache.invalidate_all();
        let result = cache.get_or_render(KEY, async { Err(unavailable()) }).await;
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn zero_ttl_turns_the_cache_off() {
        let cache = cache(0);
        cache
            .get_or_render(KEY, async { Ok(page("a")) })
            .await
            .unwrap();
        let (again, served) = cache
            .get_or_render(KEY, async { Ok(page("b")) })
            .await
            .unwrap();
        assert_eq!((&again.html[..], served), (&b"b"[..], Served::Rendered));
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_byte_budget() {
        let budget = 100 * 1024;
        let cache = PageCache::new(
            CacheSettings {
                ttl: Duration::from_secs(60),
                stale_ttl: Duration::from_secs(60),
                bytes: budget,
            },
            &Registry::new(),
        )
        .unwrap();
        // 200 pages of 10 KB: twenty times the budget.
        for id in 0..200 {
            let render = async {
                Ok(CachedPage {
                    status: StatusCode::OK,
                    html: Bytes::from(vec![b'x'; 10 * 1024]),
                })
            };
            cache
                .get_or_render(PageKey::Post { id }, render)
                .await
                .unwrap();
        }
        cache.fresh.run_pending_tasks().await;
        cache.last_good.run_pending_tasks().await;
        let bytes_of = |tier: &Cache<PageKey, Arc<CachedPage>>| -> u64 {
            tier.iter().map(|(_, page)| page.html.len() as u64).sum()
        };
        let held = bytes_of(&cache.fresh) + bytes_of(&cache.last_good);
        assert!(held <= budget, "{held} bytes held, budget {budget}");
        assert!(cache.fresh.entry_count() > 0, "the cache still caches");
    }
}
