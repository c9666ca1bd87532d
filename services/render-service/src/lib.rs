//! render-service: the blog people read.
//!
//! It serves server-rendered HTML (no JavaScript) for the posts that posts-service
//! stores, the one admin's login and add/edit/delete forms, and an Atom feed. It never
//! touches the database: every post comes from posts-service's JSON API (`SPEC.md`,
//! "render-service pages").
//!
//! # Layout
//!
//! - [`config`]: the one `Config`, read from the environment once at start.
//! - [`startup`]: [`Application`], which binds the listener and builds the client,
//!   metrics and routes; tests call the same `build` and talk to it over HTTP.
//! - [`routes`]: one file per page, composed in `routes/mod.rs` into the filter the
//!   server runs; also the route templates metrics are labelled with and the security
//!   headers every response carries.
//! - [`posts_client`]: [`PostsClient`], the only way to posts-service: one pooled HTTP
//!   client with timeouts, the API token, request-id forwarding and per-call metrics.
//! - [`page_cache`]: rendered pages shared between anonymous readers for at most
//!   `PAGE_CACHE_TTL_MS`, and the last good copy served during a posts-service outage.
//! - [`auth`]: the admin's signed session cookie, CSRF tokens, flash messages and the
//!   constant-time credential check, all keyed by `SESSION_SECRET`.
//! - [`markdown`]: CommonMark to sanitized HTML, and plain-text excerpts.
//! - [`templates`]: the askama page types; the markup lives in `templates/`.
//! - [`error`]: [`PageError`], what can go wrong in a page, and the one `recover` that
//!   turns every error and rejection into an error page.
//!
//! Static assets (the stylesheet) are compiled into the binary (`routes/assets.rs`).

pub mod auth;
pub mod config;
pub mod error;
pub mod markdown;
pub mod page_cache;
pub mod posts_client;
pub mod routes;
pub mod startup;
pub mod templates;

pub use config::Config;
pub use error::PageError;
pub use posts_client::PostsClient;
pub use startup::{Application, StartupError};
