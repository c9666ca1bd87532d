//! [`DbMetrics`]: database figures for `/metrics`: per-operation counts and latencies,
//! the state of the connection pool (read from mysql_async's own counters at scrape
//! time), whether the database is usable at all (`posts_db_up`, refreshed at each scrape
//! from the cached readiness check), and with several nodes which one writes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::Pool;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Database metrics registered in the service's registry.
#[derive(Clone)]
pub struct DbMetrics {
    operations: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGaugeVec,
    pool_waiting: IntGauge,
    pool_connect_failures: IntCounter,
    up: IntGauge,
    writer: IntGaugeVec,
    nodes: IntGauge,
    nodes_synced: IntGauge,
    writer_changes: IntCounter,
    /// Held while the counters catch up with the totals they copy, so that two scrapes
    /// at once cannot add the same increase twice.
    catching_up: Arc<Mutex<()>>,
}

impl DbMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &Registry, configured_max: usize) -> prometheus::Result<DbMetrics> {
        let operations = IntCounterVec::new(
            Opts::new("db_operations_total", "Database operations by outcome"),
            &["operation", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "db_operation_duration_seconds",
                "Database operation time, connection checkout included",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["operation"],
        )?;
        let pool_connections = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Open database connections by state"),
            &["state"],
        )?;
        let pool_waiting = IntGauge::new(
            "db_pool_waiting_requests",
            "Requests waiting for a pooled connection",
        )?;
        let pool_connect_failures = IntCounter::new(
            "db_pool_connect_failures_total",
            "Connections that could not be opened since start",
        )?;
        let up = IntGauge::new(
            "posts_db_up",
            "1 when the database answered the last readiness check with a current schema, \
             0 while it is unreachable or start-up (connect, migrate) has not finished",
        )?;
        let pool_max = IntGauge::new("db_pool_max_connections", "Configured pool maximum")?;
        pool_max.set(i64::try_from(configured_max).unwrap_or(i64::MAX));
        registry.register(Box::new(operations.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_waiting.clone()))?;
        registry.register(Box::new(pool_connect_failures.clone()))?;
        registry.register(Box::new(pool_max))?;
        registry.register(Box::new(up.clone()))?;
        let writer = IntGaugeVec::new(
            Opts::new(
                "db_writer",
                "1 for the database node every statement goes to (host:port), 0 for the others",
            ),
            &["node"],
        )?;
        let nodes = IntGauge::new("db_nodes", "Database nodes configured (DATABASE_URLS)")?;
        let nodes_synced = IntGauge::new(
            "db_nodes_synced",
            "Database nodes the last probes found synced with their Galera cluster",
        )?;
        let writer_changes = IntCounter::new(
            "db_writer_changes_total",
            "Times the writer moved to another database node since start",
        )?;
        registry.register(Box::new(writer.clone()))?;
        registry.register(Box::new(nodes.clone()))?;
        registry.register(Box::new(nodes_synced.clone()))?;
        registry.register(Box::new(writer_changes.clone()))?;
        Ok(DbMetrics {
            writer,
            nodes,
            nodes_synced,
            writer_changes,
            operations,
            latency,
            pool_connections,
            pool_waiting,
            pool_connect_failures,
            up,
            catching_up: Arc::default(),
        })
    }

    /// Records one operation.
    pub fn observe(&self, operation: &str, outcome: &str, elapsed: Duration) {
        self.operations
            .with_label_values(&[operation, outcome])
            .inc();
        self.latency
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
    }

    /// Records whether the database is usable (`posts_db_up`).
    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    /// Copies the nodes' state (writer, synced count, writer changes) into the gauges.
    pub fn refresh_nodes(&self, nodes: &super::nodes::Nodes) {
        for view in nodes.views() {
            self.writer
                .with_label_values(&[view.label.as_str()])
                .set(i64::from(view.writer));
        }
        self.nodes
            .set(i64::try_from(nodes.len()).unwrap_or(i64::MAX));
        let synced = if nodes.is_cluster() {
            nodes.synced()
        } else {
            // one node is not probed: it counts when it is usable
            usize::from(self.up.get() == 1)
        };
        self.nodes_synced
            .set(i64::try_from(synced).unwrap_or(i64::MAX));
        self.catch_up(&self.writer_changes, nodes.writer_changes());
    }

    /// Copies the pool's live counters into the gauges; call before encoding.
    pub fn refresh_pool(&self, pool: &Pool) {
        let metrics = pool.metrics();
        let read = |value: &std::sync::atomic::AtomicUsize| {
            i64::try_from(value.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
        };
        self.pool_connections
            .with_label_values(&["idle"])
            .set(read(&metrics.connections_in_pool));
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(read(&metrics.connections_in_use));
        self.pool_waiting.set(read(&metrics.active_wait_requests));
        self.catch_up(
            &self.pool_connect_failures,
            u64::try_from(metrics.create_failed.load(Ordering::Relaxed)).unwrap_or(u64::MAX),
        );
    }

    /// Raises `counter` to `total`, a count kept elsewhere that only grows.
    fn catch_up(&self, counter: &IntCounter, total: u64) {
        let _held = self
            .catching_up
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(increase) = total.checked_sub(counter.get()).filter(|&n| n > 0) {
            counter.inc_by(increase);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_kept_elsewhere_are_counters_that_only_catch_up() {
        let registry = Registry::new();
        let metrics = DbMetrics::register(&registry, 4).unwrap();
        metrics.catch_up(&metrics.writer_changes, 2);
        metrics.catch_up(&metrics.writer_changes, 2);
        metrics.catch_up(&metrics.writer_changes, 3);
        metrics.catch_up(&metrics.pool_connect_failures, 5);
        let text = service_runtime::metrics::encode(&registry);
        for expected in [
            "# TYPE db_writer_changes_total counter",
            "\ndb_writer_changes_total 3\n",
            "# TYPE db_pool_connect_failures_total counter",
            "\ndb_pool_connect_failures_total 5\n",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
    }
}
