//! What the fault suite's scenarios stand on: the blog's services as real processes,
//! the database container as something to kill and freeze, and the figures a scenario
//! prints.
//!
//! # Layout
//!
//! - [`services`]: [`Scenario`] starts `posts-service` and `render-service` as child
//!   processes (the binaries `cargo build` put next to the test executable), each on
//!   its own ports with its log in `artifacts/faults/<scenario>/`; [`Service`] signals
//!   them (SIGSTOP, SIGCONT, SIGTERM) and waits for them.
//! - [`database`]: a MariaDB container seen from outside: its id, `docker kill -s KILL`,
//!   `docker start`, `docker pause`, the host port it came back on, and a URL for a
//!   database reached through a proxy.
//! - [`tls`]: the run's throwaway CA and certificates: MariaDB requires TLS,
//!   posts-service serves HTTPS, and every client trusts only that CA.
//! - [`measure`]: latencies and their percentiles, and waiting for a condition with the
//!   time it took.
//!
//! The scenarios themselves are in `tests/suite/`; run them with `tests/faults/run.sh`.

pub mod database;
pub mod measure;
pub mod services;
pub mod tls;

pub use services::{Scenario, Service};
