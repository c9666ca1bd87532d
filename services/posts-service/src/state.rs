//! [`AppState`]: what every handler is given.

use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use tokio::sync::Semaphore;

use crate::db::{Database, DbMetrics, PostStore, Readiness, SessionStore, UserStore};
use crate::routes::request::ApiToken;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database nodes and whether start-up has finished.
    pub database: Database,
    /// The posts.
    pub store: PostStore,
    /// The admin's sessions and failed logins.
    pub sessions: SessionStore,
    /// The accounts.
    pub users: UserStore,
    /// The token that the writes and the internal API must carry, checked by
    /// [`crate::routes::request::authorized`] before a body is read.
    pub api_token: ApiToken,
    /// Everything `/metrics` reports.
    pub registry: Registry,
    /// Pool figures to refresh before reporting.
    pub db_metrics: DbMetrics,
    /// Whether the database is usable, cached briefly.
    pub readiness: Arc<Readiness>,
    /// Turns to search (`SEARCH_CONCURRENCY`), and how long a search may wait for one
    /// and run (`SEARCH_TIMEOUT_MS`).
    pub search: SearchLimits,
}

/// The bounds on search: every search is a full-text query no cache answers.
#[derive(Clone)]
pub struct SearchLimits {
    /// One permit per search running.
    pub turns: Arc<Semaphore>,
    /// The statement's time limit; a search waits for a turn at most half as long.
    pub timeout: Duration,
}
