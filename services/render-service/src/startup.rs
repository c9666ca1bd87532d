//! [`Application`]: render-service as a value that `main` and the tests both build.
//!
//! `build` binds the listener (port 0 in tests; a taken port is an error, not a panic),
//! creates the Prometheus registry, the [`PostsClient`], the signing keys and the login
//! and search limiters (each pruned every minute by a task of its own), and
//! composes the routes; `run_until_stopped` serves until the shutdown future resolves,
//! then drains in-flight requests (`service_runtime::server::serve`), over HTTPS when
//! `TLS_CERT_FILE` and `TLS_KEY_FILE` are set.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::Registry;
use service_runtime::metrics::{self, BuildInfo, HttpMetrics};
use service_runtime::server::{self, Edge, Limits};
use tokio::net::TcpListener;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::auth::Auth;
use crate::config::Config;
use crate::login_limit::{LoginLimiter, PRUNE_INTERVAL};
use crate::page_cache::PageCache;
use crate::pages::assets;
use crate::posts_client::{ClientError, PostsClient};
use crate::routes;
use crate::search_limit::SearchLimiter;
use crate::site::Site;
use crate::state::{AppState, Readiness};

/// Why render-service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] service_runtime::config::ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    PostsClient(#[from] ClientError),
    #[error("cannot register HTTP metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Prunes a limiter's per-address state (with `prune`) until the limiter is dropped.
fn spawn_pruning<L: Send + Sync + 'static>(limiter: std::sync::Weak<L>, prune: fn(&L)) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PRUNE_INTERVAL);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(limiter) = limiter.upgrade() else {
                return;
            };
            prune(&limiter);
        }
    });
}

/// A bound, ready-to-run render-service.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    metrics_listener: TcpListener,
    metrics_addr: SocketAddr,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    routes: BoxedFilter<(Response,)>,
    metrics_routes: BoxedFilter<(Response,)>,
    metrics: HttpMetrics,
    readiness: Readiness,
}

impl Application {
    /// Checks the configuration, binds the listener and builds everything the pages use.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        config.validate()?;
        let tls = config.server.tls_config()?;
        let (listener, local_addr) = bind(config.server.listen_addr).await?;
        let (metrics_listener, metrics_addr) = bind(config.server.metrics_addr).await?;

        let registry = Registry::new();
        let metrics = HttpMetrics::register(&registry)?;
        metrics::register_runtime(
            &registry,
            BuildInfo {
                version: env!("CARGO_PKG_VERSION"),
                revision: BuildInfo::revision_or_unknown(option_env!("REVISION")),
            },
        )?;
        let posts = PostsClient::new(&config, &registry)?;
        let site = Site {
            blog_title: config.blog_title.trim().to_owned(),
            stylesheet: assets::stylesheet_href(),
            public_url: config
                .public_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
            https: config.cookie_secure,
            zone: config.blog_zone()?,
        };
        let pages = PageCache::new(config.page_cache(), &registry)?.watching(posts.circuit());
        let login_limiter = Arc::new(LoginLimiter::new(&registry)?);
        spawn_pruning(Arc::downgrade(&login_limiter), LoginLimiter::prune);
        let search_limiter = Arc::new(SearchLimiter::new(config.search_per_minute, &registry)?);
        spawn_pruning(Arc::downgrade(&search_limiter), SearchLimiter::prune);
        let readiness = Readiness::ready();
        let state = Arc::new(AppState {
            posts,
            pages,
            auth: Auth::new(&config),
            login_limiter,
            search_limiter,
            proxies: config.proxy_trust()?,
            site: Arc::new(site),
            registry,
            readiness: readiness.clone(),
        });

        Ok(Application {
            listener,
            local_addr,
            metrics_listener,
            metrics_addr,
            limits: config.server.limits(),
            tls,
            metrics_routes: routes::metrics_routes(&state),
            routes: routes::routes(state),
            metrics,
            readiness,
        })
    }

    /// Where the server listens (the real port when the configuration said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served (the real port when the configuration said 0).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish (`/readyz`
    /// answers 503 from then on).
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let readiness = self.readiness.clone();
        let shutdown = async move {
            shutdown.await;
            readiness.draining();
        };
        let metrics = tokio::spawn(server::serve(
            self.metrics_listener,
            self.metrics_routes,
            self.metrics.clone(),
            Edge::default(),
            std::future::pending(),
        ));
        let edge = Edge {
            limits: self.limits,
            tls: self.tls,
        };
        server::serve(self.listener, self.routes, self.metrics, edge, shutdown).await;
        metrics.abort();
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let bind_error = |source| StartupError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local_addr))
}
