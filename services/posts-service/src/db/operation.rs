//! Running one database operation: every store operation goes through [`bounded`],
//! which answers at once while start-up has not finished ([`super::start_up`]), bounds
//! the whole operation (connection checkout included) by the configured timeout, tells
//! the nodes when the writer failed it ([`super::nodes`]), and records it in the
//! metrics and, when traces are exported, in a span (kind and table, never values). A write transaction that loses a deadlock is run again a few times
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
    let span = statement_span(operation);
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

/// What an operation's statement is, for its span: its kind and table, never its text
/// or values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Statement {
    kind: &'static str,
    table: &'static str,
    summary: &'static str,
}

/// The main statement of each operation of the stores.
fn statement(operation: &str) -> Statement {
    let (kind, table, summary) = match operation {
        "list" | "summaries" | "get" | "rerender_max_id" | "rerender_scan" => {
            ("SELECT", "posts", "SELECT posts")
        }
        "create" | "create_idempotent" => ("INSERT", "posts", "INSERT posts"),
        "update" | "rerender_store" => ("UPDATE", "posts", "UPDATE posts"),
        "delete" => ("DELETE", "posts", "DELETE posts"),
        "create_session" => ("INSERT", "admin_sessions", "INSERT admin_sessions"),
        "touch_session" => ("UPDATE", "admin_sessions", "UPDATE admin_sessions"),
        "delete_session" => ("DELETE", "admin_sessions", "DELETE admin_sessions"),
        "record_login_failure" => ("INSERT", "login_failures", "INSERT login_failures"),
        "count_login_failures" => ("SELECT", "login_failures", "SELECT login_failures"),
        _ => ("OTHER", "", "OTHER"),
    };
    Statement {
        kind,
        table,
        summary,
    }
}

/// The span of one database operation of a request, when traces are exported: a
/// client span named like `SELECT posts`, with the statement's kind and table. None
/// outside a request (the background re-render).
fn statement_span(operation: &'static str) -> Span {
    if !traces::exporting() || Span::current().is_none() {
        return Span::none();
    }
    let statement = statement(operation);
    tracing::info_span!(
        "sql",
        otel.kind = "client",
        otel.name = statement.summary,
        operation,
        db.system.name = "mariadb",
        db.operation.name = statement.kind,
        db.collection.name = statement.table,
        db.query.summary = statement.summary,
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

    #[test]
    fn each_operation_names_its_statement_kind_and_table() {
        let get = statement("get");
        assert_eq!(
            (get.kind, get.table, get.summary),
            ("SELECT", "posts", "SELECT posts")
        );
        for operation in [
            "list",
            "summaries",
            "create",
            "create_idempotent",
            "update",
            "delete",
            "rerender_max_id",
            "rerender_scan",
            "rerender_store",
            "create_session",
            "touch_session",
            "delete_session",
            "record_login_failure",
            "count_login_failures",
        ] {
            let statement = statement(operation);
            assert_ne!(statement.kind, "OTHER", "{operation}");
            assert_eq!(
                statement.summary,
                format!("{} {}", statement.kind, statement.table)
            );
        }
    }

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
