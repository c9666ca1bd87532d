//! The client's Prometheus metrics, [`UpstreamMetrics`]: `upstream_requests_total` and
//! `upstream_request_duration_seconds`, labelled by operation (`list_posts`,
//! `create_session`, …) and [`Outcome`], each with `upstream="posts-service"`. Alert
//! rules and dashboards read these names and labels.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::outcome::Outcome;

/// Counts and latencies of calls to posts-service.
#[derive(Clone)]
pub(super) struct UpstreamMetrics {
    calls: IntCounterVec,
    latency: HistogramVec,
}

const UPSTREAM_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl UpstreamMetrics {
    /// Creates both metrics and registers them in `registry`.
    pub(super) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let labels = &["operation", "outcome"];
        let calls = IntCounterVec::new(
            Opts::new(
                "upstream_requests_total",
                "Calls from render-service to posts-service, by operation and outcome",
            )
            .const_label("upstream", "posts-service"),
            labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "upstream_request_duration_seconds",
                "Time a call to posts-service took, including reading the answer",
            )
            .const_label("upstream", "posts-service")
            .buckets(UPSTREAM_BUCKETS.to_vec()),
            labels,
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(UpstreamMetrics { calls, latency })
    }

    /// Counts one call and its time under its operation and outcome.
    pub(super) fn record(&self, operation: &str, outcome: Outcome, elapsed: Duration) {
        let labels = [operation, outcome.as_str()];
        self.calls.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }
}
