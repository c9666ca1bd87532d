//! Everything that talks to MariaDB, and nothing else does.
//!
//! - [`pool`]: `DATABASE_URL` checked and the pool of one node built ([`connect`]).
//! - [`nodes`]: the nodes of `DATABASE_URLS` (a Galera Cluster), a pool each, and which
//!   one writes; probed in the background.
//! - [`start_up`]: [`Database`], the nodes behind a start-up latch: the listeners open
//!   before the database is seen, and a background task connects and migrates, retrying
//!   until it can.
//! - [`migrate`]: the migrations embedded from `migrations/` and the one runner that
//!   applies them ([`migrate()`]), for one server and for a cluster.
//! - [`lock`]: the migration lock (`GET_LOCK` on one server, a replicated row on a
//!   cluster), so replicas starting together apply each migration once.
//! - [`error`]: [`StoreError`], and which MySQL errors are transient (a 503).
//! - [`operation`]: how one store operation runs: start-up gate, timeout, failover of
//!   the writer, deadlock retries, metrics.
//! - [`metrics`]: [`DbMetrics`], the database's figures for `/metrics`.
//! - [`readiness`]: [`Readiness`], `/readyz`'s database check, asked at most once a
//!   second.
//! - [`posts`]: [`PostStore`], the posts' SQL.
//! - [`rerender`]: the SQL of the background re-render: posts rendered by older rules,
//!   found in batches, and their new rendering stored.
//! - [`slugs`]: the SQL of slugs (claimed in `post_slugs` for good) and tags, run in a
//!   write's transaction.
//! - [`search`]: the SQL of search: the full-text query built from the reader's words.
//! - [`search_text`]: each post's searchable text, written in the post's transaction.
//! - [`sitemap`]: the SQL of the sitemap: the visible posts in pages of ids, and the
//!   tags that have one.
//! - [`backfill`]: the SQL of the backfill: posts without a slug found in batches and
//!   given their slug and publication time.
//! - [`idempotency_keys`]: the SQL of the keys remembered with idempotent creates.
//! - [`sessions`]: [`SessionStore`], the admin's sessions and the failed logins.
//! - [`users`]: [`UserStore`], the accounts.
//! - [`first_owner`]: the first owner made at start-up from `ADMIN_USER` / `ADMIN_PASSWORD`.
//!
//! The stores answer in storage terms ([`StoreError`], [`posts::WriteOutcome`], ...),
//! never HTTP: `crate::error` and the routes make responses of them.

pub mod backfill;
pub mod error;
pub mod first_owner;
pub mod idempotency_keys;
pub mod lock;
pub mod metrics;
pub mod migrate;
pub mod nodes;
pub mod operation;
pub mod pool;
pub mod posts;
pub mod readiness;
pub mod rerender;
pub mod search;
pub mod search_text;
pub mod sessions;
pub mod sitemap;
pub mod slugs;
pub mod start_up;
pub mod users;

pub use error::StoreError;
pub use lock::LockScope;
pub use metrics::DbMetrics;
pub use migrate::{latest_migration_version, migrate, schema_is_current, MigrationError};
pub use pool::{connect, connect_node, parse_database_url, ssl_opts, PoolSettings};
pub use posts::PostStore;
pub use readiness::Readiness;
pub use sessions::SessionStore;
pub use start_up::{Database, Phase};
pub use users::UserStore;
