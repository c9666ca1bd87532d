//! The schema migrations embedded from `migrations/`, and the one runner that applies
//! them, for a single server and for a Galera Cluster alike: take the migration lock
//! ([`super::lock`]), let refinery apply what is pending, give the lock back.
//!
//! Also how far a database's schema is: [`schema_is_current`], which start-up and
//! `/readyz` ask.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Pool;

use super::lock::{self, LockScope};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// How long a replica waits for another one's migrations before giving up.
const LOCK_WAIT_SECS: u32 = 120;

/// ER_NO_SUCH_TABLE: no migration has ever run here.
const NO_SUCH_TABLE: u16 = 1146;

/// Why migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The database did not answer.
    #[error("cannot reach the database: {0}")]
    Database(#[from] mysql_async::Error),
    /// Another replica held the lock for too long.
    #[error("another instance held the migration lock for more than {0} seconds")]
    LockTimeout(u32),
    /// A migration failed or the history disagrees with the binary.
    #[error("migration failed: {0}")]
    Refinery(#[from] refinery::Error),
}

/// Applies pending migrations while holding the migration lock of `scope`, so replicas
/// starting together apply each migration exactly once.
pub async fn migrate(pool: &Pool, scope: LockScope) -> Result<(), MigrationError> {
    let wait = Duration::from_secs(u64::from(LOCK_WAIT_SECS));
    let Some(held) = lock::acquire(pool, scope, wait).await? else {
        return Err(MigrationError::LockTimeout(LOCK_WAIT_SECS));
    };
    let mut runner_pool = pool.clone();
    let outcome = embedded::migrations::runner()
        .run_async(&mut runner_pool)
        .await;
    // A lock left behind is not fatal: the server's goes with its connection, the
    // cluster's row expires.
    let _ = held.release(pool).await;
    let report = outcome?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(())
}

/// The newest migration version this binary ships.
pub fn latest_migration_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// Whether the database answers and its schema is the one this binary expects (`false`
/// for a database never migrated).
pub async fn schema_is_current(pool: &Pool) -> Result<bool, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    let applied: Option<Option<i64>> = match conn
        .query_first("SELECT MAX(version) FROM refinery_schema_history")
        .await
    {
        Ok(applied) => applied,
        Err(mysql_async::Error::Server(err)) if err.code == NO_SUCH_TABLE => None,
        Err(err) => return Err(err),
    };
    Ok(applied.flatten().unwrap_or(0) >= latest_migration_version())
}
