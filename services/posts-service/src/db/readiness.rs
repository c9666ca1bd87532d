//! [`Readiness`]: whether the service can do its work, asked at most once a second
//! however often `/readyz` is called, so a flood of readiness probes cannot drain the
//! pool.
//!
//! Before start-up has finished ([`super::start_up`]) the answer is the start-up phase,
//! without touching the database. After it, the database must answer and its schema be
//! the one this binary expects. Reasons are short and safe to send ("database
//! unreachable", "migrations pending"); causes are logged, never sent.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::metrics::DbMetrics;
use super::migrate::schema_is_current;
use super::start_up::{Database, Phase};

/// How long a "ready" is reused.
const READY_FOR: Duration = Duration::from_secs(1);
/// How long a "not ready" is reused: shorter, so recovery shows at once.
const NOT_READY_FOR: Duration = Duration::from_millis(200);
/// How long one check waits for the database.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The cached readiness of the database.
pub struct Readiness {
    database: Database,
    metrics: DbMetrics,
    last: Mutex<Option<(Instant, Result<(), &'static str>)>>,
}

impl Readiness {
    /// Readiness of `database`, reported in `metrics` as `posts_db_up`.
    pub fn new(database: Database, metrics: DbMetrics) -> Readiness {
        Readiness {
            database,
            metrics,
            last: Mutex::new(None),
        }
    }

    /// `Ok` when ready, else why not. Concurrent callers share one check.
    pub async fn check(&self) -> Result<(), &'static str> {
        let phase = self.database.phase();
        if phase != Phase::Ready {
            self.metrics.set_up(false);
            return Err(phase.reason());
        }
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            let fresh_for = if answer.is_ok() {
                READY_FOR
            } else {
                NOT_READY_FOR
            };
            if at.elapsed() < fresh_for {
                return *answer;
            }
        }
        let mut answer = self.check_once().await;
        if matches!(answer, Err(Failure::Connection(_))) {
            // A pooled connection may have died with a restarted server: one more try
            // gets a fresh one.
            answer = self.check_once().await;
        }
        if let Err(failure) = &answer {
            tracing::debug!(cause = %failure, "not ready");
        }
        self.metrics.set_up(answer.is_ok());
        let answer = answer.map_err(|failure| failure.reason());
        *last = Some((Instant::now(), answer));
        answer
    }

    async fn check_once(&self) -> Result<(), Failure> {
        let check = schema_is_current(self.database.pool());
        match tokio::time::timeout(CHECK_TIMEOUT, check).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(Failure::Behind),
            Ok(Err(err)) => Err(Failure::Connection(err)),
            Err(_) => Err(Failure::TimedOut),
        }
    }
}

/// Why the database is not ready.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("schema is behind this binary")]
    Behind,
    #[error("{0}")]
    Connection(mysql_async::Error),
    #[error("readiness check timed out")]
    TimedOut,
}

impl Failure {
    /// What a client is told.
    fn reason(&self) -> &'static str {
        match self {
            Failure::Behind => "schema is behind this binary",
            Failure::Connection(_) => "database unreachable",
            Failure::TimedOut => "database did not answer in time",
        }
    }
}
