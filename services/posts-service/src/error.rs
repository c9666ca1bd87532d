//! Every way a request can fail, and the one place where a failure becomes an HTTP
//! response: an RFC 9457 `application/problem+json` document.
//!
//! Handlers return `Result<_, ApiError>`; [`ApiError::into_response`] maps each variant
//! to its status. Internal causes (database errors) are logged here with the request's
//! span and never sent: the client sees a generic detail.

use http::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::StatusCode;
use posts_api::{FieldError, MetaViolation, Problem, Violation, REQUEST_MAX_BYTES};
use warp::reply::Response;

use crate::db::error::StoreError;

/// What went wrong, in the API's terms.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such post (or an id that cannot name one), or no such route.
    #[error("not found")]
    NotFound,
    /// A list's `?tag=` names no tag.
    #[error("no such tag")]
    NoSuchTag,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body or a query parameter could not be understood.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A write, or a read of what readers may not see, without the right bearer token.
    #[error("unauthorized")]
    Unauthorized,
    /// `POST /internal/v1/logins`: unknown username, wrong password or disabled
    /// account, never told apart.
    #[error("login failed")]
    LoginFailed,
    /// The acting user (`X-Acting-User`) may not do this, or is no enabled account.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The body is over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body was understood but breaks the rules: every broken rule, by field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The thing to create exists already.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A `PUT` without `If-Match`.
    #[error("precondition required")]
    PreconditionRequired,
    /// `If-Match` names a version that is no longer current.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The database is unreachable, restarting, read-only, saturated, deadlocked or too
    /// slow: the client may retry (a 503 with `Retry-After`).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Every search turn was taken for longer than a search may wait (a 503 with
    /// `Retry-After`).
    #[error("search busy")]
    SearchBusy,
    /// `/readyz`: the service cannot do its work, for this (safe to send) reason.
    #[error("not ready: {0}")]
    NotReady(&'static str),
    /// The `Idempotency-Key` was used before for another request.
    #[error("idempotency key reused for another request")]
    IdempotencyKeyReused,
    /// A bug or an unexpected database answer.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound | ApiError::NoSuchTag => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::LoginFailed => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::Unavailable(_) | ApiError::NotReady(_) | ApiError::SearchBusy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::NotFound => "There is no post or route at this address.".to_owned(),
            ApiError::NoSuchTag => "There is no tag with this slug.".to_owned(),
            ApiError::MethodNotAllowed => "This address does not accept that method.".to_owned(),
            ApiError::BadRequest(reason) => reason.clone(),
            ApiError::Unauthorized => "Writes, and reads of drafts and scheduled posts, need an \
                 `Authorization: Bearer <token>` header with the API token."
                .to_owned(),
            ApiError::LoginFailed => "Unknown username or wrong password.".to_owned(),
            ApiError::Forbidden(reason) => reason.clone(),
            ApiError::UnsupportedMediaType => {
                "The request body must be `application/json`.".to_owned()
            }
            ApiError::PayloadTooLarge => {
                format!("The request body is over the limit of {REQUEST_MAX_BYTES} bytes.")
            }
            ApiError::Validation(errors) => errors
                .iter()
                .map(|error| error.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::Conflict(reason) => reason.clone(),
            ApiError::PreconditionRequired => {
                "Updates need an `If-Match` header with the post's current ETag.".to_owned()
            }
            ApiError::PreconditionFailed => {
                "The post has changed since the given ETag: fetch it again.".to_owned()
            }
            // Never the cause: it may name tables, hosts or queries.
            ApiError::Unavailable(_) => {
                "The database is unavailable; try again shortly.".to_owned()
            }
            ApiError::NotReady(reason) => format!("Not ready: {reason}."),
            ApiError::SearchBusy => "Search is busy; try again shortly.".to_owned(),
            ApiError::IdempotencyKeyReused => {
                "This Idempotency-Key was already used for a request with another title or \
                 body; use a new key for a new post."
                    .to_owned()
            }
            ApiError::Internal(_) => "An unexpected error occurred.".to_owned(),
        }
    }

    /// The problem+json response, after logging what the client is not told.
    pub fn into_response(self) -> Response {
        match &self {
            ApiError::Unavailable(cause) => tracing::warn!(cause = %cause, "database unavailable"),
            ApiError::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            _ => {}
        }
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let problem = Problem {
            kind: "about:blank".to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match &self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = Response::new(body.into());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self, ApiError::Unauthorized | ApiError::LoginFailed) {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="posts-service""#),
            );
        }
        if matches!(
            self,
            ApiError::Unavailable(_) | ApiError::NotReady(_) | ApiError::SearchBusy
        ) {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl ApiError {
    /// A 422 for the broken rules of the title and body and of the optional fields.
    pub fn invalid(content: &[Violation], meta: &[MetaViolation]) -> ApiError {
        ApiError::Validation(
            content
                .iter()
                .map(|violation| violation.to_field_error())
                .chain(meta.iter().map(MetaViolation::to_field_error))
                .collect(),
        )
    }
}

impl warp::reply::Reply for ApiError {
    fn into_response(self) -> Response {
        ApiError::into_response(self)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            // Transient: down, restarting, read-only, saturated, deadlocked (after the
            // retries), not started yet. Which MySQL errors are transient is decided in
            // `crate::db::error`.
            StoreError::Unavailable(cause) | StoreError::Deadlock(cause) => {
                ApiError::Unavailable(cause)
            }
            StoreError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// Turns warp's own rejections (no route matched, wrong method) into problem+json. Routes
/// never let another rejection out: handlers answer with [`ApiError`] directly, and a
/// route answers its filters' refusals itself.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, std::convert::Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::NotFound
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::MethodNotAllowed
    } else {
        ApiError::Internal(format!("unhandled rejection: {rejection:?}"))
    };
    Ok(error.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::error::server_error;

    #[test]
    fn transient_failures_are_a_503_with_retry_after() {
        for code in [1040, 1213, 1290] {
            let response = ApiError::from(StoreError::from(server_error(code))).into_response();
            assert_eq!(response.status(), 503, "{code}");
            assert_eq!(response.headers()["retry-after"], "1");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
        }
    }

    #[test]
    fn a_query_error_is_a_500_without_retry_after() {
        let response = ApiError::from(StoreError::from(server_error(1064))).into_response();
        assert_eq!(response.status(), 500);
        assert!(response.headers().get("retry-after").is_none());
    }
}
