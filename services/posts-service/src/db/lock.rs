//! The migration lock: replicas of the service starting together take turns, so each
//! migration is applied once.
//!
//! On one server ([`LockScope::Server`]) it is `GET_LOCK`, held by one connection and
//! released with it at worst. `GET_LOCK` is local to one MariaDB server: Galera does not
//! replicate it, so two replicas migrating through two nodes would both get "the" lock.
//! For a cluster ([`LockScope::Cluster`]) the lock is a row, which is replicated: the
//! row with id 1 in `posts_service_migration_lock`, inserted by its holder. Two replicas
//! inserting it at once through different nodes cannot both commit (one gets ERROR 1062
//! on the same node, or ERROR 1213 from Galera's certification on another): the loser
//! waits and tries again. The row carries an expiry, so a holder that died does not
//! block migrations for ever; a live holder is done long before it (migrations take
//! seconds).

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};

/// Name of the `GET_LOCK` lock of [`LockScope::Server`].
const SERVER_LOCK: &str = "posts_service_migrations";

/// How long a taken lock holds if its holder never releases it.
pub const LOCK_EXPIRY_SECS: u32 = 120;
/// Pause between two attempts to take a lock another replica holds.
const RETRY_EVERY: Duration = Duration::from_millis(250);

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS posts_service_migration_lock (
    id         TINYINT UNSIGNED NOT NULL,
    holder     VARCHAR(64)      NOT NULL,
    expires_at DATETIME         NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB";

/// Takes the lock (the row), or takes over an expired one; the holder's name stays in
/// place when another live holder has it. Assignments run left to right: `holder` is
/// decided before `expires_at` changes.
const TAKE: &str = "INSERT INTO posts_service_migration_lock (id, holder, expires_at)
    VALUES (1, ?, UTC_TIMESTAMP() + INTERVAL ? SECOND)
    ON DUPLICATE KEY UPDATE
        holder = IF(expires_at < UTC_TIMESTAMP(), VALUES(holder), holder),
        expires_at = IF(expires_at < UTC_TIMESTAMP(), VALUES(expires_at), expires_at)";

/// Which lock serialises the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// One server: `GET_LOCK`.
    Server,
    /// Several nodes of a Galera Cluster: the replicated row.
    Cluster,
}

/// A lock this replica holds, until [`Held::release`].
pub enum Held {
    /// `GET_LOCK`, on this connection.
    Server(Conn),
    /// The row, under this holder name.
    Cluster(String),
}

/// Takes the lock of `scope`, waiting up to `wait` for another replica to give it up.
/// `Ok(None)`: still held by another replica after `wait`.
pub async fn acquire(
    pool: &Pool,
    scope: LockScope,
    wait: Duration,
) -> Result<Option<Held>, mysql_async::Error> {
    match scope {
        LockScope::Server => {
            let mut conn = pool.get_conn().await?;
            let wait_secs = u32::try_from(wait.as_secs()).unwrap_or(u32::MAX);
            let acquired: Option<i64> = conn
                .exec_first("SELECT GET_LOCK(?, ?)", (SERVER_LOCK, wait_secs))
                .await?;
            Ok((acquired == Some(1)).then_some(Held::Server(conn)))
        }
        LockScope::Cluster => {
            let holder = holder_name();
            Ok(acquire_row(pool, &holder, wait)
                .await?
                .then_some(Held::Cluster(holder)))
        }
    }
}

impl Held {
    /// Gives the lock back.
    pub async fn release(self, pool: &Pool) -> Result<(), mysql_async::Error> {
        match self {
            // closing the connection would release it too
            Held::Server(mut conn) => conn.exec_drop("DO RELEASE_LOCK(?)", (SERVER_LOCK,)).await,
            Held::Cluster(holder) => release_row(pool, &holder).await,
        }
    }
}

/// A name for this attempt: the process id and a random number.
fn holder_name() -> String {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}-{random:016x}", std::process::id())
}

/// Takes the row for `holder`, waiting up to `wait` for another holder to release it
/// (or for its expiry). `Ok(false)`: still held by another replica after `wait`.
async fn acquire_row(
    pool: &Pool,
    holder: &str,
    wait: Duration,
) -> Result<bool, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    conn.query_drop(CREATE_TABLE).await?;
    let deadline = Instant::now() + wait;
    loop {
        match conn.exec_drop(TAKE, (holder, LOCK_EXPIRY_SECS)).await {
            Ok(()) => {
                let owner: Option<String> = conn
                    .query_first("SELECT holder FROM posts_service_migration_lock WHERE id = 1")
                    .await?;
                if owner.as_deref() == Some(holder) {
                    return Ok(true);
                }
            }
            // another replica took it at the same moment through another node (1213,
            // Galera certification) or this one (1062)
            Err(mysql_async::Error::Server(err)) if err.code == 1213 || err.code == 1062 => {}
            Err(err) => return Err(err),
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Gives the row back (only if `holder` still has it).
async fn release_row(pool: &Pool, holder: &str) -> Result<(), mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    conn.exec_drop(
        "DELETE FROM posts_service_migration_lock WHERE id = 1 AND holder = ?",
        (holder,),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attempt_has_its_own_name_that_fits_the_column() {
        let (a, b) = (holder_name(), holder_name());
        assert_ne!(a, b);
        assert!(a.len() <= 64 && a.starts_with(&format!("{}-", std::process::id())));
    }
}
