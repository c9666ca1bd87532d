//! The blog's identity, and the security headers every response carries.

use http::{header, HeaderValue};
use warp::reply::Response;

use crate::zone::BlogZone;

/// The blog's identity, as pages and error pages show it.
#[derive(Debug, Clone)]
pub struct Site {
    pub blog_title: String,
    /// The content-hashed stylesheet URL.
    pub stylesheet: &'static str,
    /// `PUBLIC_URL` without a trailing slash, when configured.
    pub public_url: Option<String>,
    /// Whether the blog is served over HTTPS (`COOKIE_SECURE`), to guess absolute URLs
    /// and to send `Strict-Transport-Security`.
    pub https: bool,
    /// `BLOG_TIMEZONE`: where the post form's times are wall-clock times.
    pub zone: BlogZone,
}

/// Where absolute URLs in shared pages start when `PUBLIC_URL` is not set.
pub const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";

impl Site {
    /// The base of canonical URLs: `PUBLIC_URL`, or [`DEFAULT_PUBLIC_URL`] when it is not
    /// set (never the request's `Host`, which a client chooses).
    pub fn canonical_base(&self) -> &str {
        self.public_url
            .as_deref()
            .map_or(DEFAULT_PUBLIC_URL, |url| url.trim_end_matches('/'))
    }
}

/// The Content-Security-Policy of every response: nothing runs, styles and images come
/// from here (images also from `https:` and `data:`), forms only post here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `Strict-Transport-Security` when the blog is served over HTTPS: browsers use only
/// HTTPS for this host for a year. Not `includeSubDomains`: the blog may be served from
/// a domain whose other hosts are not ours to move to HTTPS.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Adds the headers every response carries (`Strict-Transport-Security` too when
/// `https`, the blog being served over HTTPS). Pages are personal (flash, CSRF token,
/// admin links), so unless a route chose otherwise they are not stored by caches.
pub fn with_security_headers(mut response: Response, https: bool) -> Response {
    let headers = response.headers_mut();
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::Reply;

    #[test]
    fn every_response_gets_the_security_headers() {
        let response = with_security_headers(warp::reply::html("x").into_response(), false);
        let headers = response.headers();
        assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(headers.get("strict-transport-security").is_none());
    }

    #[test]
    fn https_responses_get_strict_transport_security() {
        let response = with_security_headers(warp::reply::html("x").into_response(), true);
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000"
        );
    }
}
