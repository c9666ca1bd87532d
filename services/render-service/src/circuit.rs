//! [`CircuitBreaker`]: stop asking posts-service while it keeps failing, so that a
//! reader gets the last good copy of a page (or the 503 page) at once instead of after
//! the upstream timeout.
//!
//! Three states, as Nygard's *Release It!* describes them:
//!
//! - **closed**: calls go through. `POSTS_CIRCUIT_FAILURES` consecutive failures (a
//!   timeout, a slow call, a refused or reset connection, a 5xx) open it; any success
//!   resets the count. Answers that show posts-service working (404, 412, 422, any
//!   other 2xx/4xx) count as successes.
//! - **open**: calls fail at once, without touching the network, for
//!   `POSTS_CIRCUIT_OPEN_MS` (the cool-down).
//! - **half-open**: after the cool-down, exactly one call (the trial) goes through while
//!   the others still fail at once. Its success closes the circuit; its failure opens it
//!   for another cool-down. A trial whose caller gave up (the future was dropped)
//!   lets the next call be the trial.
//!
//! **Slow calls.** A call still unanswered after the slow-call threshold
//! (`PAGE_CACHE_STALE_AFTER_MS`: how long a reader with a last good copy waits for a
//! page; see [`CircuitBreaker::counting_slow_calls_after`]) counts as a failure at that
//! moment, without waiting for its timeout: by then readers are already given stale
//! copies, and a frozen posts-service opens the circuit after `POSTS_CIRCUIT_FAILURES`
//! such calls instead of as many timeouts. The call itself goes on. Each call is judged
//! once: by its answer, or as slow when it crosses the threshold, and a slow call's
//! late answer, success or failure, then counts for nothing. Were a late success to
//! count, a posts-service answering every call just past the threshold would reset the
//! run of failures it makes itself, and the circuit would never open while readers
//! keep getting stale copies (the same rule as for answers of calls let through before
//! the circuit opened: they do not decide either).
//!
//! Consecutive failures rather than a failure rate over a window: a blog's traffic is
//! bursty and often low, and "five calls in a row failed" means the same at 1 request a
//! minute and at 1,000 a second, with no window to tune.
//!
//! The state is exported as the gauge `render_circuit_state` (0 closed, 0.5 half-open,
//! 1 open); the `CircuitOpen` alert fires on `== 1`.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{Gauge, IntCounter, Registry};
use service_runtime::traces::{self, KeyValue};

/// The breaker's tuning (`POSTS_CIRCUIT_*`).
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long the circuit stays open before a trial call.
    pub open_for: Duration,
}

/// The circuit's state, as the gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail at once.
    Open,
    /// One trial call is allowed.
    HalfOpen,
}

impl CircuitState {
    /// The gauge's value.
    pub fn gauge_value(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::HalfOpen => 0.5,
            CircuitState::Open => 1.0,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// The breaker. One per [`crate::PostsClient`], shared by its clones.
pub struct CircuitBreaker {
    state: Mutex<State>,
    settings: BreakerSettings,
    slow_after: Option<Duration>,
    gauge: Gauge,
    rejected: IntCounter,
}

/// Leave to make one call. Make it under [`Permit::watch`], then report its outcome with
/// [`Permit::succeeded`] or [`Permit::failed`] (unless it was judged slow); dropped
/// without either (the caller gave up), it counts for nothing.
#[must_use = "report the call's outcome"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    trial: bool,
    settled: bool,
}

impl CircuitBreaker {
    /// A closed breaker whose gauge and rejection counter are registered in `registry`.
    pub fn new(settings: BreakerSettings, registry: &Registry) -> prometheus::Result<Self> {
        let gauge = Gauge::new(
            "render_circuit_state",
            "State of the circuit breaker in front of posts-service: 0 closed, 0.5 half-open, 1 open",
        )?;
        let rejected = IntCounter::new(
            "render_circuit_rejected_total",
            "Calls to posts-service not made because the circuit was open",
        )?;
        registry.register(Box::new(gauge.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        Ok(CircuitBreaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            settings: BreakerSettings {
                failures: settings.failures.max(1),
                open_for: settings.open_for,
            },
            slow_after: None,
            gauge,
            rejected,
        })
    }

    /// The breaker, counting a call still unanswered after `threshold` as a failure
    /// when it crosses it (see the module's "Slow calls"). Zero counts no call as slow:
    /// only its answer (or its timeout) judges it.
    pub fn counting_slow_calls_after(self, threshold: Duration) -> Self {
        CircuitBreaker {
            slow_after: (!threshold.is_zero()).then_some(threshold),
            ..self
        }
    }

    /// Leave to call now, or `None` while the circuit is open (fail at once).
    pub fn admit(&self) -> Option<Permit<'_>> {
        self.admit_at(Instant::now())
    }

    /// The current state.
    pub fn state(&self) -> CircuitState {
        match &*self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Whether posts-service is failing as far as the breaker knows: the circuit is not
    /// closed, or the last call judged failed (a success since would have reset the
    /// count). Readers with a last good copy then get it without waiting.
    pub fn failing(&self) -> bool {
        !matches!(&*self.lock(), State::Closed { failures: 0 })
    }

    fn admit_at(&self, now: Instant) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let trial = match &mut *state {
            State::Closed { .. } => false,
            State::Open { until } if now >= *until => {
                *state = State::HalfOpen {
                    trial_in_flight: true,
                };
                self.show(CircuitState::HalfOpen);
                tracing::info!("circuit half-open: one trial call to posts-service");
                traces::event("circuit_breaker.half_open", Vec::new);
                true
            }
            State::HalfOpen { trial_in_flight } if !*trial_in_flight => {
                *trial_in_flight = true;
                true
            }
            State::Open { .. } | State::HalfOpen { .. } => {
                self.rejected.inc();
                return None;
            }
        };
        Some(Permit {
            breaker: self,
            trial,
            settled: false,
        })
    }

    fn record(&self, trial: bool, success: bool, now: Instant) {
        let mut state = self.lock();
        match (&mut *state, success) {
            (State::Closed { failures }, true) => *failures = 0,
            (State::Closed { failures }, false) => {
                *failures += 1;
                if *failures >= self.settings.failures {
                    let failures = *failures;
                    *state = State::Open {
                        until: now + self.settings.open_for,
                    };
                    self.show(CircuitState::Open);
                    tracing::warn!(
                        failures,
                        open_ms = self.settings.open_for.as_millis() as u64,
                        "circuit open: posts-service keeps failing; calls fail at once"
                    );
                    traces::event("circuit_breaker.open", || {
                        vec![KeyValue::new("failures", i64::from(failures))]
                    });
                }
            }
            (State::HalfOpen { .. }, true) if trial => {
                *state = State::Closed { failures: 0 };
                self.show(CircuitState::Closed);
                tracing::info!("circuit closed: posts-service answered the trial call");
                traces::event("circuit_breaker.closed", Vec::new);
            }
            (State::HalfOpen { .. }, false) if trial => {
                *state = State::Open {
                    until: now + self.settings.open_for,
                };
                self.show(CircuitState::Open);
                tracing::warn!("circuit open again: the trial call to posts-service failed");
                traces::event("circuit_breaker.open", Vec::new);
            }
            // A call let through before the circuit opened, answering late: the trial
            // (or the cool-down) decides, not it.
            (State::Open { .. } | State::HalfOpen { .. }, _) => {}
        }
    }

    fn abandon(&self) {
        if let State::HalfOpen { trial_in_flight } = &mut *self.lock() {
            *trial_in_flight = false;
        }
    }

    fn show(&self, state: CircuitState) {
        self.gauge.set(state.gauge_value());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is valid after any panic (every update is one assignment).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<'a> Permit<'a> {
    /// Makes the call: runs `call` to its end, and if it is still running after the
    /// slow-call threshold, counts it as a failure at that moment. Gives the call's
    /// output and, unless it was judged slow, this permit to report how it went.
    pub async fn watch<F: Future>(self, call: F) -> (F::Output, Option<Permit<'a>>) {
        let Some(threshold) = self.breaker.slow_after else {
            return (call.await, Some(self));
        };
        let mut call = std::pin::pin!(call);
        match tokio::time::timeout(threshold, call.as_mut()).await {
            Ok(output) => (output, Some(self)),
            Err(_) => {
                self.slow(threshold, Instant::now());
                (call.await, None)
            }
        }
    }

    /// posts-service answered in a way that shows it working.
    pub fn succeeded(self) {
        self.settle(true, Instant::now());
    }

    /// The call failed in a way that counts against posts-service.
    pub fn failed(self) {
        self.settle(false, Instant::now());
    }

    fn slow(self, threshold: Duration, now: Instant) {
        tracing::warn!(
            slow_ms = threshold.as_millis() as u64,
            "posts-service call still unanswered after the slow-call threshold: counted as a failure; its answer will count for nothing"
        );
        self.settle(false, now);
    }

    fn settle(mut self, success: bool, now: Instant) {
        self.settled = true;
        self.breaker.record(self.trial, success, now);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled && self.trial {
            self.breaker.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOL_DOWN: Duration = Duration::from_millis(1000);

    fn breaker() -> (CircuitBreaker, Registry) {
        let registry = Registry::new();
        let settings = BreakerSettings {
            failures: 3,
            open_for: COOL_DOWN,
        };
        (CircuitBreaker::new(settings, &registry).unwrap(), registry)
    }

    fn fail(breaker: &CircuitBreaker, now: Instant) {
        breaker.admit_at(now).expect("admitted").settle(false, now);
    }

    fn succeed(breaker: &CircuitBreaker, now: Instant) {
        breaker.admit_at(now).expect("admitted").settle(true, now);
    }

    fn gauge(registry: &Registry) -> String {
        let text = service_runtime::metrics::encode(registry);
        text.lines()
            .find(|line| line.starts_with("render_circuit_state "))
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let (breaker, registry) = breaker();
        let t0 = Instant::now();
        fail(&breaker, t0);
        fail(&breaker, t0);
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_eq!(gauge(&registry), "render_circuit_state 0");
        fail(&breaker, t0);
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(gauge(&registry), "render_circuit_state 1");
        assert!(
            breaker.admit_at(t0 + COOL_DOWN / 2).is_none(),
            "fails at once"
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let (breaker, _) = breaker();
        let t0 = Instant::now();
        fail(&breaker, t0);
        fail(&breaker, t0);
        succeed(&breaker, t0);
        fail(&breaker, t0);
        fail(&breaker, t0);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn after_the_cool_down_one_trial_goes_through_and_its_success_closes() {
        let (breaker, registry) = breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            fail(&breaker, t0);
        }
        let later = t0 + COOL_DOWN;
        let trial = breaker.admit_at(later).expect("the trial");
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert_eq!(gauge(&registry), "render_circuit_state 0.5");
        assert!(
            breaker.admit_at(later).is_none(),
            "only one trial at a time"
        );
        trial.settle(true, later);
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_eq!(gauge(&registry), "render_circuit_state 0");
        succeed(&breaker, later);
    }

    #[test]
    fn a_failed_trial_opens_for_another_cool_down() {
        let (breaker, _) = breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            fail(&breaker, t0);
        }
        let t1 = t0 + COOL_DOWN;
        fail(&breaker, t1);
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(breaker.admit_at(t1 + COOL_DOWN / 2).is_none());
        assert!(breaker.admit_at(t1 + COOL_DOWN).is_some());
    }

    #[test]
    fn an_abandoned_trial_lets_the_next_call_try() {
        let (breaker, _) = breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            fail(&breaker, t0);
        }
        let t1 = t0 + COOL_DOWN;
        drop(breaker.admit_at(t1).expect("the trial"));
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        succeed(&breaker, t1);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn late_answers_of_calls_made_before_opening_do_not_decide() {
        let (breaker, _) = breaker();
        let t0 = Instant::now();
        let early = breaker.admit_at(t0).unwrap();
        for _ in 0..3 {
            fail(&breaker, t0);
        }
        early.settle(true, t0);
        assert_eq!(breaker.state(), CircuitState::Open);
    }

    /// A breaker opening after `failures` failures, counting calls as slow after `slow`.
    fn slow_breaker(failures: u32, slow: Duration) -> CircuitBreaker {
        let settings = BreakerSettings {
            failures,
            open_for: COOL_DOWN,
        };
        CircuitBreaker::new(settings, &Registry::new())
            .unwrap()
            .counting_slow_calls_after(slow)
    }

    /// How long `calls` ran until `breaker` opened; they must not end first.
    async fn until_open(breaker: &CircuitBreaker, calls: impl Future) -> Duration {
        let started = Instant::now();
        let opened = async {
            while breaker.state() != CircuitState::Open {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the breaker never opened"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            started.elapsed()
        };
        tokio::select! {
            _ = calls => panic!("the calls were meant to hang"),
            opened = opened => opened,
        }
    }

    #[tokio::test]
    async fn calls_past_the_slow_threshold_fail_when_they_cross_it_not_at_their_timeout() {
        const SLOW: Duration = Duration::from_millis(50);
        let breaker = slow_breaker(3, SLOW);
        // Three calls to a posts-service that never answers.
        let calls = futures_util::future::join_all((0..3).map(|_| {
            let permit = breaker.admit().expect("closed");
            permit.watch(std::future::pending::<()>())
        }));
        let opened = until_open(&breaker, calls).await;
        assert!(opened >= SLOW, "opened after {opened:?}");
        assert!(breaker.admit().is_none(), "calls fail at once");
    }

    #[tokio::test]
    async fn a_slow_calls_late_answer_counts_for_nothing() {
        let breaker = slow_breaker(2, Duration::from_millis(20));
        // Slow, then a success: judged slow, the success changes nothing.
        let permit = breaker.admit().unwrap();
        let late = tokio::time::sleep(Duration::from_millis(80));
        let ((), permit) = permit.watch(late).await;
        assert!(permit.is_none(), "a slow call is judged already");
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert!(
            breaker.failing(),
            "the late success did not reset the count"
        );
        // So a second slow call is the second failure in a row.
        let permit = breaker.admit().unwrap();
        let calls = permit.watch(std::future::pending::<()>());
        until_open(&breaker, calls).await;
    }

    #[tokio::test]
    async fn a_call_answering_within_the_threshold_is_judged_by_its_answer() {
        let breaker = slow_breaker(1, Duration::from_secs(5));
        let (answer, permit) = breaker.admit().unwrap().watch(async { 7 }).await;
        assert_eq!(answer, 7);
        permit.expect("not judged yet").succeeded();
        assert!(!breaker.failing());
        let ((), permit) = breaker.admit().unwrap().watch(async {}).await;
        permit.expect("not judged yet").failed();
        assert_eq!(breaker.state(), CircuitState::Open);
    }

    #[tokio::test]
    async fn a_slow_trial_opens_the_circuit_again() {
        let breaker = slow_breaker(1, Duration::from_millis(20));
        let t0 = Instant::now();
        fail(&breaker, t0);
        let trial = breaker.admit_at(t0 + COOL_DOWN).expect("the trial");
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        until_open(&breaker, trial.watch(std::future::pending::<()>())).await;
    }

    #[tokio::test]
    async fn without_a_threshold_no_call_is_slow() {
        let breaker = slow_breaker(1, Duration::ZERO);
        let slow = tokio::time::sleep(Duration::from_millis(30));
        let ((), permit) = breaker.admit().unwrap().watch(slow).await;
        permit.expect("judged by its answer").succeeded();
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn failing_means_not_closed_or_the_last_call_failed() {
        let (breaker, _) = breaker();
        let t0 = Instant::now();
        assert!(!breaker.failing());
        fail(&breaker, t0);
        assert!(breaker.failing(), "closed, but the last call failed");
        succeed(&breaker, t0);
        assert!(!breaker.failing());
        for _ in 0..3 {
            fail(&breaker, t0);
        }
        assert!(breaker.failing(), "open");
        let trial = breaker.admit_at(t0 + COOL_DOWN).unwrap();
        assert!(breaker.failing(), "half-open");
        trial.settle(true, t0 + COOL_DOWN);
        assert!(!breaker.failing(), "closed by the trial");
    }

    #[test]
    fn rejections_are_counted() {
        let (breaker, registry) = breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            fail(&breaker, t0);
        }
        for _ in 0..4 {
            assert!(breaker.admit_at(t0).is_none());
        }
        let text = service_runtime::metrics::encode(&registry);
        assert!(text.contains("render_circuit_rejected_total 4"), "{text}");
    }
}
