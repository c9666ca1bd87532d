//! `GET /healthz`, `GET /readyz`, `GET /metrics`: what the orchestrator and Prometheus ask.
//!
//! `/healthz` is 200 while the process serves. `/readyz` is render-service's own state
//! only: 200 from start until shutdown begins, then 503. It does **not** follow
//! posts-service: when posts-service fails, this process still
//! serves the last good copies of pages (and a quick 503 page for the rest, thanks to
//! the circuit breaker), which it could not do once taken out of the Service. It costs
//! no call anywhere, so a flood of probes is free. `/metrics` is the service's registry:
//! HTTP metrics by route template, the upstream call figures, the circuit state and
//! the page cache.

use std::sync::Arc;

use http::{header, HeaderValue, Method, StatusCode};
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::state::{with_state, AppState};

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz")
        .and(route("/healthz", Method::GET))
        .map(|| text(StatusCode::OK, "ok".to_owned(), "text/plain; charset=utf-8"));
    let readyz = warp::path!("readyz")
        .and(route("/readyz", Method::GET))
        .and(with_state(state))
        .map(|state: Arc<AppState>| readiness(&state));
    healthz.or(readyz).unify().boxed()
}

/// `GET /metrics`, served on its own listener (`METRICS_ADDR`), never the public one.
pub fn metrics_routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path!("metrics")
        .and(route("/metrics", Method::GET))
        .and(with_state(state))
        .map(|state: Arc<AppState>| {
            text(
                StatusCode::OK,
                service_runtime::metrics::encode(&state.registry),
                service_runtime::metrics::CONTENT_TYPE,
            )
        })
        .boxed()
}

/// 200 while this process takes new work, 503 once shutdown has begun.
pub fn readiness(state: &AppState) -> Response {
    if state.readiness.is_ready() {
        text(
            StatusCode::OK,
            "ready".to_owned(),
            "text/plain; charset=utf-8",
        )
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down".to_owned(),
            "text/plain; charset=utf-8",
        )
    }
}

fn text(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut response = warp::reply::with_status(body, status).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
