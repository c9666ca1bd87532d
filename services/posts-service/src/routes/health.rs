//! Liveness, readiness and metrics endpoints.

use http::header::{HeaderValue, CONTENT_TYPE};
use warp::reply::Response;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> Result<Response, ApiError> {
    Ok(status_json("ok"))
}

/// `GET /readyz`: start-up has finished, the database answers and its schema is the one
/// this binary expects (asked at most once a second: [`crate::db::readiness`]). Else a 503
/// saying why ("database unreachable", "migrations pending").
pub async fn readyz(state: AppState) -> Result<Response, ApiError> {
    state
        .readiness
        .check()
        .await
        .map(|()| {
            let nodes = state.database.nodes();
            if nodes.is_cluster() {
                cluster_status_json(nodes)
            } else {
                status_json("ready")
            }
        })
        .map_err(ApiError::NotReady)
}

/// `{"status":"ready","database":{"writer":"host:port","synced":N,"nodes":M}}`: with
/// several database nodes, which one writes and how many are synced.
fn cluster_status_json(nodes: &crate::db::nodes::Nodes) -> Response {
    let writer = nodes.writer().label.clone();
    let body = serde_json::json!({
        "status": "ready",
        "database": {"writer": writer, "synced": nodes.synced(), "nodes": nodes.len()},
    });
    let mut response = Response::new(body.to_string().into());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: AppState) -> Result<Response, ApiError> {
    state.db_metrics.refresh_pool(state.store.pool());
    // Cached like `/readyz`: refreshes `posts_db_up` at no more than one query a second.
    let _ = state.readiness.check().await;
    state.db_metrics.refresh_nodes(state.database.nodes());
    let mut response = Response::new(service_runtime::metrics::encode(&state.registry).into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(service_runtime::metrics::CONTENT_TYPE),
    );
    Ok(response)
}

fn status_json(status: &'static str) -> Response {
    let mut response = Response::new(format!(r#"{{"status":"{status}"}}"#).into());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
