//! [`Readiness`]: whether the database answers and its schema is current, asked at most
//! once a second however often `/readyz` is called, so a flood of readiness probes
//! cannot drain the pool.

use std::time::{Duration, Instant};

use mysql_async::Pool;
use tokio::sync::Mutex;

/// How long a "ready" is reused.
const READY_FOR: Duration = Duration::from_secs(1);
/// How long a "not ready" is reused: shorter, so recovery shows at once.
const NOT_READY_FOR: Duration = Duration::from_millis(200);
/// How long one check waits for the database.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The cached readiness of the database.
pub struct Readiness {
    pool: Pool,
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Readiness {
    /// Readiness of the database behind `pool`.
    pub fn new(pool: Pool) -> Readiness {
        Readiness {
            pool,
            last: Mutex::new(None),
        }
    }

    /// `Ok` when ready, else why not. Concurrent callers share one check.
    pub async fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            let fresh_for = if answer.is_ok() {
                READY_FOR
            } else {
                NOT_READY_FOR
            };
            if at.elapsed() < fresh_for {
                return answer.clone();
            }
        }
        let mut answer = self.check_once().await;
        if matches!(answer, Err(Failure::Connection(_))) {
            // A pooled connection may have died with a restarted server: one more try
            // gets a fresh one.
            answer = self.check_once().await;
        }
        let answer = answer.map_err(|failure| failure.to_string());
        *last = Some((Instant::now(), answer.clone()));
        answer
    }

    async fn check_once(&self) -> Result<(), Failure> {
        match tokio::time::timeout(CHECK_TIMEOUT, crate::db::schema_is_current(&self.pool)).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(Failure::Behind),
            Ok(Err(err)) => Err(Failure::Connection(err.to_string())),
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
    Connection(String),
    #[error("readiness check timed out")]
    TimedOut,
}
