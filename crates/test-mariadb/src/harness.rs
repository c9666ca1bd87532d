//! A test harness (`harness = false` test targets) that shares one MariaDB container
//! among all the async cases of a test binary and removes it at the end.
//!
//! ```text
//! fn main() -> std::process::ExitCode {
//!     test_mariadb::harness::run(test_mariadb::cases![creating_a_post_returns_201])
//! }
//! async fn creating_a_post_returns_201(db: test_mariadb::harness::Db) { /* … */ }
//! ```
//!
//! Output and flags are libtest's (`cargo test -- name_filter`, `--list`, `--nocapture`).
//! The container starts on the first case that asks for it, so `--list` starts nothing.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use tokio::sync::OnceCell;

use crate::MariaDb;

/// What a case receives: the shared database server, started on first use.
#[derive(Clone)]
pub struct Db {
    server: Arc<OnceCell<MariaDb>>,
    start: StartServer,
}

/// Starts the shared server: [`MariaDb::start`] unless [`run_with_server`] says otherwise.
pub type StartServer = fn() -> Pin<Box<dyn Future<Output = MariaDb> + Send>>;

impl Db {
    /// The shared server, started if no case has started it yet.
    pub async fn server(&self) -> &MariaDb {
        self.server.get_or_init(self.start).await
    }

    /// A fresh, empty database on the shared server.
    pub async fn fresh_database(&self) -> String {
        self.server().await.fresh_database().await
    }
}

/// The future a case returns.
pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One named async test.
pub struct Case {
    name: &'static str,
    body: fn(Db) -> CaseFuture,
}

impl Case {
    /// A case called `name` running `body`.
    pub const fn new(name: &'static str, body: fn(Db) -> CaseFuture) -> Self {
        Case { name, body }
    }
}

/// Lists async test functions as [`Case`]s: `cases![first_test, second_test]`.
#[macro_export]
macro_rules! cases {
    ($($test:path),* $(,)?) => {
        vec![$($crate::harness::Case::new(
            stringify!($test),
            |db| Box::pin($test(db)),
        )),*]
    };
}

/// Runs the cases and returns the process exit code (failure when any case failed).
pub fn run(cases: Vec<Case>) -> ExitCode {
    // The cases wait on the network, not the CPU: run more of them at once than cores.
    run_with_threads(cases, 8)
}

/// The longest one case may run: a case that hangs fails, named, instead of holding up
/// the whole binary.
const CASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// [`run`], with `threads` cases at a time unless `--test-threads` says otherwise: for
/// cases that load the machine or measure latency, and so must not crowd each other.
pub fn run_with_threads(cases: Vec<Case>, threads: usize) -> ExitCode {
    run_with_server(cases, threads, || Box::pin(MariaDb::start()))
}

/// [`run_with_threads`], with the shared server started by `start` (one that requires
/// TLS, for instance: [`MariaDb::start_with_tls`]).
pub fn run_with_server(cases: Vec<Case>, threads: usize, start: StartServer) -> ExitCode {
    let mut arguments = Arguments::from_args();
    if arguments.test_threads.is_none() {
        arguments.test_threads = Some(threads);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Arc::new(runtime),
        Err(err) => {
            eprintln!("cannot start the Tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let db = Db {
        server: Arc::new(OnceCell::new()),
        start,
    };

    let trials = cases
        .into_iter()
        .map(|case| {
            let runtime = Arc::clone(&runtime);
            let db = db.clone();
            Trial::test(case.name, move || {
                let handle = runtime.spawn((case.body)(db));
                let abort = handle.abort_handle();
                // The timer is made inside the runtime, which drives it.
                match runtime.block_on(async { tokio::time::timeout(CASE_TIMEOUT, handle).await }) {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(join_error)) => Err(Failed::from(panic_message(join_error))),
                    Err(_) => {
                        abort.abort();
                        Err(Failed::from(format!(
                            "did not finish within {} s",
                            CASE_TIMEOUT.as_secs()
                        )))
                    }
                }
            })
        })
        .collect();

    let conclusion = libtest_mimic::run(&arguments, trials);

    if let Some(cell) = Arc::into_inner(db.server) {
        if let Some(server) = cell.into_inner() {
            runtime.block_on(server.remove());
        }
    }
    conclusion.exit_code()
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "test panicked".to_owned()),
        Err(error) => error.to_string(),
    }
}
