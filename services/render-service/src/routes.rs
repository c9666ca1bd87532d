//! The pages, one file each, and what they share.
//!
//! [`routes`] composes every page's filter into the one the server runs, turns every
//! rejection into an error page ([`crate::error::recover`]) and adds the security
//! headers. Each handler receives the [`AppState`] and a [`Visitor`]: who is asking
//! (admin session or not), their request id, and the cookies the response must set.
//! [`route_template`] is how metrics name paths without their ids.

pub mod assets;
pub mod delete;
pub mod editor;
pub mod feed;
pub mod health;
pub mod index;
pub mod post;
pub mod session;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use prometheus::Registry;
use serde::de::DeserializeOwned;
use service_runtime::request_id::{self, RequestId};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::auth::{self, Auth, Session};
use crate::error::{self, PageError};
use crate::page_cache::{CachedPage, PageCache, Served};
use crate::posts_client::PostsClient;
use crate::templates::Chrome;

/// The blog's identity, as pages and error pages show it.
#[derive(Debug, Clone)]
pub struct Site {
    pub blog_title: String,
    /// The content-hashed stylesheet URL.
    pub stylesheet: &'static str,
    /// `PUBLIC_URL` without a trailing slash, when configured.
    pub public_url: Option<String>,
    /// Whether the blog is served over HTTPS (`COOKIE_SECURE`), to guess absolute URLs.
    pub https: bool,
}

/// What every handler can use.
pub struct AppState {
    pub posts: PostsClient,
    /// Rendered pages shared between anonymous readers.
    pub pages: PageCache,
    pub auth: Auth,
    pub site: Arc<Site>,
    pub registry: Registry,
}

/// The largest form accepted: a 65,535-byte body, URL-encoded (up to three bytes per
/// byte), plus the title and hidden fields.
pub const FORM_LIMIT: u64 = 256 * 1024;

/// The Content-Security-Policy of every response: nothing runs, styles and images come
/// from here (images also from `https:` and `data:`), forms only post here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every page of the blog, with error pages and security headers.
pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let site = state.site.clone();
    index::route(state.clone())
        .or(post::route(state.clone()))
        .unify()
        .or(editor::routes(state.clone()))
        .unify()
        .or(delete::routes(state.clone()))
        .unify()
        .or(session::routes(state.clone()))
        .unify()
        .or(feed::route(state.clone()))
        .unify()
        .or(health::routes(state))
        .unify()
        .or(assets::route())
        .unify()
        .recover(move |rejection| error::recover(site.clone(), rejection))
        .unify()
        .map(with_security_headers)
        .boxed()
}

/// The route template a path is counted under in metrics: ids become `{id}`, and
/// anything that is not a page is `unmatched`, so raw paths never become labels.
pub fn route_template(path: &str) -> &'static str {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let is_id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match segments.as_slice() {
        [""] => "/",
        ["posts", id] if is_id(id) => "/posts/{id}",
        ["edit", id] if is_id(id) => "/edit/{id}",
        ["delete", id] if is_id(id) => "/delete/{id}",
        ["add"] => "/add",
        ["login"] => "/login",
        ["logout"] => "/logout",
        ["feed.xml"] => "/feed.xml",
        ["static", file] if !file.is_empty() => "/static/{file}",
        ["healthz"] => "/healthz",
        ["readyz"] => "/readyz",
        ["metrics"] => "/metrics",
        _ => "unmatched",
    }
}

/// Adds the headers every response carries. Pages are personal (flash, CSRF token,
/// admin links), so unless a route chose otherwise they are not stored by caches.
pub fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
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

/// Injects the shared state.
pub fn with_state(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// The request body of a form, within [`FORM_LIMIT`]. A request that declares no body
/// at all (neither `Content-Length` nor `Transfer-Encoding`) has an empty one; a chunked
/// body of unknown length is refused (411) rather than read without a bound.
pub fn form_body() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    let declared = warp::body::content_length_limit(FORM_LIMIT).and(warp::body::bytes());
    let absent = warp::header::headers_cloned().and_then(|headers: http::HeaderMap| async move {
        if headers.contains_key(header::CONTENT_LENGTH)
            || headers.contains_key(header::TRANSFER_ENCODING)
        {
            Err(warp::reject::not_found())
        } else {
            Ok(Bytes::new())
        }
    });
    declared.or(absent).unify()
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub fn parse_form<T: DeserializeOwned>(body: &Bytes) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|_| PageError::BadRequest("malformed form"))
}

/// The post version a form was loaded with (its hidden `version` field), which the
/// write must carry so that a post changed since is not overwritten or deleted unseen.
pub fn form_version(raw: &str) -> Result<u64, PageError> {
    raw.trim()
        .parse()
        .map_err(|_| PageError::BadRequest("the form has no valid version"))
}

/// Who is asking, and what the response must tell their browser.
#[derive(Debug)]
pub struct Visitor {
    pub request_id: RequestId,
    /// The admin's session, when the cookie is genuine and current.
    pub session: Option<Session>,
    /// The login form's nonce cookie, if the browser sent one.
    pub login_nonce: Option<String>,
    flash: Option<String>,
    has_flash_cookie: bool,
    set_cookies: Vec<String>,
}

/// Reads the visitor from the request's cookies.
pub fn visitor(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Visitor,), Error = Infallible> + Clone {
    with_state(state)
        .and(request_id::filter())
        .and(warp::cookie::optional::<String>(auth::SESSION_COOKIE))
        .and(warp::cookie::optional::<String>(auth::FLASH_COOKIE))
        .and(warp::cookie::optional::<String>(auth::LOGIN_COOKIE))
        .map(
            |state: Arc<AppState>,
             request_id: RequestId,
             session: Option<String>,
             flash: Option<String>,
             login_nonce: Option<String>| {
                let now = SystemTime::now();
                Visitor {
                    request_id,
                    session: session.and_then(|value| state.auth.verify_session(&value, now)),
                    login_nonce: login_nonce.filter(|nonce| is_nonce(nonce)),
                    has_flash_cookie: flash.is_some(),
                    flash: flash.and_then(|value| state.auth.read_flash(&value)),
                    set_cookies: Vec::new(),
                }
            },
        )
}

fn is_nonce(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Visitor {
    /// Whether the admin is logged in.
    pub fn is_admin(&self) -> bool {
        self.session.is_some()
    }

    /// The frame of a page for this visitor. Takes the flash message, so it is shown once.
    pub fn chrome(&mut self, state: &AppState, page_title: impl Into<String>) -> Chrome {
        let flash = self.flash.take();
        if self.has_flash_cookie {
            self.has_flash_cookie = false;
            self.set_cookies.push(state.auth.clear_flash_cookie());
        }
        Chrome {
            blog_title: state.site.blog_title.clone(),
            page_title: page_title.into(),
            stylesheet: state.site.stylesheet,
            admin: self.is_admin(),
            csrf_token: self.csrf_token(&state.auth),
            flash,
        }
    }

    /// Whether this visitor sees the pages every anonymous reader sees (no session, no
    /// flash message waiting), so a shared cached page may be served.
    pub fn sees_shared_pages(&self) -> bool {
        self.session.is_none() && !self.has_flash_cookie
    }

    /// The frame of a page as every anonymous reader sees it.
    pub fn shared_chrome(state: &AppState, page_title: impl Into<String>) -> Chrome {
        Chrome {
            blog_title: state.site.blog_title.clone(),
            page_title: page_title.into(),
            stylesheet: state.site.stylesheet,
            admin: false,
            csrf_token: String::new(),
            flash: None,
        }
    }

    /// A shared page, marked with where it came from (`X-Cache: hit|miss|stale`).
    pub fn shared_page(self, page: &CachedPage, served: Served) -> Response {
        let mut response = Response::new(page.html.clone().into());
        *response.status_mut() = page.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert("x-cache", HeaderValue::from_static(served.as_str()));
        self.with_cookies(response)
    }

    /// The session's CSRF token (empty without a session).
    pub fn csrf_token(&self, auth: &Auth) -> String {
        self.session
            .as_ref()
            .map(|session| auth.session_csrf_token(session))
            .unwrap_or_default()
    }

    /// Checks a submitted CSRF token against the session's.
    pub fn check_csrf(&self, auth: &Auth, submitted: &str) -> Result<(), PageError> {
        match &self.session {
            Some(session) if Auth::csrf_matches(&auth.session_csrf_token(session), submitted) => {
                Ok(())
            }
            _ => Err(PageError::Forbidden),
        }
    }

    /// Queues a `Set-Cookie` for the response.
    pub fn set_cookie(&mut self, set_cookie: String) {
        self.set_cookies.push(set_cookie);
    }

    /// An HTML page with the queued cookies.
    pub fn page(self, status: StatusCode, html: String) -> Response {
        let response = warp::reply::with_status(warp::reply::html(html), status).into_response();
        self.with_cookies(response)
    }

    /// A `303 See Other` to a local path, with the queued cookies.
    pub fn redirect(self, location: &str) -> Response {
        self.with_cookies(see_other(location))
    }

    /// A redirect to `location` that shows `message` there.
    pub fn redirect_with_flash(mut self, auth: &Auth, location: &str, message: &str) -> Response {
        self.set_cookies.push(auth.flash_cookie(message));
        self.redirect(location)
    }

    fn with_cookies(self, mut response: Response) -> Response {
        for cookie in self.set_cookies {
            match HeaderValue::from_str(&cookie) {
                Ok(value) => {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                Err(_) => tracing::error!("a Set-Cookie value is not a valid header"),
            }
        }
        response
    }
}

/// `303 See Other` to `location` (a local path we built).
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
        }
    }
    response
}

/// Where a write without a session goes: the login form, which comes back to `next`.
pub fn login_redirect(visitor: Visitor, next: &str) -> Response {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    visitor.redirect(&format!("/login?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_reach_metrics_labels() {
        assert_eq!(route_template("/"), "/");
        assert_eq!(route_template("/posts/42"), "/posts/{id}");
        assert_eq!(route_template("/edit/7"), "/edit/{id}");
        assert_eq!(route_template("/delete/7"), "/delete/{id}");
        assert_eq!(route_template("/add"), "/add");
        assert_eq!(route_template("/login"), "/login");
        assert_eq!(route_template("/logout"), "/logout");
        assert_eq!(route_template("/feed.xml"), "/feed.xml");
        assert_eq!(
            route_template("/static/style.0123abcd.css"),
            "/static/{file}"
        );
        assert_eq!(route_template("/healthz"), "/healthz");
        assert_eq!(route_template("/readyz"), "/readyz");
        assert_eq!(route_template("/metrics"), "/metrics");
        assert_eq!(route_template("/posts/abc"), "unmatched");
        assert_eq!(route_template("/posts/1/2"), "unmatched");
        assert_eq!(route_template("/wp-admin.php"), "unmatched");
    }

    #[test]
    fn every_response_gets_the_security_headers() {
        let response = with_security_headers(warp::reply::html("x").into_response());
        let headers = response.headers();
        assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["cache-control"], "no-store");
    }
}
