//! Conditional `GET` for what readers share (pages and the feed): the validators a
//! response carries (`ETag`, `Last-Modified`) and the `304 Not Modified` a matching
//! `If-None-Match` or `If-Modified-Since` gets (RFC 9110 §13).
//!
//! Shared responses say `Cache-Control: no-cache`: a browser may keep them but must ask
//! again every time, so an edit or a deletion still reaches it within the page cache's
//! bound, and the asking costs a 304 without a body.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Filter;

use crate::page_cache::Served;

/// The request's preconditions.
#[derive(Debug, Clone, Default)]
pub struct Conditional {
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
}

/// Reads the preconditions; a header that is not text counts as absent.
pub fn conditional() -> impl Filter<Extract = (Conditional,), Error = Infallible> + Clone {
    optional_header("if-none-match")
        .and(optional_header("if-modified-since"))
        .map(|if_none_match, if_modified_since| Conditional {
            if_none_match,
            if_modified_since,
        })
}

fn optional_header(
    name: &'static str,
) -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>(name).or_else(|_| async { Ok::<_, Infallible>((None,)) })
}

impl Conditional {
    /// Whether the client's copy is this one. `If-None-Match` decides when present
    /// (weak comparison, as RFC 9110 wants for it); else `If-Modified-Since`.
    pub fn is_unchanged(&self, etag: &str, last_modified: SystemTime) -> bool {
        if let Some(tags) = &self.if_none_match {
            return tags
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag);
        }
        self.if_modified_since
            .as_deref()
            .and_then(|since| httpdate::parse_http_date(since).ok())
            .is_some_and(|since| last_modified <= since)
    }
}

/// A shared representation and how it was served.
pub struct Shared<'a> {
    pub body: Bytes,
    pub content_type: &'static str,
    pub etag: &'a str,
    pub last_modified: SystemTime,
    pub served: Served,
    pub age: Duration,
}

/// The `200` with `shared` (or the `304` when the client has it), with validators,
/// `Cache-Control: no-cache`, `X-Cache` and, from the cache, `Age`.
pub fn respond(conditional: &Conditional, shared: Shared<'_>) -> Response {
    let unchanged = conditional.is_unchanged(shared.etag, shared.last_modified);
    let mut response = if unchanged {
        let mut response = Response::new(Bytes::new().into());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        Response::new(shared.body.into())
    };
    let headers = response.headers_mut();
    if !unchanged {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(shared.content_type),
        );
    }
    if let Ok(etag) = HeaderValue::from_str(shared.etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(shared.last_modified)) {
        headers.insert(header::LAST_MODIFIED, date);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-cache", HeaderValue::from_static(shared.served.as_str()));
    if shared.served != Served::Rendered {
        headers.insert(header::AGE, HeaderValue::from(shared.age.as_secs()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn when(if_none_match: Option<&str>, if_modified_since: Option<&str>) -> Conditional {
        Conditional {
            if_none_match: if_none_match.map(str::to_owned),
            if_modified_since: if_modified_since.map(str::to_owned),
        }
    }

    const ETAG: &str = "\"abc\"";

    fn moment() -> SystemTime {
        httpdate::parse_http_date("Wed, 25 Nov 2026 10:00:00 GMT").unwrap()
    }

    #[test]
    fn a_matching_etag_is_unchanged() {
        assert!(when(Some(ETAG), None).is_unchanged(ETAG, moment()));
        assert!(when(Some("\"x\", W/\"abc\""), None).is_unchanged(ETAG, moment()));
        assert!(when(Some("*"), None).is_unchanged(ETAG, moment()));
        assert!(!when(Some("\"abd\""), None).is_unchanged(ETAG, moment()));
    }

    #[test]
    fn if_modified_since_compares_dates_unless_an_etag_is_asked_for() {
        let same = "Wed, 25 Nov 2026 10:00:00 GMT";
        let earlier = "Wed, 25 Nov 2026 09:59:59 GMT";
        assert!(when(None, Some(same)).is_unchanged(ETAG, moment()));
        assert!(!when(None, Some(earlier)).is_unchanged(ETAG, moment()));
        assert!(!when(None, Some("yesterday")).is_unchanged(ETAG, moment()));
        // If-None-Match wins (RFC 9110 §13.2.2).
        assert!(!when(Some("\"old\""), Some(same)).is_unchanged(ETAG, moment()));
        assert!(!Conditional::default().is_unchanged(ETAG, moment()));
    }

    #[test]
    fn a_304_has_the_validators_and_no_body() {
        let response = respond(
            &when(Some(ETAG), None),
            Shared {
                body: Bytes::from_static(b"<p>page</p>"),
                content_type: "text/html; charset=utf-8",
                etag: ETAG,
                last_modified: moment(),
                served: Served::Stale,
                age: Duration::from_secs(42),
            },
        );
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let headers = response.headers();
        assert_eq!(headers["etag"], ETAG);
        assert_eq!(headers["last-modified"], "Wed, 25 Nov 2026 10:00:00 GMT");
        assert_eq!(headers["age"], "42");
        assert_eq!(headers["x-cache"], "stale");
        assert_eq!(headers["cache-control"], "no-cache");
    }
}
