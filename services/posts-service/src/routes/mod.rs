//! The HTTP surface: one filter per route, composed so that it reads like the API table.
//!
//! Path and method are matched by warp; everything after that (auth, body, headers) is
//! read by the handler, which answers with a response or an [`ApiError`]. A known path
//! asked with a method it does not take is a 405 naming the `Allow`ed ones; the only
//! rejection left is "no such route", turned into problem+json by
//! [`crate::error::recover`].

pub mod health;
pub mod posts;
pub mod request;

use std::convert::Infallible;

use prometheus::Registry;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::db_metrics::DbMetrics;
use crate::error::{self, ApiError};
use crate::store::PostStore;
use request::ApiToken;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The posts.
    pub store: PostStore,
    /// The token writes must carry.
    pub api_token: ApiToken,
    /// Everything `/metrics` reports.
    pub registry: Registry,
    /// Pool figures to refresh before reporting.
    pub db_metrics: DbMetrics,
}

/// All routes of the service.
pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let list = warp::path!("v1" / "posts")
        .and(warp::get())
        .and(raw_query())
        .and(with_state(&state))
        .then(posts::list);
    let get = warp::path!("v1" / "posts" / String)
        .and(warp::get())
        .and(with_state(&state))
        .then(posts::get);
    let create = warp::path!("v1" / "posts")
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(posts::create);
    let update = warp::path!("v1" / "posts" / String)
        .and(warp::put())
        .and(warp::header::headers_cloned())
        .and(request::body())
        .and(with_state(&state))
        .then(posts::update);
    let delete = warp::path!("v1" / "posts" / String)
        .and(warp::delete())
        .and(warp::header::headers_cloned())
        .and(with_state(&state))
        .then(posts::delete);
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .then(health::healthz);
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(&state))
        .then(health::readyz);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(&state))
        .then(health::metrics);
    // Tried last: a known path whose method matched none of the routes above.
    let wrong_method = warp::path!("v1" / "posts")
        .map(|| method_not_allowed("GET, POST"))
        .or(warp::path!("v1" / "posts" / String).map(|_| method_not_allowed("GET, PUT, DELETE")))
        .unify()
        .or(warp::path!("healthz")
            .or(warp::path!("readyz"))
            .unify()
            .or(warp::path!("metrics"))
            .unify()
            .map(|| method_not_allowed("GET")))
        .unify();

    answer(list)
        .or(answer(get))
        .unify()
        .or(answer(create))
        .unify()
        .or(answer(update))
        .unify()
        .or(answer(delete))
        .unify()
        .or(answer(healthz))
        .unify()
        .or(answer(readyz))
        .unify()
        .or(answer(metrics))
        .unify()
        .or(wrong_method)
        .unify()
        .recover(error::recover)
        .unify()
        .boxed()
}

/// The template a path is counted under in metrics.
pub fn route_template(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "posts"] => "/v1/posts",
        ["v1", "posts", _] => "/v1/posts/{id}",
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["metrics"] => "/metrics",
        _ => "unmatched",
    }
}

/// A 405 with the `Allow` header RFC 9110 requires on it.
fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = ApiError::MethodNotAllowed.into_response();
    response
        .headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allow));
    response
}

/// Turns a handler's `Result` into the response, errors included.
fn answer<F>(route: F) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone
where
    F: Filter<Extract = (Result<Response, ApiError>,), Error = warp::Rejection> + Clone,
{
    route.map(|result: Result<Response, ApiError>| match result {
        Ok(response) => response,
        Err(error) => error.into_response(),
    })
}

fn with_state(state: &AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    let state = state.clone();
    warp::any().map(move || state.clone())
}

/// The raw query string, empty when there is none (warp's own filter rejects then).
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

#[cfg(test)]
mod tests {
    use super::route_template;

    #[test]
    fn metrics_never_carry_raw_ids() {
        assert_eq!(route_template("/v1/posts/42"), "/v1/posts/{id}");
        assert_eq!(route_template("/v1/posts"), "/v1/posts");
        assert_eq!(route_template("/wp-admin/setup.php"), "unmatched");
    }
}
