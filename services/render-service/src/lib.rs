//! render-service: the blog people read.
//!
//! It serves server-rendered HTML (no JavaScript) for the posts that posts-service
//! stores, the one admin's login and add/edit/delete forms, and an Atom feed. It never
//! touches the database: every post comes from posts-service's JSON API (`SPEC.md`,
//! "render-service pages").
//!
//! # Layout
//!
//! Pages sit on top; each layer below only uses the ones below it, never a page.
//!
//! - [`routes`]: the wiring, one line per page module, plus error handling and the
//!   security headers. [`startup`]: [`Application`], which binds the listener and builds
//!   the state; tests call the same `build` and talk to it over HTTP.
//! - [`pages`]: one module per page (`index`, `post`, `editor`, `delete`, `session`,
//!   `feed`, `health`, `assets`): its routes and its handlers.
//! - [`web`]: what every page is built on: the [`web::Visitor`] (session, looked up at
//!   posts-service; cookies, redirects), the client's address ([`web::client`]), the [`web::guards::admin`] filter that yields an [`web::Admin`], forms
//!   with their CSRF check ([`web::forms::csrf_form`]), and how handler results and
//!   rejections become responses ([`web::respond`]).
//! - [`state`]: [`state::AppState`], what handlers share. [`site`]: the blog's identity
//!   and the security headers.
//! - [`posts_client`]: [`PostsClient`], the only way to posts-service, over the
//!   `posts-api` types: one pooled HTTP client with timeouts, the API token,
//!   request-id forwarding and per-call metrics. [`circuit`]: the circuit breaker every
//!   call passes, so a failing posts-service costs nothing per page but a cache lookup.
//! - [`page_cache`]: rendered pages (and the feed) shared between anonymous readers for
//!   at most `PAGE_CACHE_TTL_MS`, unknown ids remembered as 404, and the last good copy
//!   served during a posts-service outage or slowness.
//! - [`auth`]: the admin's session cookie (a random id whose session lives in
//!   posts-service), CSRF tokens, flash messages and the constant-time credential
//!   check, all keyed by `SESSION_SECRET`.
//! - [`login_limit`]: login throttling per client address and for the admin account,
//!   and who the client is (`TRUSTED_PROXIES`).
//! - [`markdown`]: CommonMark to sanitized HTML, and plain-text excerpts.
//! - [`templates`]: the askama page types; the markup lives in `templates/`.
//! - [`error`]: [`PageError`], what can go wrong in a page, and its error page.
//! - [`config`]: the one `Config`, read from the environment once at start.
//!
//! # Adding an admin page
//!
//! 1. A module in `pages/` with `routes(state)`: the path, then
//!    `route("/your/{id}", Method::GET)` (its metrics label and method), then
//!    `admin(state)` (and `csrf_form(state, CsrfScope::Session)` for a POST), then
//!    `.then(handler)`, wrapped in `web::respond::page`. The handler takes an
//!    [`web::Admin`] (and the form) and returns `Result<Response, PageError>`.
//! 2. Its template type in [`templates`] and its markup in `templates/`.
//! 3. One line in [`routes::routes`]: `.or(your_page::routes(&state)).unify()`.

pub mod auth;
pub mod circuit;
pub mod config;
pub mod error;
pub mod login_limit;
pub mod markdown;
pub mod page_cache;
pub mod pages;
pub mod posts_client;
pub mod routes;
pub mod site;
pub mod startup;
pub mod state;
pub mod templates;
pub mod web;

pub use config::Config;
pub use error::PageError;
pub use posts_client::PostsClient;
pub use startup::{Application, StartupError};
