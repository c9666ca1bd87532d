//! [`PostsClient`]: everything render-service asks of posts-service goes through here.
//!
//! One pooled `reqwest` client with a connect timeout and a whole-request timeout, so a
//! slow or dead posts-service turns into [`UpstreamError::Unavailable`] within a known
//! time instead of a hanging page. Every call forwards the page's `X-Request-Id`, writes
//! and the internal session calls carry the API token, and each call is counted and
//! timed by operation and [`Outcome`] in the service's Prometheus registry.
//!
//! Every call passes the [`CircuitBreaker`]: while posts-service keeps failing, calls
//! fail at once (outcome `circuit_open`) instead of waiting for the timeout, so pages
//! fall back to their last good copy without delay. A call still unanswered after
//! `PAGE_CACHE_STALE_AFTER_MS` already counts as a failure (a slow call), so a frozen
//! posts-service opens the breaker without waiting for the calls' timeouts. A create carries an
//! `Idempotency-Key` and is sent once more with the same key when the first attempt got
//! no answer (a timeout, a refused or a broken connection): posts-service answers the
//! first result again rather than making a second post.
//!
//! This type is the seam for a cache of posts: pages only see its methods.
//!
//! # Layout
//!
//! - `api`: the calls, one method of [`PostsClient`] per route of posts-service's API,
//!   and the create's second attempt.
//! - `transport`: the HTTP client, its timeouts and token, the request id, and the
//!   circuit breaker and metrics every call goes through.
//! - `outcome`: [`Outcome`], what a call ended as: its metrics label, and whether it
//!   counts against posts-service or makes a create worth sending again.
//! - `error`: [`UpstreamError`] and [`ClientError`], and how failures are put in words.
//! - `metrics`: the `upstream_requests_total` and `upstream_request_duration_seconds`
//!   metrics.

mod api;
mod error;
mod metrics;
mod outcome;
mod transport;

use std::sync::Arc;

use prometheus::Registry;

pub use error::{ClientError, UpstreamError};
pub use outcome::Outcome;
use transport::Transport;

use crate::circuit::{CircuitBreaker, CircuitState};
use crate::config::Config;

/// The client. Cheap to clone; clones share the connection pool and metrics.
#[derive(Clone)]
pub struct PostsClient {
    transport: Arc<Transport>,
}

impl PostsClient {
    /// Builds the client from the configuration and registers its metrics in `registry`.
    pub fn new(config: &Config, registry: &Registry) -> Result<PostsClient, ClientError> {
        Ok(PostsClient {
            transport: Arc::new(Transport::new(config, registry)?),
        })
    }

    /// The circuit breaker's state (what `render_circuit_state` shows).
    pub fn circuit_state(&self) -> CircuitState {
        self.transport.breaker().state()
    }

    /// The circuit breaker, for the page cache to see whether posts-service is failing.
    pub fn circuit(&self) -> Arc<CircuitBreaker> {
        self.transport.breaker().clone()
    }
}
