//! Running one database operation: every store operation goes through [`bounded`],
//! which answers at once while start-up has not finished ([`super::start_up`]), bounds
//! the whole operation (connection checkout included) by the configured timeout, tells
//! the nodes when the writer failed it ([`super::nodes`]), and records it in the
//! metrics and, when traces are exported, in a span; each statement of an operation
//! runs through [`sql`], its span naming its kind and table, never its values. A write transaction that loses a deadlock is run again a few times
//! ([`retrying_deadlocks`]) before it counts as a failure.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use service_runtime::traces;
use tracing::{Instrument, Span};

use super::error::StoreError;
use super::metrics::DbMetrics;
use super::start_up::Database;

/// Runs one database operation under `timeout`, recording its outcome in `metrics`.
/// Before start-up has finished it answers [`StoreError::Unavailable`] without waiting.
pub(crate) async fn bounded<T, E>(
    database: &Database,
    timeout: Duration,
    metrics: &DbMetrics,
    operation: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError>
where
    E: Into<StoreError>,
{
    let started = Instant::now();
    let writer = database.nodes().writer_index();
    let span = operation_span(operation);
    let work = work.instrument(span.clone());
    let outcome = if !database.is_started() {
        Err(StoreError::Unavailable(format!(
            "not started: {}",
            database.phase().reason()
        )))
    } else {
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(err.into()),
            Err(_) => Err(StoreError::Unavailable(format!(
                "{operation} took longer than {timeout:?}"
            ))),
        }
    };
    if database.is_started() && matches!(outcome, Err(StoreError::Unavailable(_))) {
        // connection refused or lost, no primary component (1047), too slow: the next
        // operation goes to another node (with one node, nothing changes)
        database.nodes().writer_failed(writer);
    }
    let label = match &outcome {
        Ok(_) => "ok",
        Err(StoreError::Unavailable(_) | StoreError::Deadlock(_)) => "unavailable",
        Err(StoreError::Internal(_)) => "error",
    };
    metrics.observe(operation, label, started.elapsed());
    if outcome.is_err() {
        traces::failed(&span, label);
    }
    outcome
}

/// The span of one database operation of a request, when traces are exported: named
/// after the operation (`db get`), it holds the wait for a connection and the
/// operation's statements ([`sql`]). None outside a request (the background re-render).
fn operation_span(operation: &'static str) -> Span {
    if !traces::exporting() || Span::current().is_none() {
        return Span::none();
    }
    tracing::info_span!(
        "db",
        otel.name = %format_args!("db {operation}"),
        operation,
        db.system.name = "mariadb",
    )
}

/// Runs one SQL statement of a store operation. When traces are exported and the
/// statement is part of a request, it runs in a client span named by `summary`, its
/// kind and table (`"SELECT posts"`), with those as attributes: never the statement's
/// text or values. A statement that fails marks its span as an error.
pub(crate) async fn sql<T, E>(
    summary: &'static str,
    statement: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let span = statement_span(summary);
    let outcome = statement.instrument(span.clone()).await;
    if outcome.is_err() {
        traces::failed(&span, "the statement failed");
    }
    outcome
}

fn statement_span(summary: &'static str) -> Span {
    if !traces::exporting() || Span::current().is_none() {
        return Span::none();
    }
    let (kind, table) = summary.split_once(' ').unwrap_or((summary, ""));
    tracing::info_span!(
        "sql",
        otel.kind = "client",
        otel.name = summary,
        db.system.name = "mariadb",
        db.operation.name = kind,
        db.collection.name = table,
        db.query.summary = summary,
    )
}

/// How many times a transaction that lost a deadlock is run again.
pub(crate) const DEADLOCK_RETRIES: u32 = 3;

/// Runs `transaction` (which must start and end its own transaction), again after a
/// short jittered pause when it loses a deadlock, at most [`DEADLOCK_RETRIES`] more
/// times. InnoDB has rolled the loser back, so running it again is safe.
pub(crate) async fn retrying_deadlocks<T, F, Fut>(mut transaction: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut retries = 0;
    loop {
        match transaction().await {
            Err(StoreError::Deadlock(cause)) if retries < DEADLOCK_RETRIES => {
                retries += 1;
                tracing::info!(retry = retries, cause = %cause, "deadlock, running the transaction again");
                tokio::time::sleep(deadlock_pause(retries)).await;
            }
            outcome => return outcome,
        }
    }
}

/// 5, 10, 20 ms for retries 1, 2, 3, plus up to as much again at random, so two
/// transactions that deadlocked do not meet again in step.
fn deadlock_pause(retry: u32) -> Duration {
    let base_ms = 5u64 << retry.saturating_sub(1).min(4);
    // A fresh `RandomState` is randomly keyed: enough randomness for a jitter.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_millis(base_ms + random % (base_ms + 1))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_deadlocked_transaction_is_run_again_then_given_up() {
        let runs = AtomicU32::new(0);
        let outcome = retrying_deadlocks(|| {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            async move {
                if run < 2 {
                    Err(StoreError::Deadlock("lost".to_owned()))
                } else {
                    Ok(run)
                }
            }
        })
        .await;
        assert_eq!(outcome.unwrap(), 2, "succeeds on its third run");

        runs.store(0, Ordering::SeqCst);
        let outcome: Result<(), _> = retrying_deadlocks(|| {
            runs.fetch_add(1, Ordering::SeqCst);
            async { Err(StoreError::Deadlock("always".to_owned())) }
        })
        .await;
        assert!(matches!(outcome, Err(StoreError::Deadlock(_))));
        assert_eq!(runs.load(Ordering::SeqCst), 1 + DEADLOCK_RETRIES);

        runs.store(0, Ordering::SeqCst);
        let outcome: Result<(), _> = retrying_deadlocks(|| {
            runs.fetch_add(1, Ordering::SeqCst);
            async { Err(StoreError::Unavailable("read-only".to_owned())) }
        })
        .await;
        assert!(matches!(outcome, Err(StoreError::Unavailable(_))));
        assert_eq!(runs.load(Ordering::SeqCst), 1, "only deadlocks are retried");
    }
}
