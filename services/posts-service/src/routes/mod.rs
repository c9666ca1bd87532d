//! The HTTP surface: one filter per route, composed so that it reads like the API table.
//!
//! Path and method are matched by warp, and each route names its metrics label right
//! after its path ([`service_runtime::metrics::route`]). Then a route that takes a post
//! id checks it, and a route that needs the token checks it
//! ([`request::authorized`]) before the body filter ([`request::body`]): a request
//! without the token is refused without its body being read. Those two refusals are
//! answered by their own route ([`request::Refused`], in `answer`). Everything else
//! (body, headers) is read by the handler, which answers with a response or an
//! [`ApiError`]. The only rejections that leave a route are "no such route" and "wrong
//! method", turned into problem+json by [`crate::error::recover`].

pub mod accounts;
pub mod health;
pub mod internal;
pub mod posts;
pub mod reply;
pub mod request;
pub mod search;
pub mod sitemap;

use std::convert::Infallible;
use std::sync::Arc;

use http::Method;
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::error::{self, ApiError};
use crate::state::AppState;

/// All routes of the service.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let list = warp::path!("v1" / "posts")
        .and(route("/v1/posts", Method::GET))
        .and(raw_query())
        .and(request::audience(&state.api_token))
        .and(with_state(&state))
        .then(posts::list);
    let summaries = warp::path!("v1" / "post-summaries")
        .and(route("/v1/post-summaries", Method::GET))
        .and(raw_query())
        .and(request::audience(&state.api_token))
        .and(with_state(&state))
        .then(posts::summaries);
    let search = warp::path!("v1" / "search")
        .and(route("/v1/search", Method::GET))
        .and(raw_query())
        .and(with_state(&state))
        .then(search::search);
    let sitemap_outline = warp::path!("v1" / "sitemap")
        .and(route("/v1/sitemap", Method::GET))
        .and(with_state(&state))
        .then(sitemap::outline);
    let sitemap_posts = warp::path!("v1" / "sitemap" / "posts")
        .and(route("/v1/sitemap/posts", Method::GET))
        .and(raw_query())
        .and(with_state(&state))
        .then(sitemap::posts);
    let get = warp::path!("v1" / "posts" / String)
        .and(route("/v1/posts/{id}", Method::GET))
        .and(request::audience(&state.api_token))
        .and(with_state(&state))
        .then(posts::get);
    let create = warp::path!("v1" / "posts")
        .and(route("/v1/posts", Method::POST))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(posts::create);
    let update = warp::path!("v1" / "posts" / String)
        .and(route("/v1/posts/{id}", Method::PUT))
        .and_then(request::known_post_id)
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(posts::update);
    let delete = warp::path!("v1" / "posts" / String)
        .and(route("/v1/posts/{id}", Method::DELETE))
        .and_then(request::known_post_id)
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(with_state(&state))
        .then(posts::delete);
    let create_session = warp::path!("internal" / "v1" / "sessions")
        .and(route("/internal/v1/sessions", Method::POST))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(internal::create_session);
    let touch_session = warp::path!("internal" / "v1" / "sessions" / String)
        .and(route("/internal/v1/sessions/{key}", Method::GET))
        .and(request::authorized(&state.api_token))
        .and(with_state(&state))
        .then(internal::touch_session);
    let delete_session = warp::path!("internal" / "v1" / "sessions" / String)
        .and(route("/internal/v1/sessions/{key}", Method::DELETE))
        .and(request::authorized(&state.api_token))
        .and(with_state(&state))
        .then(internal::delete_session);
    let record_login_failure = warp::path!("internal" / "v1" / "login-failures")
        .and(route("/internal/v1/login-failures", Method::POST))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(internal::record_login_failure);
    let login_failures = warp::path!("internal" / "v1" / "login-failures")
        .and(route("/internal/v1/login-failures", Method::GET))
        .and(raw_query())
        .and(request::authorized(&state.api_token))
        .and(with_state(&state))
        .then(internal::login_failures);
    let login = warp::path!("internal" / "v1" / "logins")
        .and(route("/internal/v1/logins", Method::POST))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(accounts::login);
    let list_users = warp::path!("internal" / "v1" / "users")
        .and(route("/internal/v1/users", Method::GET))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(with_state(&state))
        .then(accounts::list_users);
    let create_user = warp::path!("internal" / "v1" / "users")
        .and(route("/internal/v1/users", Method::POST))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(accounts::create_user);
    let update_user = warp::path!("internal" / "v1" / "users" / String)
        .and(route("/internal/v1/users/{id}", Method::PATCH))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(accounts::update_user);
    let set_password = warp::path!("internal" / "v1" / "users" / String / "password")
        .and(route("/internal/v1/users/{id}/password", Method::PUT))
        .and(request::authorized(&state.api_token))
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(accounts::set_password);
    let healthz = warp::path!("healthz")
        .and(route("/healthz", Method::GET))
        .then(health::healthz);
    let readyz = warp::path!("readyz")
        .and(route("/readyz", Method::GET))
        .and(with_state(&state))
        .then(health::readyz);

    answer(list)
        .or(answer(summaries))
        .unify()
        .or(answer(search))
        .unify()
        .or(answer(sitemap_outline))
        .unify()
        .or(answer(sitemap_posts))
        .unify()
        .or(answer(get))
        .unify()
        .or(answer(create))
        .unify()
        .or(answer(update))
        .unify()
        .or(answer(delete))
        .unify()
        .or(answer(create_session))
        .unify()
        .or(answer(touch_session))
        .unify()
        .or(answer(delete_session))
        .unify()
        .or(answer(record_login_failure))
        .unify()
        .or(answer(login_failures))
        .unify()
        .or(answer(login))
        .unify()
        .or(answer(list_users))
        .unify()
        .or(answer(create_user))
        .unify()
        .or(answer(update_user))
        .unify()
        .or(answer(set_password))
        .unify()
        .or(answer(healthz))
        .unify()
        .or(answer(readyz))
        .unify()
        .recover(error::recover)
        .unify()
        .boxed()
}

/// `GET /metrics`, served on its own listener (`METRICS_ADDR`), never the public one.
pub fn metrics_routes(state: AppState) -> BoxedFilter<(Response,)> {
    let metrics = warp::path!("metrics")
        .and(route("/metrics", Method::GET))
        .and(with_state(&state))
        .then(health::metrics);
    answer(metrics).recover(error::recover).unify().boxed()
}

/// Turns a handler's `Result` into the response, errors included, as a boxed route. A
/// request its filters refused ([`request::Refused`]) is answered here too, so it does
/// not go on to the next route.
///
/// Boxed because routes are chained with `or`, which keeps a clone of every later route
/// in each request's future: unboxed, every request cloned all eleven routes and moved a
/// future of many kilobytes (most of a request's instructions, in memcpy). Boxed, a
/// clone is a reference count and the future a pointer.
fn answer<F>(route: F) -> BoxedFilter<(Response,)>
where
    F: Filter<Extract = (Result<Response, ApiError>,), Error = warp::Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    route
        .map(|result: Result<Response, ApiError>| match result {
            Ok(response) => response,
            Err(error) => error.into_response(),
        })
        .recover(refused)
        .unify()
        .boxed()
}

/// The answer to a request refused by its route's filters; any other rejection (no such
/// path, another method) goes on to the next route.
async fn refused(rejection: Rejection) -> Result<Response, Rejection> {
    match rejection.find::<request::Refused>() {
        Some(refused) => Ok(refused.error().into_response()),
        None => Err(rejection),
    }
}

/// The state for a handler. warp clones a route's later filters before its path has
/// matched, so this filter holds the state behind an `Arc` (a clone is one reference
/// count) and clones the state itself only for the route that runs.
fn with_state(state: &AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    let state = Arc::new(state.clone());
    warp::any().map(move || AppState::clone(&state))
}

/// The raw query string, empty when there is none (warp's own filter rejects then).
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Registry;
    use service_runtime::metrics::RouteSlot;

    use crate::db::{Database, DbMetrics, PostStore, Readiness, SessionStore, UserStore};
    use crate::routes::request::ApiToken;

    async fn label(method: &str, path: &str) -> &'static str {
        // A pool that never connects: the labelled routes answer without the database.
        let pool = mysql_async::Pool::new("mysql://user:pw@127.0.0.1:9/blog");
        let registry = Registry::new();
        let db_metrics = DbMetrics::register(&registry, 1).unwrap();
        let database = Database::new(pool);
        let state = AppState {
            readiness: std::sync::Arc::new(Readiness::new(database.clone(), db_metrics.clone())),
            database: database.clone(),
            store: PostStore::new(
                database.clone(),
                std::time::Duration::from_millis(50),
                db_metrics.clone(),
            ),
            sessions: SessionStore::new(
                database.clone(),
                std::time::Duration::from_millis(50),
                db_metrics.clone(),
            ),
            users: UserStore::new(
                database,
                std::time::Duration::from_millis(50),
                db_metrics.clone(),
            ),
            api_token: ApiToken::new("token"),
            registry,
            db_metrics,
            search: crate::state::SearchLimits {
                turns: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
                timeout: std::time::Duration::from_millis(50),
            },
        };
        let slot = RouteSlot::default();
        warp::test::request()
            .method(method)
            .path(path)
            .extension(slot.clone())
            .reply(&routes(state))
            .await;
        slot.template()
    }

    #[tokio::test]
    async fn metrics_never_carry_raw_ids() {
        for (method, path, template) in [
            ("POST", "/v1/posts", "/v1/posts"),
            ("DELETE", "/v1/posts/42", "/v1/posts/{id}"),
            ("PUT", "/v1/posts/abc", "/v1/posts/{id}"),
            ("GET", "/healthz", "/healthz"),
            ("GET", "/v1/post-summaries", "/v1/post-summaries"),
            ("GET", "/v1/search?q=rust", "/v1/search"),
            ("GET", "/metrics", "unmatched"),
            (
                "GET",
                "/internal/v1/sessions/abc",
                "/internal/v1/sessions/{key}",
            ),
            (
                "POST",
                "/internal/v1/login-failures",
                "/internal/v1/login-failures",
            ),
            // warp serves the list with a trailing slash too, and counts it as such.
            ("GET", "/v1/posts/", "/v1/posts"),
            ("PATCH", "/internal/v1/users/7", "/internal/v1/users/{id}"),
            (
                "PUT",
                "/internal/v1/users/7/password",
                "/internal/v1/users/{id}/password",
            ),
            ("GET", "/wp-admin/setup.php", "unmatched"),
        ] {
            assert_eq!(label(method, path).await, template, "{method} {path}");
        }
    }
}
