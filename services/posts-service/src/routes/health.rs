//! Liveness, readiness and metrics endpoints.

use http::header::{HeaderValue, CONTENT_TYPE};
use warp::reply::Response;

use crate::error::ApiError;
use crate::state::AppState;

/// How long readiness waits for the database.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /healthz`: the process is alive.
pub async fn healthz() -> Result<Response, ApiError> {
    Ok(status_json("ok"))
}

/// `GET /readyz`: the database answers and its schema is the one this binary expects.
pub async fn readyz(state: AppState) -> Result<Response, ApiError> {
    let check = crate::db::schema_is_current(state.store.pool());
    match tokio::time::timeout(READINESS_TIMEOUT, check).await {
        Ok(Ok(true)) => Ok(status_json("ready")),
        Ok(Ok(false)) => Err(ApiError::Unavailable("schema is behind this binary".into())),
        Ok(Err(err)) => Err(ApiError::Unavailable(err.to_string())),
        Err(_) => Err(ApiError::Unavailable("readiness check timed out".into())),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: AppState) -> Result<Response, ApiError> {
    state.db_metrics.refresh_pool(state.store.pool());
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
