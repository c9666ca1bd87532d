//! [`AppState`]: what every page handler can use, built once by `startup`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use prometheus::Registry;
use warp::Filter;

use crate::auth::Auth;
use crate::forwarded::ProxyTrust;
use crate::login_limit::LoginLimiter;
use crate::page_cache::PageCache;
use crate::posts_client::PostsClient;
use crate::search_limit::SearchLimiter;
use crate::site::Site;

/// What every handler can use.
pub struct AppState {
    pub posts: PostsClient,
    /// Rendered pages shared between anonymous readers.
    pub pages: PageCache,
    pub auth: Auth,
    /// Login throttling.
    pub login_limiter: Arc<LoginLimiter>,
    /// Searches per client address (`SEARCH_PER_MINUTE`).
    pub search_limiter: Arc<SearchLimiter>,
    /// Whose `X-Forwarded-For` names the client.
    pub proxies: ProxyTrust,
    pub site: Arc<Site>,
    pub registry: Registry,
    /// Whether this process takes new work (`/readyz`).
    pub readiness: Readiness,
}

/// render-service's own readiness: ready from start until shutdown begins. It does not
/// follow posts-service: during a posts-service outage the pods
/// must stay in the Service, so readers get the last good copies of pages.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A process that is ready.
    pub fn ready() -> Readiness {
        Readiness(Arc::new(AtomicBool::new(true)))
    }

    /// Whether `/readyz` says 200.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Shutdown has begun: not ready any more.
    pub fn draining(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// Injects the shared state.
pub fn with_state(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    let state = state.clone();
    warp::any().map(move || state.clone())
}
