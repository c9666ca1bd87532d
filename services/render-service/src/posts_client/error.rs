//! What can go wrong: [`UpstreamError`], why a call did not give what was asked for
//! (what pages match on), and [`ClientError`], why the client could not be built; plus
//! how an unexpected status, a 422's problem document and a transport failure are put
//! into words.

use posts_api::{FieldError, Problem};
use reqwest::StatusCode;

/// Why a call to posts-service did not give what was asked for.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// 404: there is no such post.
    #[error("no such post")]
    NotFound,
    /// 412: the post changed since the version we hold.
    #[error("the post was changed since it was loaded")]
    Stale,
    /// 422: posts-service rejected the title or body (a field error with an empty
    /// `field` is about the post as a whole).
    #[error("posts-service rejected the input")]
    Invalid(Vec<FieldError>),
    /// 503 from a call that posts-service caps (search): it is working, but too busy
    /// for this call now (too many at once, or the call ran past its time limit).
    /// Unlike [`UpstreamError::Unavailable`], it does not count against posts-service.
    #[error("posts-service is too busy for {operation}")]
    Busy { operation: &'static str },
    /// Unreachable, too slow, failing (5xx) or answering in a way we cannot use.
    #[error("posts-service is unavailable ({operation}): {cause}")]
    Unavailable {
        operation: &'static str,
        cause: String,
    },
}

impl UpstreamError {
    /// A status the operation has no meaning for: posts-service is answering in a way
    /// we cannot use. A 401 or 403 names the likely cause, a wrong API token.
    pub(super) fn unexpected_status(operation: &'static str, status: StatusCode) -> Self {
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => " (check POSTS_API_TOKEN)",
            _ => "",
        };
        UpstreamError::Unavailable {
            operation,
            cause: format!("unexpected status {status}{hint}"),
        }
    }
}

/// Could not build the client (bad base URL, TLS backend, or duplicate metrics).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("POSTS_SERVICE_URL cannot be used as a base URL: {0}")]
    BaseUrl(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// `POSTS_CA_FILE` cannot be read or holds no usable CA certificate.
    #[error(transparent)]
    CaFile(#[from] service_runtime::config::ConfigError),
    #[error("cannot register upstream metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A transport error and its sources in one line (reqwest's top-level message alone hides
/// whether it was a refused connection or a timeout).
pub(super) fn error_with_causes(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The field errors of a 422's problem document; a document without them (or that is
/// not one) is a problem with the post as a whole.
pub(super) fn field_errors_of_problem(body: &[u8]) -> Vec<FieldError> {
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) if !problem.errors.is_empty() => problem.errors,
        Ok(problem) => vec![FieldError {
            field: String::new(),
            message: problem.detail,
        }],
        Err(_) => vec![FieldError {
            field: String::new(),
            message: "The post was not accepted.".to_owned(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_errors_list_names_the_fields() {
        let body = br#"{"type":"about:blank","title":"Unprocessable","status":422,
            "detail":"title is invalid","errors":[{"field":"title","message":"too long"}]}"#;
        assert_eq!(
            field_errors_of_problem(body),
            vec![FieldError {
                field: "title".into(),
                message: "too long".into()
            }]
        );
    }

    #[test]
    fn a_problem_without_field_errors_is_about_the_whole_post() {
        let body = br#"{"type":"about:blank","title":"x","status":422,"detail":"body is over 65535 bytes"}"#;
        assert_eq!(
            field_errors_of_problem(body),
            vec![FieldError {
                field: String::new(),
                message: "body is over 65535 bytes".into()
            }]
        );
        assert_eq!(field_errors_of_problem(b"not json")[0].field, "");
    }
}
