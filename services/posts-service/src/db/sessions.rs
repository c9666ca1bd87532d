//! [`SessionStore`]: the admin's sessions and the failed-login counts, in MariaDB, for
//! every render-service replica to share (SQL next to the code that runs it).
//!
//! Sessions are rows keyed by the SHA-256 of the session id (render-service sends only
//! that digest). Looking one up slides its idle expiry, never past its absolute one; a
//! row past either expiry is never answered, and is purged whenever a session is made.
//! Failed logins are rows of (client address, time), purged once older than the
//! account window.

use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use posts_api::session::{LoginFailures, SessionInfo, ACCOUNT_WINDOW_SECS, CLIENT_WINDOW_SECS};
use time::PrimitiveDateTime;

use super::error::StoreError;
use super::metrics::DbMetrics;
use super::operation::{bounded, sql};
use super::start_up::Database;

/// A session's key as stored: the 32 bytes of its SHA-256 digest.
pub type SessionKey = [u8; 32];

/// Most expired rows one purge removes, so a purge never holds locks for long.
const PURGE_BATCH: u32 = 1000;

/// Reads and writes sessions and failed logins.
#[derive(Clone)]
pub struct SessionStore {
    database: Database,
    timeout: Duration,
    metrics: DbMetrics,
}

impl SessionStore {
    /// A store over `database` whose operations give up after `timeout`.
    pub fn new(database: Database, timeout: Duration, metrics: DbMetrics) -> SessionStore {
        SessionStore {
            database,
            timeout,
            metrics,
        }
    }

    /// Stores a new session (after purging expired ones); `None` when one with this
    /// key exists already (a 256-bit random id never repeats, so that is a client bug).
    pub async fn create(
        &self,
        key: SessionKey,
        idle_secs: u32,
        lifetime_secs: u32,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let row: Option<Row> = self.on_connection("create_session", |mut conn| async move {
            sql("DELETE admin_sessions", conn.exec_drop(
                "DELETE FROM admin_sessions \
                 WHERE idle_expires_at <= UTC_TIMESTAMP(3) OR expires_at <= UTC_TIMESTAMP(3) \
                 LIMIT ?",
                (PURGE_BATCH,),
            ))
            .await?;
            sql("INSERT admin_sessions", conn.exec_first(
                "INSERT IGNORE INTO admin_sessions \
                 (session_key, created_at, idle_secs, idle_expires_at, expires_at) \
                 VALUES (?, UTC_TIMESTAMP(3), ?, \
                 LEAST(UTC_TIMESTAMP(3) + INTERVAL ? SECOND, UTC_TIMESTAMP(3) + INTERVAL ? SECOND), \
                 UTC_TIMESTAMP(3) + INTERVAL ? SECOND) \
                 RETURNING idle_expires_at, expires_at",
                (&key[..], idle_secs, idle_secs, lifetime_secs, lifetime_secs),
            ))
            .await
        })
        .await?;
        row.map(info_from_row).transpose()
    }

    /// The session with this key if it is current, its idle expiry slid forward (never
    /// past its absolute expiry); `None` when absent or expired.
    pub async fn touch(&self, key: SessionKey) -> Result<Option<SessionInfo>, StoreError> {
        let row: Option<Row> = self.on_connection("touch_session", |mut conn| async move {
            sql("UPDATE admin_sessions", conn.exec_drop(
                "UPDATE admin_sessions \
                 SET idle_expires_at = LEAST(expires_at, UTC_TIMESTAMP(3) + INTERVAL idle_secs SECOND) \
                 WHERE session_key = ? \
                 AND idle_expires_at > UTC_TIMESTAMP(3) AND expires_at > UTC_TIMESTAMP(3)",
                (&key[..],),
            ))
            .await?;
            sql("SELECT admin_sessions", conn.exec_first(
                "SELECT idle_expires_at, expires_at FROM admin_sessions \
                 WHERE session_key = ? \
                 AND idle_expires_at > UTC_TIMESTAMP(3) AND expires_at > UTC_TIMESTAMP(3)",
                (&key[..],),
            ))
            .await
        })
        .await?;
        row.map(info_from_row).transpose()
    }

    /// Ends the session with this key; whether there was one.
    pub async fn delete(&self, key: SessionKey) -> Result<bool, StoreError> {
        let deleted = self
            .on_connection("delete_session", |mut conn| async move {
                sql(
                    "DELETE admin_sessions",
                    conn.exec_drop(
                        "DELETE FROM admin_sessions WHERE session_key = ?",
                        (&key[..],),
                    ),
                )
                .await?;
                Ok::<_, mysql_async::Error>(conn.affected_rows())
            })
            .await?;
        Ok(deleted > 0)
    }

    /// Records one wrong password from `client` (after purging failures older than the
    /// account window) and answers the counts including it.
    pub async fn record_login_failure(&self, client: &str) -> Result<LoginFailures, StoreError> {
        let row: Option<Row> = self
            .on_connection("record_login_failure", |mut conn| async move {
                sql(
                    "DELETE login_failures",
                    conn.exec_drop(
                        "DELETE FROM login_failures \
                     WHERE failed_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND LIMIT ?",
                        (ACCOUNT_WINDOW_SECS, PURGE_BATCH),
                    ),
                )
                .await?;
                sql("INSERT login_failures", conn.exec_drop(
                    "INSERT INTO login_failures (client, failed_at) VALUES (?, UTC_TIMESTAMP(3))",
                    (client,),
                ))
                .await?;
                sql(
                    "SELECT login_failures",
                    conn.exec_first(COUNT_FAILURES, count_params(client)),
                )
                .await
            })
            .await?;
        failures_from_row(row)
    }

    /// The counts of recent wrong passwords, for the account and for `client`.
    pub async fn login_failures(&self, client: &str) -> Result<LoginFailures, StoreError> {
        let row: Option<Row> = self
            .on_connection("count_login_failures", |mut conn| async move {
                sql(
                    "SELECT login_failures",
                    conn.exec_first(COUNT_FAILURES, count_params(client)),
                )
                .await
            })
            .await?;
        failures_from_row(row)
    }

    /// Runs `work` on a connection from the pool under the timeout, recording its
    /// outcome as `operation`.
    async fn on_connection<T, F>(
        &self,
        operation: &'static str,
        work: impl FnOnce(Conn) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, mysql_async::Error>>,
    {
        let pool = self.database.pool().clone();
        let work = async move { work(pool.get_conn().await?).await };
        bounded(&self.database, self.timeout, &self.metrics, operation, work).await
    }
}

/// The three counts in one statement; the `failed_at` index serves the window.
const COUNT_FAILURES: &str = "SELECT COUNT(*), \
     CAST(COALESCE(SUM(client = ?), 0) AS UNSIGNED), \
     CAST(COALESCE(SUM(client = ? AND failed_at >= UTC_TIMESTAMP(3) - INTERVAL ? SECOND), 0) \
     AS UNSIGNED) \
     FROM login_failures WHERE failed_at >= UTC_TIMESTAMP(3) - INTERVAL ? SECOND";

fn count_params(client: &str) -> (&str, &str, u32, u32) {
    (client, client, CLIENT_WINDOW_SECS, ACCOUNT_WINDOW_SECS)
}

fn failures_from_row(row: Option<Row>) -> Result<LoginFailures, StoreError> {
    let malformed = || StoreError::Internal("unexpected row shape from login_failures".to_owned());
    let row = row.ok_or_else(malformed)?;
    let (account, client_hour, client_minute): (u64, u64, u64) =
        mysql_async::from_row_opt(row).map_err(|_| malformed())?;
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(LoginFailures {
        account_last_hour: clamp(account),
        client_last_hour: clamp(client_hour),
        client_last_minute: clamp(client_minute),
    })
}

fn info_from_row(row: Row) -> Result<SessionInfo, StoreError> {
    let malformed = || StoreError::Internal("unexpected row shape from admin_sessions".to_owned());
    let (idle_expires_at, expires_at): (PrimitiveDateTime, PrimitiveDateTime) =
        mysql_async::from_row_opt(row).map_err(|_| malformed())?;
    Ok(SessionInfo {
        idle_expires_at: idle_expires_at.assume_utc(),
        expires_at: expires_at.assume_utc(),
    })
}
