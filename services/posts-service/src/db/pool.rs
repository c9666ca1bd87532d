//! The MariaDB connection pool and the schema migrations shipped in the binary.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};
use service_runtime::config::ConfigError;

pub mod lock;
pub mod nodes;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Name of the `GET_LOCK` lock that serialises migrations across replicas.
const MIGRATION_LOCK: &str = "posts_service_migrations";
/// How long a replica waits for another one's migrations before giving up.
const MIGRATION_LOCK_WAIT_SECS: u32 = 120;

/// Checks `DATABASE_URL` without ever quoting it (it holds a password).
pub fn parse_database_url(url: &str) -> Result<Opts, ConfigError> {
    Opts::from_url(url).map_err(|_| {
        ConfigError::invalid(
            "DATABASE_URL",
            "is not a valid mysql://user:password@host:port/database URL",
        )
    })
}

/// Pool settings, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections kept open when idle.
    pub min: usize,
    /// Most connections opened.
    pub max: usize,
}

/// Builds the pool. Connections are opened lazily, so this succeeds while the database
/// is down; the service then answers 503 until it is back.
pub fn connect(url: &str, settings: PoolSettings) -> Result<Pool, ConfigError> {
    connect_node(url, settings, false)
}

/// As [`connect`], for one node of a Galera Cluster when `cluster`: every connection
/// also sets `wsrep_sync_wait = 1`, so a read waits for the writes the cluster committed
/// before it (read-your-writes after a change of writer; 0 on a server without Galera).
pub fn connect_node(url: &str, settings: PoolSettings, cluster: bool) -> Result<Pool, ConfigError> {
    let opts = parse_database_url(url)?;
    let constraints = PoolConstraints::new(settings.min, settings.max)
        .ok_or_else(|| ConfigError::invalid("DB_POOL_MIN", "must not exceed DB_POOL_MAX"))?;
    let pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        // The default resets every connection on return, which also drops its prepared
        // statements: every query would be prepared again. We keep no session state, so
        // skipping the reset is safe and keeps the statement cache warm.
        .with_reset_connection(false)
        .with_inactive_connection_ttl(Duration::from_secs(60))
        .with_ttl_check_interval(Duration::from_secs(30));
    let opts = OptsBuilder::from_opts(opts)
        .pool_opts(pool_opts)
        .stmt_cache_size(32)
        // mysql_async otherwise asks the server for its socket path and reconnects
        // through it, which never applies to a database in another container.
        .prefer_socket(false)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(Duration::from_secs(10)))
        // Timestamps are written with UTC_TIMESTAMP(); this keeps NOW() honest too.
        .init(if cluster {
            vec![
                "SET time_zone = '+00:00'",
                "SET SESSION wsrep_sync_wait = IF(@@wsrep_on, 1, 0)",
            ]
        } else {
            vec!["SET time_zone = '+00:00'"]
        });
    Ok(Pool::new(opts))
}

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

/// Applies pending migrations while holding a database-wide lock, so replicas starting
/// together apply each migration exactly once.
pub async fn migrate(pool: &Pool) -> Result<(), MigrationError> {
    let mut lock_conn = pool.get_conn().await?;
    let acquired: Option<i64> = lock_conn
        .exec_first(
            "SELECT GET_LOCK(?, ?)",
            (MIGRATION_LOCK, MIGRATION_LOCK_WAIT_SECS),
        )
        .await?;
    if acquired != Some(1) {
        return Err(MigrationError::LockTimeout(MIGRATION_LOCK_WAIT_SECS));
    }
    let mut runner_pool = pool.clone();
    let outcome = embedded::migrations::runner()
        .run_async(&mut runner_pool)
        .await;
    // Released explicitly; closing the connection would release it too.
    let _ = lock_conn
        .exec_drop("DO RELEASE_LOCK(?)", (MIGRATION_LOCK,))
        .await;
    let report = outcome?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(())
}

/// As [`migrate`], for a Galera Cluster: the lock is a replicated row ([`lock`]), since
/// `GET_LOCK` holds on one node only.
pub async fn migrate_cluster(pool: &Pool) -> Result<(), MigrationError> {
    let holder = lock::holder_name();
    let wait = Duration::from_secs(u64::from(MIGRATION_LOCK_WAIT_SECS));
    if !lock::acquire(pool, &holder, wait).await? {
        return Err(MigrationError::LockTimeout(MIGRATION_LOCK_WAIT_SECS));
    }
    let mut runner_pool = pool.clone();
    let outcome = embedded::migrations::runner()
        .run_async(&mut runner_pool)
        .await;
    let _ = lock::release(pool, &holder).await;
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

/// ER_NO_SUCH_TABLE: no migration has ever run here.
const NO_SUCH_TABLE: u16 = 1146;

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
