//! posts-service: the blog's data, as a JSON API over MariaDB.
//!
//! It is the only component that talks to the database. `openapi.yaml` beside this crate
//! describes the API, `docs/api.md` explains it, and the integration tests hold the
//! server to both.
//!
//! # Layout
//!
//! - [`config`]: the environment variables, read once into [`Config`].
//! - [`startup`]: [`Application::build`] binds the listeners, builds the pools and starts
//!   bringing the database up in the background; `run_until_stopped` serves until
//!   shutdown. Tests start it on port 0.
//! - [`db`]: everything that talks to MariaDB: the pools and nodes, the start-up latch
//!   (until the database is seen and migrated, every store operation is a 503), the
//!   migrations and their lock, which MySQL errors are transient, the stores of posts,
//!   idempotency keys and sessions, `/readyz`'s check and the database's metrics. Its
//!   module doc is the map of that tree.
//! - [`routes`]: one filter per API row ([`routes::routes`]), each naming its metrics
//!   label; the handlers of posts in [`routes::posts`], of sessions and failed logins
//!   in [`routes::internal`], of health and metrics in [`routes::health`]; request
//!   parsing (the bearer token checked before any body is read) in [`routes::request`],
//!   JSON answers in [`routes::reply`].
//! - [`rendering`]: a post's body rendered when it is written ([`post_render`]), so
//!   readers get stored HTML and teasers.
//! - [`rerender`]: the background walk that re-renders posts rendered by older rules,
//!   at a bounded rate.
//! - [`backfill`]: the background walk that gives posts made before slugs existed
//!   their slug and publication time.
//! - [`passwords`]: Argon2id hashing and checking of account passwords, on the
//!   blocking pool.
//! - [`idempotency`]: the `Idempotency-Key` rules: what a key is, what makes two
//!   requests the same, how long keys are kept.
//! - [`error`]: [`error::ApiError`], the one place failures (storage errors included)
//!   become problem+json; a transient database failure is a 503 with `Retry-After`.
//! - [`state`]: [`state::AppState`], what every handler is given.
//!
//! The binary (`main.rs`) serves (`posts-service`), applies the migrations and exits
//! (`posts-service migrate`), or asks a running service's `/readyz` (`posts-service
//! healthcheck`, for container health checks).
//!
//! The API's data types (`Post`, the input and its rules, problem documents, ETags) are
//! the `posts-api` crate's, shared with render-service's client and the tests.

pub mod backfill;
pub mod config;
pub mod db;
pub mod error;
pub mod idempotency;
pub mod passwords;
pub mod rendering;
pub mod rerender;
pub mod routes;
pub mod startup;
pub mod state;

pub use config::Config;
pub use startup::{Application, StartupError};
