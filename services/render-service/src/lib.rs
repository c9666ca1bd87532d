//! render-service: the blog people read.
//!
//! It serves server-rendered HTML (no JavaScript) for the posts that posts-service
//! stores, the one admin's login and add/edit/delete forms, and an Atom feed. It never
//! touches the database: every post comes from posts-service's JSON API.
//!
//! # Layout
//!
//! Pages sit on top; each module uses only the ones listed after it.
//!
//! - [`startup`]: [`Application`], which checks the configuration, binds the listeners
//!   and builds the state; `main` and the tests call the same `build`.
//! - [`routes`]: the wiring, one line per page module, plus error handling and the
//!   security headers.
//! - [`pages`]: one module per page (`index`, `post`, `editor`, `admin`, `delete`,
//!   `session`, `feed`, `sitemap`, `tags`, `search`, `health`, `assets`), each with its
//!   routes and its handlers.
//! - [`web`]: what every page is built on: the [`web::Visitor`] and its session, the
//!   client's address, the [`web::guards::admin`] filter, CSRF-checked forms and how
//!   handler results and rejections become responses.
//! - [`state`]: [`state::AppState`], what handlers share, and the process's readiness.
//! - [`page_cache`]: rendered pages (and the feed) shared between anonymous readers for
//!   at most `PAGE_CACHE_TTL_MS`, unknown ids remembered as 404, and the last good copy
//!   served during a posts-service outage or slowness.
//! - [`error`]: [`PageError`], what can go wrong in a page, and its error page.
//! - [`templates`]: the askama page types, whose markup lives in `templates/`.
//! - [`auth`]: the admin's session cookie (a random id whose session lives in
//!   posts-service), CSRF tokens, flash messages and the constant-time credential
//!   check, all keyed by `SESSION_SECRET`.
//! - [`login_limit`]: login throttling per client address and for the admin account.
//! - [`search_limit`]: searches per client address (`SEARCH_PER_MINUTE`).
//! - [`forwarded`]: who the client is behind proxies (`TRUSTED_PROXIES`,
//!   `TRUSTED_PROXY_HOPS` and `X-Forwarded-For`).
//! - [`site`]: the blog's identity and the security headers every response carries.
//! - [`posts_client`]: [`PostsClient`], the only way to posts-service: one method per
//!   API call over a pooled HTTP client with timeouts, the API token, request-id
//!   forwarding and metrics by operation and [`posts_client::Outcome`].
//! - [`config`]: the one [`Config`], read from the environment once at start.
//! - [`circuit`]: the circuit breaker every call to posts-service passes, so a failing
//!   posts-service costs a page nothing but a cache lookup.
//! - [`slug`]: what `/posts/{key}` names (an id or a checked slug), kept inline.
//! - [`zone`]: `BLOG_TIMEZONE` and the post form's publish time read in it.
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
pub mod forwarded;
pub mod login_limit;
pub mod page_cache;
pub mod pages;
pub mod posts_client;
pub mod routes;
pub mod search_limit;
pub mod site;
pub mod slug;
pub mod startup;
pub mod state;
pub mod templates;
pub mod web;
pub mod zone;

pub use config::Config;
pub use error::PageError;
pub use posts_client::PostsClient;
pub use startup::{Application, StartupError};
