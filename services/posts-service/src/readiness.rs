//! [`Readiness`]: whether the database answers and its schema is current, asked at most
//! once a second however often `/readyz` is called, so a flood of readiness probes
//! cannot drain the pool.

use std::time::{Duration, Instant};

use mysql_async::Pool;
use tokio::sync::Mutex;

/// How long an answer is reused.
const FRESH_FOR: Duration = Duration::from_secs(1);
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
            if at.elapsed() < FRESH_FOR {
                return answer.clone();
            }
        }
        let answer =
            match tokio::time::timeout(CHECK_TIMEOUT, crate::db::schema_is_current(&self.pool))
                .await
            {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err("schema is behind this binary".to_owned()),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err("readiness check timed out".to_owned()),
            };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}
