//! [`AppState`]: what every page handler can use, built once by `startup`.

use std::convert::Infallible;
use std::sync::Arc;

use prometheus::Registry;
use warp::Filter;

use crate::auth::Auth;
use crate::login_limit::LoginLimiter;
use crate::page_cache::PageCache;
use crate::posts_client::PostsClient;
use crate::site::Site;

/// What every handler can use.
pub struct AppState {
    pub posts: PostsClient,
    /// Rendered pages shared between anonymous readers.
    pub pages: PageCache,
    pub auth: Auth,
    /// Login throttling and who the client is.
    pub login_limiter: Arc<LoginLimiter>,
    pub site: Arc<Site>,
    pub registry: Registry,
}

/// Injects the shared state.
pub fn with_state(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    let state = state.clone();
    warp::any().map(move || state.clone())
}
