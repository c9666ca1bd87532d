//! [`StoreError`]: what a failed database operation means, and the one place that
//! decides which MySQL errors are transient.
//!
//! A database that is down, restarting, read-only, out of connections, deadlocked or
//! too slow is [`StoreError::Unavailable`] (a 503 with `Retry-After`, made by
//! `crate::error`, the only place a [`StoreError`] becomes a status); only what can be
//! our own bug is [`StoreError::Internal`]. A lost deadlock is its own kind,
//! [`StoreError::Deadlock`], so that [`super::operation::retrying_deadlocks`] can run
//! the transaction again first. (The stores read one more code for control flow only: a
//! taken idempotency key, 1062.)

use mysql_async::DriverError;

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

/// A server error with `code` whose message quotes SQL, as MariaDB sends one: for tests
/// that must see which errors are whose and that no SQL leaks.
#[cfg(test)]
pub(crate) fn server_error(code: u16) -> mysql_async::Error {
    mysql_async::Error::Server(mysql_async::ServerError {
        code,
        message: format!("SELECT secret FROM t -- error {code}"),
        state: "HY000".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use mysql_async::{Error, IoError};

    use super::*;

    #[test]
    fn a_database_that_is_down_read_only_saturated_or_deadlocked_is_unavailable() {
        for code in [1040, 1047, 1053, 1205, 1290, 1317, 1836, 1927, 1969] {
            assert!(
                matches!(
                    StoreError::from(server_error(code)),
                    StoreError::Unavailable(_)
                ),
                "{code}"
            );
        }
        assert!(matches!(
            StoreError::from(server_error(1213)),
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
                matches!(
                    StoreError::from(server_error(code)),
                    StoreError::Internal(_)
                ),
                "{code}"
            );
        }
        assert!(matches!(
            StoreError::from(Error::Driver(DriverError::NestedTransaction)),
            StoreError::Internal(_)
        ));
    }
}
