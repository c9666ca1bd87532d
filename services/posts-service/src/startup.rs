//! Building the application as a value that tests and `main` start the same way.
//!
//! [`Application::build`] binds both listeners and builds the pool without waiting for
//! the database: start-up (connect, migrate) runs in the background
//! ([`crate::db::start_up`]), so `/healthz` answers at once and `/readyz` turns 200 when
//! the database is reachable and its schema current. Until then the API answers 503.
//! Once it has started, posts rendered by older rules are re-rendered in the background
//! ([`crate::rerender`]), and posts made before slugs existed are given theirs
//! ([`crate::backfill`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus::Registry;
use service_runtime::config::ConfigError;
use service_runtime::metrics::{self, BuildInfo, HttpMetrics};
use service_runtime::server::{self, Edge, Limits};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::backfill::{self, BackfillMetrics};
use crate::config::Config;
use crate::db::first_owner::FirstOwner;
use crate::db::nodes::{self, Node, Nodes};
use crate::db::{
    self, Database, DbMetrics, PoolSettings, PostStore, Readiness, SessionStore, UserStore,
};
use crate::rerender::{self, RerenderMetrics};
use crate::routes::{self, request::ApiToken};
use crate::state::{AppState, SearchLimits};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A configuration value is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Metrics could not be registered (a bug).
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// `ADMIN_PASSWORD` could not be hashed (a bug).
    #[error("cannot hash ADMIN_PASSWORD: {0}")]
    Internal(String),
}

/// A bound, ready-to-run posts-service, whose database start-up is under way.
pub struct Application {
    listener: TcpListener,
    metrics_listener: TcpListener,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    routes: BoxedFilter<(Response,)>,
    metrics_routes: BoxedFilter<(Response,)>,
    http_metrics: HttpMetrics,
    database: Database,
    start_up: tokio::task::JoinHandle<()>,
    rerender: AbortOnDrop,
    backfill: AbortOnDrop,
    monitor: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Binds the listeners, builds the pool, and starts bringing the database up in the
    /// background: connect, then apply pending migrations (when `migrate_on_start`) or
    /// wait for them to be applied, retrying until it succeeds. Fails only for what
    /// retrying cannot mend: a taken address, an unusable setting.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        let tls = config.server.tls_config()?;
        let listener = bind(config.server.listen_addr).await?;
        let metrics_listener = bind(config.server.metrics_addr).await?;
        let settings = PoolSettings {
            min: config.db_pool_min,
            max: config.db_pool_max,
        };
        let ssl = config.database_ssl()?;
        let urls = config.database_node_urls()?;
        let cluster = urls.len() > 1;
        let mut nodes = Vec::with_capacity(urls.len());
        for url in &urls {
            nodes.push(Node {
                label: nodes::label_of(&db::parse_database_url(url)?),
                pool: db::connect_node(url, settings, cluster, ssl.as_ref())?,
            });
        }
        let mut database = Database::with_nodes(Nodes::new(nodes));
        if let (true, Some(urls)) = (config.migrate_on_start, config.migration_node_urls()?) {
            // Two connections at most, only while start-up migrates.
            let settings = PoolSettings { min: 0, max: 2 };
            let pools = urls
                .iter()
                .map(|url| db::connect_node(url, settings, cluster, ssl.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            database = database.migrating_through(pools);
        }
        if let Some((username, password)) = config.first_owner() {
            // (Config::from_env has done so already; a Config built in code may not have.)
            let username = username.to_ascii_lowercase();
            let username = username.as_str();
            for problem in
                posts_api::account::password_problems("ADMIN_PASSWORD", username, password)
            {
                tracing::warn!(
                    rule = %problem.message,
                    "ADMIN_PASSWORD breaks a password rule; the first owner should change it"
                );
            }
            let password_hash = crate::passwords::hash(password.to_owned())
                .await
                .map_err(|err| StartupError::Internal(err.to_string()))?;
            database = database.with_first_owner(FirstOwner {
                username: username.to_owned(),
                password_hash,
            });
        }
        // one probe task per node (none with a single node)
        let monitor = database.nodes().spawn_monitor();

        let registry = Registry::new();
        let http_metrics = HttpMetrics::register(&registry)?;
        metrics::register_runtime(
            &registry,
            BuildInfo {
                version: env!("CARGO_PKG_VERSION"),
                revision: BuildInfo::revision_or_unknown(option_env!("REVISION")),
            },
        )?;
        let db_metrics = DbMetrics::register(&registry, config.db_pool_max)?;
        let rerender_metrics = RerenderMetrics::register(&registry)?;
        let backfill_metrics = BackfillMetrics::register(&registry)?;
        let store = PostStore::new(database.clone(), config.db_timeout(), db_metrics.clone());
        let state = AppState {
            database: database.clone(),
            store: store.clone(),
            sessions: SessionStore::new(database.clone(), config.db_timeout(), db_metrics.clone()),
            users: UserStore::new(database.clone(), config.db_timeout(), db_metrics.clone()),
            api_token: ApiToken::new(config.api_token.expose()),
            registry,
            readiness: Arc::new(Readiness::new(database.clone(), db_metrics.clone())),
            db_metrics,
            search: SearchLimits {
                turns: Arc::new(Semaphore::new(config.search_concurrency)),
                timeout: config.search_timeout(),
            },
        };
        let start_up = database.spawn_start_up(config.migrate_on_start);
        let rerender = AbortOnDrop(rerender::spawn(
            database.clone(),
            store.clone(),
            config.rerender(),
            rerender_metrics,
        ));
        let backfill = AbortOnDrop(backfill::spawn(
            database.clone(),
            store,
            config.rerender(),
            backfill_metrics,
        ));
        Ok(Application {
            listener,
            metrics_listener,
            limits: config.server.limits(),
            tls,
            metrics_routes: routes::metrics_routes(state.clone()),
            routes: routes::routes(state),
            http_metrics,
            database,
            start_up,
            rerender,
            backfill,
            monitor,
        })
    }

    /// Where the server listens (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// The database handle: [`Database::started`] resolves once start-up has finished.
    pub fn database(&self) -> Database {
        self.database.clone()
    }

    /// Where `/metrics` is served (the real port when configured with port 0).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves, drains in-flight requests, then closes the
    /// database pool.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        tracing::info!(
            addr = %self.local_addr(),
            metrics_addr = %self.metrics_addr(),
            tls = self.tls.is_some(),
            "posts-service listening"
        );
        let metrics = tokio::spawn(server::serve(
            self.metrics_listener,
            self.metrics_routes,
            self.http_metrics.clone(),
            Edge::default(),
            std::future::pending(),
        ));
        let edge = Edge {
            limits: self.limits,
            tls: self.tls,
        };
        server::serve(
            self.listener,
            self.routes,
            self.http_metrics,
            edge,
            shutdown,
        )
        .await;
        metrics.abort();
        self.start_up.abort();
        drop(self.rerender);
        drop(self.backfill);
        for task in &self.monitor {
            task.abort();
        }
        for node in self.database.nodes().all() {
            // A pool closes once every connection taken from it is back: bounded, so
            // that one held by a task that has not ended yet cannot hold up the exit.
            match tokio::time::timeout(POOL_CLOSE_WAIT, node.pool.clone().disconnect()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, node = %node.label, "database pool did not close cleanly");
                }
                Err(_) => {
                    tracing::warn!(node = %node.label, "database pool still had connections out when the service stopped");
                }
            }
        }
        tracing::info!("posts-service stopped");
    }
}

/// How long stopping waits for each database pool to close.
const POOL_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A background task that ends with the value owning it: an application built but never
/// run (as tests do) leaves no re-render walking behind it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })
}
