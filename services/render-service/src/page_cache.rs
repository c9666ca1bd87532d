//! Rendered pages (and the feed) for readers, kept briefly, so a popular page costs one
//! call to posts-service per second instead of one per view.
//!
//! The cache keeps these promises (tested here and in `tests/integration/cache.rs`):
//!
//! - **The admin sees their own write on the very next page.** Pages are shared only
//!   between anonymous readers without a (genuine) flash message; the admin's pages are
//!   always rendered from posts-service, on every replica. A write through this replica
//!   also empties its cache.
//! - **No reader sees an edited or deleted post's old version for longer than the
//!   bound** (`PAGE_CACHE_TTL_MS`, default 1 s) while posts-service answers: a page is
//!   served from the cache only that long after it was rendered. Concurrent readers of
//!   an expired page wait for one render rather than each calling posts-service.
//! - **Unknown ids and slugs are remembered as 404** for the same bound, so a flood of
//!   `/posts/<random>` or of one unknown id does not reach posts-service once per
//!   request; so are the redirects of `/posts/{id}` and of earlier slugs. A slug is
//!   checked (at most 96 characters) before it becomes a key. After a slug change, the
//!   old address serves the old page for at most the bound, then redirects. Unknown
//!   tags (`/tags/{slug}`, its feed) are remembered as 404 the same way.
//! - **It is bounded in bytes** (`PAGE_CACHE_BYTES`, half for fresh pages and 404s, half
//!   for last good copies), whatever the number of keys a client makes up. A search's
//!   key holds its query (at most 1,000 characters), weighed with the page.
//! - **Search results are fresh or not served.** A search page (`/search?q=…`) is
//!   shared for the bound like any page, but never kept as a last good copy: when
//!   posts-service cannot search, the reader is told so rather than shown old results.
//! - **An outage or a slow posts-service serves the last good page rather than an
//!   error.** Every rendered page is also kept as the "last good" copy (for
//!   `PAGE_CACHE_STALE_SECS`, default an hour). When posts-service is unavailable or has
//!   not answered within `PAGE_CACHE_STALE_AFTER_MS` (the stale budget), a reader gets
//!   that copy (`X-Cache: stale`); the slow render goes on in the background and
//!   refreshes the cache when it ends. A page never rendered before is the 503 page.
//!   When posts-service says a post is gone (404), its last good copy is dropped: a
//!   deleted post never comes back from it.
//! - **A reader with a last good copy never waits longer than the stale budget in
//!   all.** The budget runs from when the render began, not from when the reader came:
//!   a reader who joins a render already in flight waits only for what is left of it,
//!   and once a render has run past it, its waiters and every new reader get the copy
//!   at once. The circuit breaker counts that render's call as a failure as it crosses
//!   the budget (see [`crate::circuit`]), and while posts-service is failing as far as
//!   the breaker knows (circuit not closed, or the last call failed), readers with a
//!   copy do not wait at all. So when posts-service freezes, only the readers who came
//!   before the first call crossed the budget wait for it (none longer than the
//!   budget); every reader after them gets the copy at once.
//!
//! Each page carries its validators: a strong `ETag` (a hash of its bytes, XXH3-128) and a
//! `Last-Modified` that moves only when those bytes change, so readers can revalidate
//! with a conditional `GET` and get a `304`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use moka::future::Cache;
use prometheus::{IntCounterVec, Opts, Registry};
use service_runtime::traces;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;
use twox_hash::XxHash3_128;

use crate::circuit::CircuitBreaker;
use crate::config::CacheSettings;
use crate::error::PageError;
use crate::posts_client::UpstreamError;
use crate::slug::Slug;

/// Which shared page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PageKey {
    /// `/` or `/?before=ID`.
    Index {
        /// The `before` parameter.
        before: Option<u64>,
    },
    /// `/posts/{id}`: a redirect to the post's slug (or a remembered 404).
    Post {
        /// The post's id.
        id: u64,
    },
    /// `/posts/{slug}`: the post page, or a redirect from an earlier slug. A slug is
    /// checked and at most 96 bytes before it becomes a key, so keys stay small.
    Slug {
        /// The slug asked for.
        slug: Slug,
    },
    /// `/feed.xml`.
    Feed,
    /// `/sitemap.xml`.
    Sitemap,
    /// `/sitemaps/posts-{after}.xml`: the visible posts with ids above `after`.
    SitemapPosts {
        /// Where the page starts.
        after: u64,
    },
    /// `/sitemaps/tags.xml`.
    SitemapTags,
    /// `/tags/{slug}` or `/tags/{slug}?before=ID`: one tag's posts (or a remembered
    /// 404 for a tag that does not exist). The slug is checked like a post's first.
    Tag {
        /// The tag's slug.
        slug: Slug,
        /// The `before` parameter.
        before: Option<u64>,
    },
    /// `/tags/{slug}/feed.xml`.
    TagFeed {
        /// The tag's slug.
        slug: Slug,
    },
    /// `/search?q=…&page=N`: one page of search results. Never kept as a last good copy.
    Search {
        /// The query as read ([`posts_api::search::normalize`]): at most 1,000
        /// characters, so at most 4,000 bytes.
        query: Arc<str>,
        /// The page, from 1.
        page: u32,
    },
}

impl PageKey {
    /// Whether the page is kept as a last good copy, to serve while posts-service
    /// cannot answer: every page but search results.
    fn keeps_last_good(&self) -> bool {
        !matches!(self, PageKey::Search { .. })
    }

    /// The bytes the key holds outside itself (a search's query).
    fn held_bytes(&self) -> usize {
        match self {
            PageKey::Search { query, .. } => query.len(),
            _ => 0,
        }
    }
}

/// A page as rendered for any anonymous reader, with its validators.
#[derive(Debug)]
pub struct CachedPage {
    /// The page's status.
    pub status: StatusCode,
    /// The HTML (or XML, for the feed).
    pub html: Bytes,
    /// A strong entity tag of `html`, quoted: `"…"`.
    pub etag: String,
    /// When these bytes were first rendered by this process (whole seconds).
    pub last_modified: SystemTime,
    rendered: Instant,
}

impl CachedPage {
    /// A freshly rendered page.
    pub fn new(status: StatusCode, html: impl Into<Bytes>) -> CachedPage {
        let html = html.into();
        // XXH3-128: the same bytes give the same tag in every replica, and it costs a
        // small fraction of a cryptographic hash (nobody but the admin writes what a page
        // shows, so nobody gains from crafting two pages with one tag).
        let digest = XxHash3_128::oneshot(&html).to_be_bytes();
        let etag = format!("\"{}\"", hex(&digest[..12]));
        CachedPage {
            status,
            html,
            etag,
            last_modified: whole_seconds(SystemTime::now()),
            rendered: Instant::now(),
        }
    }

    /// A `301` to `location` (a local path), shared like a page: `/posts/{id}` and
    /// earlier slugs lead to the post's current slug.
    pub fn moved(location: &str) -> CachedPage {
        CachedPage::new(
            StatusCode::MOVED_PERMANENTLY,
            Bytes::copy_from_slice(location.as_bytes()),
        )
    }

    /// Where a [`CachedPage::moved`] leads; `None` for a page.
    pub fn moved_to(&self) -> Option<&str> {
        (self.status == StatusCode::MOVED_PERMANENTLY)
            .then(|| std::str::from_utf8(&self.html).ok())
            .flatten()
    }

    /// What stands for "posts-service says there is no such post".
    fn not_found() -> CachedPage {
        CachedPage::new(StatusCode::NOT_FOUND, Bytes::new())
    }

    /// How long ago it was rendered (the `Age` of a stale copy).
    pub fn age(&self) -> Duration {
        self.rendered.elapsed()
    }
}

/// Where a served page came from, for the `X-Cache` header and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Rendered now, from posts-service.
    Rendered,
    /// From the cache, within the bound.
    Fresh,
    /// The last good copy, because posts-service is unavailable or slow.
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
    stale_after: Duration,
    circuit: Option<Arc<CircuitBreaker>>,
    served: IntCounterVec,
    flights: Arc<Flights>,
}

/// The renders in flight, one per page at most.
#[derive(Default)]
struct Flights {
    by_key: Mutex<HashMap<PageKey, Flight>>,
    next_id: AtomicU64,
}

/// A render in flight: when it began (its stale budget runs from then) and where the
/// readers who joined it will find how it ended.
struct Flight {
    id: u64,
    started: tokio::time::Instant,
    landed: watch::Receiver<Option<Landed>>,
}

/// How a render ended, for the readers who joined it: the page (a remembered 404
/// included), or why there is none.
type Landed = Result<Arc<CachedPage>, Arc<str>>;

/// A reader's part in a render: the one who started it holds its task (and gets its
/// own error, if any); the others wait for it to land.
enum Boarding {
    Started {
        started: tokio::time::Instant,
        task: JoinHandle<Result<Arc<CachedPage>, PageError>>,
    },
    Joined {
        started: tokio::time::Instant,
        landed: watch::Receiver<Option<Landed>>,
    },
}

impl Boarding {
    /// When the render began: its stale budget runs from then.
    fn started(&self) -> tokio::time::Instant {
        match self {
            Boarding::Started { started, .. } | Boarding::Joined { started, .. } => *started,
        }
    }
}

/// Takes a render's flight off the board when its task ends, however it ends (a panic
/// included), so that the next reader starts a new render.
struct Landing {
    flights: Arc<Flights>,
    key: PageKey,
    id: u64,
}

impl Drop for Landing {
    fn drop(&mut self) {
        let mut by_key = self.flights.lock();
        if by_key
            .get(&self.key)
            .is_some_and(|flight| flight.id == self.id)
        {
            by_key.remove(&self.key);
        }
    }
}

impl Flights {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PageKey, Flight>> {
        // The map is valid after any panic (every update is one insert or remove).
        self.by_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
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
            stale_after: settings.stale_after,
            circuit: None,
            served,
            flights: Arc::default(),
        })
    }

    /// The cache, serving last good copies without waiting at all while `circuit` says
    /// posts-service is failing (not closed, or its last call failed): then a render is
    /// likely to fail or to run past the budget, and the one trial call the breaker
    /// lets through must not delay a reader either.
    pub fn watching(self, circuit: Arc<CircuitBreaker>) -> PageCache {
        PageCache {
            circuit: Some(circuit),
            ..self
        }
    }

    /// How long a reader with a last good copy may wait for a render, counted from
    /// when the render began.
    fn stale_budget(&self) -> Duration {
        match &self.circuit {
            Some(circuit) if circuit.failing() => Duration::ZERO,
            _ => self.stale_after,
        }
    }

    /// The page for `key`: from the cache within the bound, else rendered by `render`
    /// (once, however many readers ask at the same time), else — when posts-service is
    /// unavailable, or the render has run for `PAGE_CACHE_STALE_AFTER_MS` — the last
    /// good copy. An unknown post (`PageError::NotFound` from `render`) is remembered as
    /// such.
    ///
    /// `render` runs in a task of its own, so that a reader who got the stale copy
    /// does not cancel it: its result refreshes the cache for the next reader. When a
    /// render of `key` is already in flight, `render` is dropped unused and the reader
    /// waits for that one.
    pub async fn get_or_render<F>(
        &self,
        key: PageKey,
        render: F,
    ) -> Result<(Arc<CachedPage>, Served), PageError>
    where
        F: Future<Output = Result<CachedPage, PageError>> + Send + 'static,
    {
        if !self.enabled {
            let page = Arc::new(render.await?);
            return Ok((page, Served::Rendered));
        }
        let (page, served) = self.lookup(key, render).await?;
        self.served.with_label_values(&[served.as_str()]).inc();
        traces::attribute("page_cache.result", served.as_str());
        if page.status == StatusCode::NOT_FOUND {
            return Err(PageError::NotFound);
        }
        Ok((page, served))
    }

    async fn lookup<F>(
        &self,
        key: PageKey,
        render: F,
    ) -> Result<(Arc<CachedPage>, Served), PageError>
    where
        F: Future<Output = Result<CachedPage, PageError>> + Send + 'static,
    {
        let mut render = Some(render);
        loop {
            if let Some(page) = self.fresh.get(&key).await {
                return Ok((page, Served::Fresh));
            }
            let last_good = if key.keeps_last_good() {
                self.last_good.get(&key).await
            } else {
                None
            };
            // `None`: a render landed since the lookup above; its page is fresh now.
            if let Some(boarding) = self.board(&key, &mut render) {
                return self.wait(&key, boarding, last_good).await;
            }
        }
    }

    /// Joins the render of `key` in flight, or starts one with `render`; `None` when
    /// neither is needed any more because a render has just landed a fresh page.
    fn board<F>(&self, key: &PageKey, render: &mut Option<F>) -> Option<Boarding>
    where
        F: Future<Output = Result<CachedPage, PageError>> + Send + 'static,
    {
        let mut by_key = self.flights.lock();
        if let Some(flight) = by_key.get(key) {
            return Some(Boarding::Joined {
                started: flight.started,
                landed: flight.landed.clone(),
            });
        }
        // A render puts its page in the cache before it leaves the board.
        if self.fresh.contains_key(key) {
            return None;
        }
        let render = render.take()?;
        let id = self.flights.next_id.fetch_add(1, Ordering::Relaxed);
        let started = tokio::time::Instant::now();
        let (land, landed) = watch::channel(None);
        by_key.insert(
            key.clone(),
            Flight {
                id,
                started,
                landed,
            },
        );
        let landing = Landing {
            flights: self.flights.clone(),
            key: key.clone(),
            id,
        };
        let key = key.clone();
        let cache = self.clone();
        let task = tokio::spawn(
            async move {
                let outcome = cache.render_and_keep(key, render).await;
                drop(landing);
                let shared = match &outcome {
                    Ok(page) => Ok(page.clone()),
                    Err(error) => Err(Arc::from(error.to_string())),
                };
                land.send_replace(Some(shared));
                outcome
            }
            .in_current_span(),
        );
        Some(Boarding::Started { started, task })
    }

    /// Waits for the render the reader boarded: with a last good copy, only until the
    /// render's stale budget is spent (at once when it already is), then that copy.
    async fn wait(
        &self,
        key: &PageKey,
        boarding: Boarding,
        last_good: Option<Arc<CachedPage>>,
    ) -> Result<(Arc<CachedPage>, Served), PageError> {
        let started = boarding.started();
        let outcome = async move {
            match boarding {
                Boarding::Started { task, .. } => {
                    let page = task.await.unwrap_or_else(|err| {
                        Err(PageError::Internal(format!("page render failed: {err}")))
                    })?;
                    Ok((page, Served::Rendered))
                }
                Boarding::Joined { mut landed, .. } => {
                    let landed = match landed.wait_for(Option::is_some).await {
                        Ok(landed) => landed.clone(),
                        Err(_) => None,
                    };
                    match landed {
                        Some(Ok(page)) => Ok((page, Served::Fresh)),
                        Some(Err(cause)) => Err(shared_failure(&cause)),
                        None => Err(PageError::Internal(
                            "page render failed: it ended without a page".to_owned(),
                        )),
                    }
                }
            }
        };
        let outcome = match &last_good {
            Some(page) => {
                let deadline = started + self.stale_budget();
                match tokio::time::timeout_at(deadline, outcome).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        tracing::debug!(
                            ?key,
                            "no render within the stale budget: serving the last good page, the render goes on"
                        );
                        return Ok((page.clone(), Served::Stale));
                    }
                }
            }
            None => outcome.await,
        };
        match (outcome, last_good) {
            (Err(PageError::Upstream(_)), Some(page)) => {
                tracing::debug!(
                    ?key,
                    "posts-service unavailable: serving the last good page"
                );
                Ok((page, Served::Stale))
            }
            (outcome, _) => outcome,
        }
    }

    /// Renders `key` and keeps the result: fresh and last good (for the keys that keep
    /// one), or remembered as not found (a 404 page) with its last good copy dropped.
    async fn render_and_keep<F>(
        &self,
        key: PageKey,
        render: F,
    ) -> Result<Arc<CachedPage>, PageError>
    where
        F: Future<Output = Result<CachedPage, PageError>>,
    {
        let page = match render.await {
            Ok(page) => {
                let page = Arc::new(self.keep_last_modified(&key, page).await);
                if key.keeps_last_good() {
                    self.last_good.insert(key.clone(), page.clone()).await;
                }
                page
            }
            // Gone: remembered as such, and never served from an old copy.
            Err(PageError::NotFound) => {
                self.last_good.invalidate(&key).await;
                Arc::new(CachedPage::not_found())
            }
            Err(error) => return Err(error),
        };
        self.fresh.insert(key, page.clone()).await;
        Ok(page)
    }

    /// `page`, with the `Last-Modified` of the copy it replaces when the bytes are the same.
    async fn keep_last_modified(&self, key: &PageKey, mut page: CachedPage) -> CachedPage {
        if let Some(previous) = self.last_good.get(key).await {
            if previous.etag == page.etag {
                page.last_modified = previous.last_modified;
            }
        }
        page
    }

    /// Whether `key` would be served from the cache now, without a render (search
    /// counts only the searches that reach posts-service against a client's limit).
    pub fn is_fresh(&self, key: &PageKey) -> bool {
        self.enabled && self.fresh.contains_key(key)
    }

    /// Forgets one page, fresh and last good (the admin saw posts-service say it is gone).
    pub async fn forget(&self, key: PageKey) {
        self.fresh.invalidate(&key).await;
        self.last_good.invalidate(&key).await;
    }

    /// Forgets every page: after a write through this replica, readers see it at once.
    pub fn invalidate_all(&self) {
        self.fresh.invalidate_all();
        self.last_good.invalidate_all();
    }
}

/// What a page costs the budget: its bytes, plus the entry's own bookkeeping (key,
/// entity tag, timestamps and the cache's per-entry overhead), so that even empty
/// entries (remembered 404s) are bounded by the budget.
fn weight(key: &PageKey, page: &Arc<CachedPage>) -> u32 {
    u32::try_from(page.html.len() + key.held_bytes() + 192).unwrap_or(u32::MAX)
}

/// The error of a reader who joined someone else's failed render: upstream trouble, with
/// the cause in words (a remembered 404 is a page, not an error, so it never comes here).
fn shared_failure(cause: &str) -> PageError {
    PageError::Upstream(UpstreamError::Unavailable {
        operation: "shared page render",
        cause: cause.to_owned(),
    })
}

fn whole_seconds(moment: SystemTime) -> SystemTime {
    let secs = moment
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::{BreakerSettings, CircuitState};
    use std::sync::atomic::AtomicUsize;

    fn cache(ttl_ms: u64) -> PageCache {
        cache_with(
            Duration::from_millis(ttl_ms),
            Duration::from_secs(5),
            1024 * 1024,
        )
    }

    fn cache_with(ttl: Duration, stale_after: Duration, bytes: u64) -> PageCache {
        PageCache::new(
            CacheSettings {
                ttl,
                stale_ttl: Duration::from_secs(60),
                bytes,
                stale_after,
            },
            &Registry::new(),
        )
        .unwrap()
    }

    /// A cache with a bound of a minute and a budget of `bytes`.
    fn cache_of_bytes(bytes: u64) -> PageCache {
        cache_with(Duration::from_secs(60), Duration::from_secs(5), bytes)
    }

    fn page(text: &'static str) -> CachedPage {
        CachedPage::new(StatusCode::OK, Bytes::from_static(text.as_bytes()))
    }

    fn unavailable() -> PageError {
        PageError::Upstream(UpstreamError::Unavailable {
            operation: "test",
            cause: "down".into(),
        })
    }

    const KEY: PageKey = PageKey::Post { id: 1 };

    /// `KEY` from `cache`, rendered as `html` when it has to be.
    async fn serve(cache: &PageCache, html: &'static str) -> (Arc<CachedPage>, Served) {
        cache
            .get_or_render(KEY, async move { Ok(page(html)) })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn concurrent_readers_share_one_render() {
        let cache = cache(1000);
        let renders = Arc::new(AtomicUsize::new(0));
        let readers = (0..20).map(|_| {
            let renders = renders.clone();
            cache.get_or_render(KEY, async move {
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
        let (_, served) = serve(&cache, "old").await;
        assert_eq!(served, Served::Rendered);
        let (first, served) = serve(&cache, "new").await;
        assert_eq!((&first.html[..], served), (&b"old"[..], Served::Fresh));
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (later, served) = serve(&cache, "new").await;
        assert_eq!((&later.html[..], served), (&b"new"[..], Served::Rendered));
    }

    #[tokio::test]
    async fn outage_serves_the_last_good_page_but_not_a_missing_one() {
        let cache = cache(50);
        serve(&cache, "good").await;
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

    fn search(query: &str) -> PageKey {
        PageKey::Search {
            query: Arc::from(query),
            page: 1,
        }
    }

    #[tokio::test]
    async fn search_results_are_shared_but_never_served_stale() {
        let cache = cache(50);
        let key = search("rust");
        assert!(!cache.is_fresh(&key));
        cache
            .get_or_render(key.clone(), async { Ok(page("found")) })
            .await
            .unwrap();
        assert!(cache.is_fresh(&key));
        let (again, served) = cache
            .get_or_render(key.clone(), async { Ok(page("other")) })
            .await
            .unwrap();
        assert_eq!((&again.html[..], served), (&b"found"[..], Served::Fresh));
        assert!(
            !cache.is_fresh(&search("rusty")),
            "another query is another page"
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        // posts-service cannot search now: the old results are not shown.
        let outage = cache.get_or_render(key, async { Err(unavailable()) }).await;
        assert!(matches!(outage, Err(PageError::Upstream(_))), "{outage:?}");
    }

    #[tokio::test]
    async fn long_search_keys_are_weighed_within_the_budget() {
        let budget = 64 * 1024;
        let cache = cache_of_bytes(budget);
        // 200 queries of 1,000 four-byte characters: 800 KB of keys, twelve budgets.
        for n in 0..200u32 {
            let query = format!("{n}{}", "𝄞".repeat(999));
            cache
                .get_or_render(search(&query), async { Ok(page("")) })
                .await
                .unwrap();
        }
        cache.fresh.run_pending_tasks().await;
        let held: usize = cache.fresh.iter().map(|(key, _)| key.held_bytes()).sum();
        assert!(held as u64 <= budget / 2, "{held} bytes of keys held");
        assert!(cache.fresh.entry_count() > 0, "searches are still cached");
    }

    #[tokio::test]
    async fn invalidation_forgets_fresh_and_last_good_pages() {
        let cache = cache(10_000);
        serve(&cache, "before").await;
        cache.invalidate_all();
        let result = cache.get_or_render(KEY, async { Err(unavailable()) }).await;
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn zero_ttl_turns_the_cache_off() {
        let cache = cache(0);
        serve(&cache, "a").await;
        let (again, served) = serve(&cache, "b").await;
        assert_eq!((&again.html[..], served), (&b"b"[..], Served::Rendered));
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_byte_budget() {
        let budget = 100 * 1024;
        let cache = cache_of_bytes(budget);
        // 200 pages of 10 KB: twenty times the budget.
        for id in 0..200 {
            let render = async {
                Ok(CachedPage::new(
                    StatusCode::OK,
                    Bytes::from(vec![b'x'; 10 * 1024]),
                ))
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

    #[tokio::test]
    async fn unknown_ids_are_remembered_as_404_within_the_bound() {
        let cache = cache(10_000);
        let renders = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let renders = renders.clone();
            let result = cache
                .get_or_render(KEY, async move {
                    renders.fetch_add(1, Ordering::SeqCst);
                    Err(PageError::NotFound)
                })
                .await;
            assert!(matches!(result, Err(PageError::NotFound)));
        }
        assert_eq!(
            renders.load(Ordering::SeqCst),
            1,
            "one call to posts-service"
        );
    }

    #[tokio::test]
    async fn a_404_drops_the_last_good_copy() {
        let cache = cache(50);
        serve(&cache, "deleted elsewhere").await;
        tokio::time::sleep(Duration::from_millis(80)).await;
        let gone = cache
            .get_or_render(KEY, async { Err(PageError::NotFound) })
            .await;
        assert!(matches!(gone, Err(PageError::NotFound)));
        tokio::time::sleep(Duration::from_millis(80)).await;
        // Now posts-service is down: the old copy must not come back.
        let outage = cache.get_or_render(KEY, async { Err(unavailable()) }).await;
        assert!(matches!(outage, Err(PageError::Upstream(_))), "{outage:?}");
    }

    #[tokio::test]
    async fn a_slow_render_serves_the_last_good_copy_within_the_budget_and_refreshes() {
        let cache = cache_with(
            Duration::from_millis(200),
            Duration::from_millis(50),
            1024 * 1024,
        );
        serve(&cache, "old").await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let started = Instant::now();
        let (page_served, served) = cache
            .get_or_render(KEY, async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok(page("new"))
            })
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(
            (&page_served.html[..], served),
            (&b"old"[..], Served::Stale)
        );
        assert!(took < Duration::from_millis(140), "took {took:?}");
        // The render went on without the reader and refreshed the cache.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (later, served) = serve(&cache, "never asked").await;
        assert_eq!((&later.html[..], served), (&b"new"[..], Served::Fresh));
    }

    #[tokio::test]
    async fn made_up_ids_do_not_grow_the_cache_beyond_its_budget() {
        let budget = 64 * 1024;
        let cache = cache_of_bytes(budget);
        for id in 0..5_000 {
            let result = cache
                .get_or_render(PageKey::Post { id }, async { Err(PageError::NotFound) })
                .await;
            assert!(matches!(result, Err(PageError::NotFound)));
        }
        cache.fresh.run_pending_tasks().await;
        let held = cache.fresh.weighted_size();
        assert!(held <= budget / 2, "{held} bytes held, budget {budget}");
        assert!(cache.fresh.entry_count() > 0, "404s are still remembered");
    }

    #[tokio::test]
    async fn validators_change_only_with_the_bytes() {
        let cache = cache(30);
        let (first, _) = serve(&cache, "same").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (again, served) = serve(&cache, "same").await;
        assert_eq!(served, Served::Rendered);
        assert_eq!(again.etag, first.etag);
        assert_eq!(again.last_modified, first.last_modified);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (changed, _) = serve(&cache, "changed").await;
        assert_ne!(changed.etag, first.etag);
        assert!(changed.etag.starts_with('"') && changed.etag.ends_with('"'));
    }

    /// The stale budget of the tests on waiting (`PAGE_CACHE_STALE_AFTER_MS`).
    const BUDGET: Duration = Duration::from_millis(400);
    /// What the product promises stale pages take once nobody waits: far under BUDGET.
    const AT_ONCE: Duration = Duration::from_millis(100);

    /// Pages that have a last good copy and none fresh: `cache` as at the first view
    /// after the bound, with posts-service gone since.
    async fn with_good_copies(cache: &PageCache, keys: &[PageKey]) {
        for key in keys.iter().cloned() {
            cache
                .get_or_render(key, async { Ok(page("good")) })
                .await
                .unwrap();
        }
        cache.fresh.invalidate_all();
    }

    /// A render that asks a posts-service which never answers, through `breaker` as the
    /// client does: fails at once while the circuit is open, else waits for its answer
    /// until `timeout`, the breaker judging the call on the way.
    async fn frozen_render(
        breaker: Arc<CircuitBreaker>,
        timeout: Duration,
    ) -> Result<CachedPage, PageError> {
        let Some(permit) = breaker.admit() else {
            return Err(unavailable());
        };
        let ((), permit) = permit.watch(tokio::time::sleep(timeout)).await;
        if let Some(permit) = permit {
            permit.failed();
        }
        Err(unavailable())
    }

    /// One view of `key`, timed; it must be the good copy, stale.
    async fn stale_view(
        cache: &PageCache,
        key: PageKey,
        render: impl Future<Output = Result<CachedPage, PageError>> + Send + 'static,
    ) -> Duration {
        let started = Instant::now();
        let (page, served) = cache.get_or_render(key.clone(), render).await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            (&page.html[..], served),
            (&b"good"[..], Served::Stale),
            "{key:?}"
        );
        took
    }

    #[tokio::test]
    async fn with_posts_service_frozen_only_the_first_readers_wait_and_the_breaker_learns_early() {
        // The product's defaults but the budget: five failures open the breaker, and a
        // call times out long after the budget.
        const TIMEOUT: Duration = Duration::from_millis(1200);
        let registry = Registry::new();
        let settings = BreakerSettings {
            failures: 5,
            open_for: Duration::from_secs(60),
        };
        let breaker = Arc::new(
            CircuitBreaker::new(settings, &registry)
                .unwrap()
                .counting_slow_calls_after(BUDGET),
        );
        let cache =
            cache_with(Duration::from_secs(60), BUDGET, 1024 * 1024).watching(breaker.clone());
        let keys = [
            PageKey::Post { id: 1 },
            PageKey::Index { before: None },
            PageKey::Feed,
        ];
        with_good_copies(&cache, &keys).await;

        // posts-service freezes. Readers come one after another, over the three pages.
        let mut slow = Vec::new();
        let mut views = 0;
        let frozen_since = Instant::now();
        while views < 40 || breaker.state() != CircuitState::Open {
            assert!(
                frozen_since.elapsed() < Duration::from_secs(10),
                "the breaker never opened ({views} views)"
            );
            let key = keys[views % keys.len()].clone();
            let took = stale_view(&cache, key, frozen_render(breaker.clone(), TIMEOUT)).await;
            // Never longer than the budget (plus a busy machine's scheduling).
            assert!(
                took < BUDGET + Duration::from_millis(300),
                "view {views} took {took:?}"
            );
            if took >= AT_ONCE {
                slow.push((views, took));
            }
            views += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let opened = frozen_since.elapsed();
        println!(
            "    {views} views; slow ones (view, time): {slow:?}; breaker open after {opened:?}"
        );
        // At most one reader per page waits for the frozen posts-service (here one:
        // the first call past the budget tells the breaker, and nobody waits after).
        assert!(slow.len() <= 3, "slow views: {slow:?}");
        assert!(
            slow.iter().all(|&(view, _)| view < 3),
            "slow views: {slow:?}"
        );
        // The breaker opened on calls past the budget, before most had timed out.
        assert!(opened < 3 * TIMEOUT, "opened after {opened:?}");
    }

    #[tokio::test]
    async fn a_reader_joining_a_render_waits_only_for_what_is_left_of_its_budget() {
        let cache = cache_with(Duration::from_secs(60), BUDGET, 1024 * 1024);
        with_good_copies(&cache, &[KEY]).await;
        let never = std::future::pending::<Result<CachedPage, PageError>>;

        let first = {
            let cache = cache.clone();
            tokio::spawn(async move {
                let took = stale_view(&cache, KEY, never()).await;
                (took, Instant::now())
            })
        };
        // Once the first reader's render is in flight, half its budget later, a second
        // reader joins it.
        let started = Instant::now();
        while !cache.flights.lock().contains_key(&KEY) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no render began"
            );
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(BUDGET / 2).await;
        let second_took = stale_view(&cache, KEY, never()).await;
        let second_ended = Instant::now();
        let (first_took, first_ended) = first.await.unwrap();

        assert!(
            first_took >= BUDGET * 9 / 10,
            "the first waited {first_took:?}"
        );
        // Both had the same deadline: the render's start plus the budget.
        let apart = second_ended.saturating_duration_since(first_ended);
        assert!(
            apart < BUDGET / 4,
            "the second ended {apart:?} after the first"
        );
        assert!(
            second_took < BUDGET * 3 / 4,
            "the second waited {second_took:?}"
        );

        // The render is now past its budget: a new reader gets the copy at once.
        let third_took = stale_view(&cache, KEY, never()).await;
        assert!(third_took < AT_ONCE, "the third waited {third_took:?}");
        assert_eq!(cache.flights.lock().len(), 1, "still one render in flight");
    }

    #[tokio::test]
    async fn readers_do_not_wait_while_posts_services_last_call_failed() {
        let breaker = Arc::new(
            CircuitBreaker::new(
                BreakerSettings {
                    failures: 5,
                    open_for: Duration::from_secs(60),
                },
                &Registry::new(),
            )
            .unwrap(),
        );
        let cache =
            cache_with(Duration::from_secs(60), BUDGET, 1024 * 1024).watching(breaker.clone());
        with_good_copies(&cache, &[KEY]).await;
        breaker.admit().unwrap().failed();
        assert_eq!(breaker.state(), CircuitState::Closed);

        let slow_but_good = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(page("new"))
        };
        let took = stale_view(&cache, KEY, slow_but_good).await;
        assert!(took < AT_ONCE, "waited {took:?}");
        // The render went on and refreshed the page.
        let started = Instant::now();
        loop {
            let (page, served) = serve(&cache, "never asked").await;
            if served == Served::Fresh {
                assert_eq!(&page.html[..], b"new");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "never refreshed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
