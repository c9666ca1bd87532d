//! The `X-Request-Id` that ties together every log line of one request, across services.
//!
//! The server loop ([`crate::server`]) takes the caller's id when it is sane (visible
//! ASCII, at most 128 characters) or generates a UUID, stores it in the request's
//! extensions, and returns it on the response. Handlers get it with [`filter`] to forward
//! it on upstream calls.
//!
//! The id also carries the request's [`TraceContext`] (its W3C `traceparent`, or a new
//! trace), so that what forwards the id forwards the trace too.

use http::{HeaderMap, HeaderValue};
use warp::Filter;

use crate::traces::TraceContext;

/// The header's name.
pub const HEADER: &str = "x-request-id";

const MAX_LEN: usize = 128;

/// The id of the request being served, and the trace it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId {
    id: String,
    trace: TraceContext,
}

impl RequestId {
    /// The caller's id when it is usable, else a fresh one; and the caller's trace
    /// (`traceparent`) when it is valid, else a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let id = headers
            .get(HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| is_acceptable(id))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        RequestId {
            id,
            trace: TraceContext::from_headers(headers),
        }
    }

    /// A new random id, in a new trace.
    pub fn generate() -> Self {
        RequestId {
            id: uuid::Uuid::new_v4().to_string(),
            trace: TraceContext::generate(),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The id as a header value (always valid: ids are visible ASCII).
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }

    /// The trace the request belongs to.
    pub fn trace(&self) -> TraceContext {
        self.trace
    }

    /// Replaces the trace (with the request span's, once it is exported).
    pub(crate) fn set_trace(&mut self, trace: TraceContext) {
        self.trace = trace;
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

fn is_acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Extracts the current request's id (set by the server loop; a fresh one when the
/// filter runs outside it, as in `warp::test`).
pub fn filter() -> impl Filter<Extract = (RequestId,), Error = std::convert::Infallible> + Clone {
    warp::ext::optional::<RequestId>()
        .map(|id: Option<RequestId>| id.unwrap_or_else(RequestId::generate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_id_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(RequestId::from_headers(&headers).as_str(), "abc-123");
    }

    #[test]
    fn missing_or_unusable_id_is_replaced() {
        let generated = RequestId::from_headers(&HeaderMap::new());
        assert_eq!(generated.as_str().len(), 36);

        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(&"x".repeat(129)).unwrap());
        assert_ne!(RequestId::from_headers(&headers).as_str(), "x".repeat(129));

        headers.insert(HEADER, HeaderValue::from_static("has space"));
        assert_ne!(RequestId::from_headers(&headers).as_str(), "has space");
    }
}
