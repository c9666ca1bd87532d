//! [`Outcome`]: what one call to posts-service ended as. It is the `outcome` label of
//! the client's metrics and logs, and it decides whether the call counts against
//! posts-service in the circuit breaker and whether a create is sent again.

use reqwest::StatusCode;

use super::error::UpstreamError;

/// What one call to posts-service ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The answer the operation asked for (a 404 that an operation expects, such as an
    /// ended session, is one).
    Ok,
    /// 404 on an operation on one post: there is no such post.
    NotFound,
    /// 412: the post changed since the version the caller holds.
    Stale,
    /// 422: posts-service rejected the title or body.
    Invalid,
    /// A 4xx the operation does not expect (401 is a wrong `POSTS_API_TOKEN`).
    ClientError,
    /// A 5xx.
    ServerError,
    /// 503 from a call posts-service caps (search): busy, not failing.
    Busy,
    /// A 2xx the operation cannot use (another status, or a body that is not the JSON
    /// it expects).
    BadResponse,
    /// No whole answer within the request timeout.
    Timeout,
    /// No connection: refused, no route, or the connect timeout.
    Unreachable,
    /// The connection broke before the whole answer was read.
    TransportError,
    /// Not sent: the circuit breaker is open.
    CircuitOpen,
}

impl Outcome {
    /// The metrics label (`upstream_requests_total{outcome=…}`): dashboards and alert
    /// rules read these exact strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotFound => "not_found",
            Outcome::Stale => "stale",
            Outcome::Invalid => "invalid",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
            Outcome::Busy => "busy",
            Outcome::BadResponse => "bad_response",
            Outcome::Timeout => "timeout",
            Outcome::Unreachable => "unreachable",
            Outcome::TransportError => "transport_error",
            Outcome::CircuitOpen => "circuit_open",
        }
    }

    /// The outcome of a call that got an answer with `status`, read as `result`.
    pub(super) fn of_answer<T>(status: StatusCode, result: &Result<T, UpstreamError>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(UpstreamError::NotFound) => Outcome::NotFound,
            Err(UpstreamError::Stale) => Outcome::Stale,
            Err(UpstreamError::Invalid(_)) => Outcome::Invalid,
            Err(UpstreamError::Busy { .. }) => Outcome::Busy,
            Err(UpstreamError::Unavailable { .. }) if status.is_server_error() => {
                Outcome::ServerError
            }
            Err(UpstreamError::Unavailable { .. }) if status.is_success() => Outcome::BadResponse,
            Err(UpstreamError::Unavailable { .. }) => Outcome::ClientError,
        }
    }

    /// The outcome of a call that got no whole answer.
    pub(super) fn of_transport_error(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            Outcome::Timeout
        } else if err.is_connect() {
            Outcome::Unreachable
        } else {
            Outcome::TransportError
        }
    }

    /// Whether the call shows posts-service failing (for the circuit breaker): no
    /// answer in time, no connection, or a 5xx. Any other answer shows it working.
    pub fn counts_against_posts_service(self) -> bool {
        matches!(
            self,
            Outcome::Timeout
                | Outcome::Unreachable
                | Outcome::TransportError
                | Outcome::ServerError
        )
    }

    /// Whether no answer came back (none in time, no connection, or a broken one), so
    /// posts-service may or may not have carried the call out: what makes a create worth
    /// sending again with its `Idempotency-Key`.
    pub fn got_no_answer(self) -> bool {
        matches!(
            self,
            Outcome::Timeout | Outcome::Unreachable | Outcome::TransportError
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Outcome; 12] = [
        Outcome::Ok,
        Outcome::NotFound,
        Outcome::Stale,
        Outcome::Invalid,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::Busy,
        Outcome::BadResponse,
        Outcome::Timeout,
        Outcome::Unreachable,
        Outcome::TransportError,
        Outcome::CircuitOpen,
    ];

    #[test]
    fn labels_are_the_ones_dashboards_and_alerts_read() {
        let labels: Vec<&str> = ALL.iter().map(|outcome| outcome.as_str()).collect();
        assert_eq!(
            labels,
            [
                "ok",
                "not_found",
                "stale",
                "invalid",
                "client_error",
                "server_error",
                "busy",
                "bad_response",
                "timeout",
                "unreachable",
                "transport_error",
                "circuit_open",
            ]
        );
    }

    #[test]
    fn only_failures_of_posts_service_count_against_it() {
        let against: Vec<Outcome> = ALL
            .into_iter()
            .filter(|outcome| outcome.counts_against_posts_service())
            .collect();
        assert_eq!(
            against,
            [
                Outcome::ServerError,
                Outcome::Timeout,
                Outcome::Unreachable,
                Outcome::TransportError,
            ]
        );
    }

    #[test]
    fn answers_are_classified_by_what_the_operation_made_of_them() {
        let unavailable = || -> Result<(), UpstreamError> {
            Err(UpstreamError::Unavailable {
                operation: "get_post",
                cause: String::new(),
            })
        };
        let cases = [
            (StatusCode::OK, Ok(()), Outcome::Ok),
            (StatusCode::NOT_FOUND, Ok(()), Outcome::Ok),
            (
                StatusCode::NOT_FOUND,
                Err(UpstreamError::NotFound),
                Outcome::NotFound,
            ),
            (
                StatusCode::PRECONDITION_FAILED,
                Err(UpstreamError::Stale),
                Outcome::Stale,
            ),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Err(UpstreamError::Invalid(Vec::new())),
                Outcome::Invalid,
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                unavailable(),
                Outcome::ServerError,
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Err(UpstreamError::Busy {
                    operation: "search",
                }),
                Outcome::Busy,
            ),
            (StatusCode::CONFLICT, unavailable(), Outcome::ClientError),
            (StatusCode::OK, unavailable(), Outcome::BadResponse),
            (StatusCode::NOT_FOUND, unavailable(), Outcome::ClientError),
            (
                StatusCode::UNAUTHORIZED,
                unavailable(),
                Outcome::ClientError,
            ),
        ];
        for (status, result, expected) in cases {
            assert_eq!(Outcome::of_answer(status, &result), expected, "{status}");
        }
    }
}
