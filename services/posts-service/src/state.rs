//! [`AppState`]: what every handler is given.

use std::sync::Arc;

use prometheus::Registry;

use crate::db::{Database, DbMetrics, PostStore, Readiness, SessionStore};
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
    /// The token that the writes and the internal API must carry, checked by
    /// [`crate::routes::request::authorized`] before a body is read.
    pub api_token: ApiToken,
    /// Everything `/metrics` reports.
    pub registry: Registry,
    /// Pool figures to refresh before reporting.
    pub db_metrics: DbMetrics,
    /// Whether the database is usable, cached briefly.
    pub readiness: Arc<Readiness>,
}
