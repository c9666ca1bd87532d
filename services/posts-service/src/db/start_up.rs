//! [`Database`]: the database nodes and whether the service may use them yet.
//!
//! The service opens its listeners before it has seen the database: it starts, and
//! answers `/healthz`, while the database is down. A background task
//! ([`Database::spawn_start_up`]) connects, applies pending migrations (or, with
//! `MIGRATE_ON_START=false`, waits for a migration Job to have done so), and retries
//! with capped exponential backoff until it succeeds; it never gives up, and the process
//! never exits because the database is away. Until then every store operation
//! answers `StoreError::Unavailable` at once (a 503 with `Retry-After`) without touching
//! the pool ([`super::operation`]), and `/readyz` says why it is not ready.
//!
//! Start-up is a one-way latch: once the schema has been seen current, later outages
//! are the per-request business of the stores (timeouts, transient errors) and of
//! [`super::readiness`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::Pool;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::first_owner::{create_first_owner, FirstOwner};
use super::lock::LockScope;
use super::migrate::{migrate, schema_is_current, MigrationError};
use super::nodes::{Node, Nodes};

/// First pause between two start-up attempts.
const FIRST_RETRY: Duration = Duration::from_millis(200);
/// Longest pause between two start-up attempts: a connection attempt twice a second
/// costs the database nothing, and the service turns ready at most that long after the
/// database is back.
const MAX_RETRY: Duration = Duration::from_millis(500);
/// How long one attempt may wait to reach the database (a blackholed host would
/// otherwise hold it for the kernel's TCP timeout).
const REACH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where start-up is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No attempt has finished yet.
    Starting,
    /// The last attempt could not reach the database.
    Unreachable,
    /// The database answers but its schema is behind this binary (migrations not yet
    /// applied, by us or by the migration Job).
    MigrationsPending,
    /// The schema was current: the stores may be used.
    Ready,
}

impl Phase {
    /// Why the service is not ready in this phase, in words safe to send to a client.
    pub fn reason(self) -> &'static str {
        match self {
            Phase::Starting => "database not reached yet",
            Phase::Unreachable => "database unreachable",
            Phase::MigrationsPending => "migrations pending",
            Phase::Ready => "ready",
        }
    }
}

/// The nodes and the start-up latch. Cheap to clone; clones share both.
#[derive(Clone)]
pub struct Database {
    nodes: Arc<Nodes>,
    phase: Arc<watch::Sender<Phase>>,
    /// One pool per node for the migration account, when migrations use their own
    /// (`MIGRATION_DATABASE_USER`); closed once start-up is done.
    migration: Option<Arc<Vec<Pool>>>,
    /// The first owner (`ADMIN_USER`), made once the schema is current when there is no
    /// account yet, before the service turns ready.
    first_owner: Option<Arc<FirstOwner>>,
}

impl Database {
    /// One node over `pool`, not yet started.
    pub fn new(pool: Pool) -> Database {
        Database::with_nodes(Nodes::new(vec![Node {
            label: "database".to_owned(),
            pool,
        }]))
    }

    /// Several nodes of a Galera Cluster (or one): statements go to the writer
    /// ([`super::nodes`]).
    pub fn with_nodes(nodes: Nodes) -> Database {
        Database {
            nodes: Arc::new(nodes),
            phase: Arc::new(watch::Sender::new(Phase::Starting)),
            migration: None,
            first_owner: None,
        }
    }

    /// Start-up makes `owner` the first account when there is none.
    pub fn with_first_owner(mut self, owner: FirstOwner) -> Database {
        self.first_owner = Some(Arc::new(owner));
        self
    }

    /// Migrations go through `pools` (one per node, in the nodes' order), the
    /// migration account's, instead of the nodes' own.
    pub fn migrating_through(mut self, pools: Vec<Pool>) -> Database {
        self.migration = Some(Arc::new(pools));
        self
    }

    /// The writer's connection pool: where every statement goes now.
    pub fn pool(&self) -> &Pool {
        &self.nodes.writer().pool
    }

    /// The nodes and which one writes.
    pub fn nodes(&self) -> &Arc<Nodes> {
        &self.nodes
    }

    /// Where start-up is now.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Whether start-up is done and the stores may be used.
    pub fn is_started(&self) -> bool {
        self.phase() == Phase::Ready
    }

    /// Resolves once start-up is done (tests, and anything that must wait for it).
    pub async fn started(&self) {
        let mut phase = self.phase.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = phase.wait_for(|phase| *phase == Phase::Ready).await;
    }

    /// Starts the background task that brings the database up: connect, then migrate
    /// (`migrate`) or wait for the schema to be current, retrying until it succeeds.
    pub fn spawn_start_up(&self, migrate: bool) -> JoinHandle<()> {
        let database = self.clone();
        tokio::spawn(async move { database.start_up(migrate).await })
    }

    async fn start_up(self, migrate: bool) {
        let began = Instant::now();
        let mut pause = FIRST_RETRY;
        for attempt in 1u32.. {
            match self.attempt(migrate).await {
                Ok(()) => {
                    self.phase.send_replace(Phase::Ready);
                    // The migration account is not needed again by this process.
                    for pool in self.migration.iter().flat_map(|pools| pools.iter()) {
                        let _ = pool.clone().disconnect().await;
                    }
                    tracing::info!(
                        attempt,
                        waited_ms = began.elapsed().as_millis() as u64,
                        "database ready, schema current"
                    );
                    return;
                }
                Err(failure) => {
                    self.phase.send_replace(failure.phase());
                    // mysql_async's messages name the host and user, never the password.
                    tracing::warn!(
                        attempt,
                        retry_in_ms = pause.as_millis() as u64,
                        reason = failure.phase().reason(),
                        error = %failure,
                        "database start-up attempt failed"
                    );
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_RETRY);
        }
    }

    async fn attempt(&self, migrate: bool) -> Result<(), StartUpFailure> {
        // through the writer; a node that does not answer hands the writes to the next
        let writer = self.nodes.writer_index();
        let migration_pool = self.migration.as_ref().and_then(|pools| pools.get(writer));
        let outcome = self.attempt_on(self.pool(), migration_pool, migrate).await;
        if matches!(
            outcome,
            Err(StartUpFailure::Unreachable(_) | StartUpFailure::TimedOut)
        ) {
            self.nodes.writer_failed(writer);
        }
        outcome
    }

    /// Checks the schema through `pool`; applies pending migrations (when `apply`)
    /// through `migration_pool`, or `pool` when there is none.
    async fn attempt_on(
        &self,
        pool: &Pool,
        migration_pool: Option<&Pool>,
        apply: bool,
    ) -> Result<(), StartUpFailure> {
        let current = tokio::time::timeout(REACH_TIMEOUT, schema_is_current(pool))
            .await
            .map_err(|_| StartUpFailure::TimedOut)?
            .map_err(StartUpFailure::Unreachable)?;
        let scope = if self.nodes.is_cluster() {
            LockScope::Cluster
        } else {
            LockScope::Server
        };
        match (current, apply) {
            (true, _) => {}
            (false, false) => return Err(StartUpFailure::Behind),
            (false, true) => migrate(migration_pool.unwrap_or(pool), scope)
                .await
                .map_err(StartUpFailure::Migration)?,
        }
        if let Some(owner) = &self.first_owner {
            let created = tokio::time::timeout(REACH_TIMEOUT, create_first_owner(pool, owner))
                .await
                .map_err(|_| StartUpFailure::TimedOut)?
                .map_err(StartUpFailure::Unreachable)?;
            if created {
                tracing::info!(username = %owner.username, "first owner account created from ADMIN_USER");
            } else {
                tracing::info!("accounts exist: ADMIN_USER and ADMIN_PASSWORD are ignored");
            }
        }
        Ok(())
    }
}

/// Why one start-up attempt failed.
#[derive(Debug, thiserror::Error)]
enum StartUpFailure {
    #[error("{0}")]
    Unreachable(mysql_async::Error),
    #[error("no answer within {REACH_TIMEOUT:?}")]
    TimedOut,
    #[error("schema is behind this binary; waiting for the migrations to be applied")]
    Behind,
    #[error(transparent)]
    Migration(MigrationError),
}

impl StartUpFailure {
    fn phase(&self) -> Phase {
        match self {
            StartUpFailure::Unreachable(_) | StartUpFailure::TimedOut => Phase::Unreachable,
            StartUpFailure::Migration(MigrationError::Database(_)) => Phase::Unreachable,
            StartUpFailure::Behind | StartUpFailure::Migration(_) => Phase::MigrationsPending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_that_is_not_there_keeps_the_latch_closed() {
        // Port 9 (discard) on loopback: nothing listens, connections are refused.
        let pool = Pool::new("mysql://user:pw@127.0.0.1:9/blog?prefer_socket=false");
        let database = Database::new(pool);
        assert_eq!(database.phase(), Phase::Starting);
        let task = database.spawn_start_up(true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while database.phase() != Phase::Unreachable {
            assert!(Instant::now() < deadline, "still {:?}", database.phase());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!database.is_started());
        assert_eq!(database.phase().reason(), "database unreachable");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!task.is_finished(), "start-up keeps retrying");
        task.abort();
    }
}
