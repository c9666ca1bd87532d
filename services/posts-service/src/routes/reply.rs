//! Writing answers: a value as a JSON response.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde::Serialize;
use warp::reply::Response;

use crate::error::ApiError;

/// `value` as `application/json` with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(body.into());
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(err) => ApiError::Internal(format!("cannot serialise response: {err}")).into_response(),
    }
}
