//! Running one database operation, and what its failure means.
//!
//! Every store operation goes through `bounded`: it answers at once while start-up has
//! not finished ([`crate::database`]), bounds the whole operation (connection checkout
//! included) by the configured timeout, and records it in the metrics. A write
//! transaction that loses a deadlock is run again a few times (`retrying_deadlocks`)
//! before it counts as a failure.
//!
//! [`StoreError`] is the storage side of the one mapping from MySQL to HTTP: this module
//! is the only place that decides whether a MySQL error is transient or ours, and
//! `crate::error` the only place that turns a [`StoreError`] into a status. (The store
//! reads one code for control flow only: a taken idempotency key, 1062.) A database that is down, restarting,
//! read-only, out of connections, deadlocked or too slow is [`StoreError::Unavailable`]
//! (a 503 with `Retry-After`); only what can be our own bug is [`StoreError::Internal`].

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use mysql_async::DriverError;

use crate::database::Database;
use crate::db_metrics::DbMetrics;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, restarting, read-only, saturated, lost the
    /// connection, or took longer than the timeout: the same request may work shortly.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The transaction lost a deadlock and was rolled back: running it again may work.
    #[error("deadlock: {0}")]
    Deadlock(String),
    /// The database answered with an error, or with rows we cannot read: a bug of ours.
    #[error("database error: {0}")]
    Internal(String),
}

/// MariaDB server errors that mean "not now" rather than "wrong request".
const TRANSIENT_SERVER_ERRORS: &[u16] = &[
    1040, // ER_CON_COUNT_ERROR: too many connections
    1047, // ER_UNKNOWN_COM_ERROR: a Galera node not (yet) part of the primary component
    1053, // ER_SERVER_SHUTDOWN: shutdown in progress
    1205, // ER_LOCK_WAIT_TIMEOUT
    1213, // ER_LOCK_DEADLOCK (retried first: see `retrying_deadlocks`)
    1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only and the like
    1317, // ER_QUERY_INTERRUPTED: killed, or the server is going away
    1836, // ER_READ_ONLY_MODE
    1927, // ER_CONNECTION_KILLED (MariaDB)
    1969, // ER_STATEMENT_TIMEOUT: max_statement_time exceeded (MariaDB)
];

/// ER_LOCK_DEADLOCK.
const DEADLOCK: u16 = 1213;

impl From<mysql_async::Error> for StoreError {
    fn from(err: mysql_async::Error) -> Self {
        let cause = err.to_string();
        match &err {
            mysql_async::Error::Server(server) if server.code == DEADLOCK => {
                StoreError::Deadlock(cause)
            }
            mysql_async::Error::Server(server)
                if TRANSIENT_SERVER_ERRORS.contains(&server.code) =>
            {
                StoreError::Unavailable(cause)
            }
            // Any other answer from the server: a query or schema problem, which is ours.
            mysql_async::Error::Server(_) => StoreError::Internal(cause),
            // Could not reach the server, or lost the connection.
            mysql_async::Error::Io(_) | mysql_async::Error::Other(_) => {
                StoreError::Unavailable(cause)
            }
            mysql_async::Error::Driver(
                DriverError::ConnectionClosed
                | DriverError::PoolDisconnected
                | DriverError::PacketOutOfOrder
                | DriverError::UnexpectedPacket { .. }
                | DriverError::BadCompressedPacketHeader,
            ) => StoreError::Unavailable(cause),
            // Rows or parameters that do not fit, a bad URL: ours.
            mysql_async::Error::Driver(_) | mysql_async::Error::Url(_) => {
                StoreError::Internal(cause)
            }
        }
    }
}

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
    outcome
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

    use mysql_async::{Error, IoError, ServerError};

    use super::*;

    fn server(code: u16) -> Error {
        Error::Server(ServerError {
            code,
            message: format!("SELECT secret FROM t -- error {code}"),
            state: "HY000".to_owned(),
        })
    }

    #[test]
    fn a_database_that_is_down_read_only_saturated_or_deadlocked_is_unavailable() {
        for code in [1040, 1047, 1053, 1205, 1290, 1317, 1836, 1927, 1969] {
            assert!(
                matches!(StoreError::from(server(code)), StoreError::Unavailable(_)),
                "{code}"
            );
        }
        assert!(matches!(
            StoreError::from(server(1213)),
            StoreError::Deadlock(_)
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            StoreError::from(Error::Io(IoError::Io(refused))),
            StoreError::Unavailable(_)
        ));
        for lost in [DriverError::ConnectionClosed, DriverError::PoolDisconnected] {
            assert!(matches!(
                StoreError::from(Error::Driver(lost)),
                StoreError::Unavailable(_)
            ));
        }
    }

    #[test]
    fn a_query_the_server_rejects_is_our_bug() {
        // 1064 syntax error, 1146 no such table, 1062 duplicate key, 1406 data too long.
        for code in [1064, 1146, 1062, 1406] {
            assert!(
                matches!(StoreError::from(server(code)), StoreError::Internal(_)),
                "{code}"
            );
        }
        assert!(matches!(
            StoreError::from(Error::Driver(DriverError::NestedTransaction)),
            StoreError::Internal(_)
        ));
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
