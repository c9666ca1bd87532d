//! `GET /healthz`, `GET /readyz`, `GET /metrics`: what the orchestrator and Prometheus ask.
//!
//! `/healthz` is 200 while the process serves; `/readyz` is 200 only when posts-service's
//! own `/readyz` answers 200 within `POSTS_READY_TIMEOUT_MS` (render-service can do
//! nothing without it); `/metrics` is the service's registry: HTTP metrics by route
//! template and the upstream call figures.

use std::sync::Arc;

use http::{header, HeaderValue, Method, StatusCode};
use service_runtime::metrics::route;
use service_runtime::request_id::{self, RequestId};
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
        .and(request_id::filter())
        .then(readiness);
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

/// 200 when posts-service is ready, else 503.
pub async fn readiness(state: Arc<AppState>, request_id: RequestId) -> Response {
    if state.posts.is_ready(&request_id).await {
        text(
            StatusCode::OK,
            "ready".to_owned(),
            "text/plain; charset=utf-8",
        )
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "posts-service is not ready".to_owned(),
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
