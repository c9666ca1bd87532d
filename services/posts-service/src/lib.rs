//! posts-service: the blog's data, as a JSON API over MariaDB.
//!
//! It is the only component that talks to the database. The contract is the
//! "posts-service API (v1)" section of `SPEC.md`; `openapi.yaml` beside this crate
//! describes it and the integration tests hold the server to it.
//!
//! # Layout
//!
//! - [`config`]: the environment variables, read once into [`Config`].
//! - [`startup`]: [`Application::build`] binds the listeners, builds the pool and starts
//!   bringing the database up in the background; `run_until_stopped` serves until
//!   shutdown. Tests start it on port 0.
//! - [`database`]: [`database::Database`], the pool and the start-up latch: connect and
//!   migrate with capped backoff, never exiting for want of a database; until done,
//!   every store operation is a 503.
//! - [`routes`]: one filter per API row ([`routes::routes`]), each naming its metrics
//!   label; the handlers in [`routes::posts`], request parsing in [`routes::request`],
//!   health and metrics in [`routes::health`], sessions and failed logins in
//!   [`routes::internal`]. A new endpoint is a handler there and one
//!   line in `routes::routes`.
//! - [`state`]: [`state::AppState`], what every handler is given.
//! - [`store`]: [`store::PostStore`], every SQL statement, each under a timeout, with the
//!   version check done inside the `UPDATE`/`DELETE` itself, and creates under an
//!   `Idempotency-Key` ([`idempotency`]) in one transaction with their key. It answers in
//!   storage terms ([`store::StoreError`]), never HTTP.
//! - [`operation`]: how one database operation runs (start-up gate, timeout, deadlock
//!   retries, metrics) and which MySQL errors are transient ([`operation::StoreError`]).
//! - [`idempotency`]: the `Idempotency-Key` header's rules and digests.
//! - [`session_store`]: [`session_store::SessionStore`], the admin's sessions (by the
//!   SHA-256 of their id) and the failed-login counts, for the internal API in
//!   [`routes::internal`] that every render-service replica shares.
//!
//! The API's data types (`Post`, the input and its rules, problem documents, ETags) are
//! the `posts-api` crate's, shared with render-service's client and the tests.
//! - [`db`]: the pool's settings and the migrations embedded from `migrations/`, applied
//!   under a database lock (`posts-service migrate` runs them alone).
//! - [`db_metrics`]: database and pool figures for `/metrics`, which is served on its own
//!   listener (`METRICS_ADDR`).
//! - [`readiness`]: `/readyz`'s database check, asked at most once a second.
//! - [`error`]: [`error::ApiError`], the one place failures (storage errors included)
//!   become problem+json; a transient database failure is a 503 with `Retry-After`.

pub mod config;
pub mod database;
pub mod db;
pub mod db_metrics;
pub mod error;
pub mod idempotency;
pub mod operation;
pub mod readiness;
pub mod routes;
pub mod session_store;
pub mod startup;
pub mod state;
pub mod store;

pub use config::Config;
pub use startup::{Application, StartupError};
