//! [`Visitor`]: who is asking (the admin's session or not, a flash message waiting, the
//! request id), and what their response must tell the browser (cookies, redirects).
//!
//! A session cookie whose MAC is ours is looked up at posts-service on every request
//! (which also slides its idle expiry), so a session ended on one replica is ended on
//! all of them at once. No cache of sessions is kept for that reason. When
//! posts-service cannot answer, the visitor is an anonymous reader whose session is
//! [`SessionCheck::Unverifiable`]: reader pages still work (from the page cache), and
//! the admin guard answers the 503 page instead of the login redirect.

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, HeaderValue, StatusCode};
use service_runtime::request_id::{self, RequestId};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::auth::{self, Auth, Session, SessionId};
use crate::page_cache::{CachedPage, Served};
use crate::posts_client::UpstreamError;
use crate::state::{with_state, AppState};
use crate::templates::Chrome;
use crate::web::conditional::{self, conditional, Conditional, Shared};

/// Who is asking, and what the response must tell their browser.
#[derive(Debug)]
pub struct Visitor {
    pub request_id: RequestId,
    /// The admin's session, when the cookie is genuine and current.
    pub session: Option<Session>,
    /// What became of the session cookie, if one was sent.
    pub session_check: SessionCheck,
    /// The login form's nonce cookie, if the browser sent one.
    pub login_nonce: Option<String>,
    /// The request's `If-None-Match` / `If-Modified-Since`, for shared pages.
    pub conditional: Conditional,
    flash: Option<String>,
    has_flash_cookie: bool,
    set_cookies: Vec<String>,
}

/// What the session cookie turned out to be.
#[derive(Debug, Default)]
pub enum SessionCheck {
    /// No cookie, a cookie we did not make, or a session that has ended.
    #[default]
    None,
    /// A current session.
    Current,
    /// A genuine cookie whose session posts-service could not look up.
    Unverifiable { id: SessionId, cause: UpstreamError },
}

/// Reads the visitor from the request's cookies, looking the session up.
pub fn visitor(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (Visitor,), Error = Infallible> + Clone {
    let names = state.auth.cookie_names();
    with_state(state)
        .and(request_id::filter())
        .and(warp::cookie::optional::<String>(names.session))
        .and(warp::cookie::optional::<String>(names.flash))
        .and(warp::cookie::optional::<String>(names.login))
        .and(conditional())
        .then(
            |state: Arc<AppState>,
             request_id: RequestId,
             session: Option<String>,
             flash: Option<String>,
             login_nonce: Option<String>,
             conditional: Conditional| async move {
                let (session, session_check) =
                    match session.and_then(|value| state.auth.session_id_of(&value)) {
                        None => (None, SessionCheck::None),
                        Some(id) => match state.posts.touch_session(&id.key(), &request_id).await {
                            Ok(Some(_)) => (Some(Session::new(id)), SessionCheck::Current),
                            Ok(None) => (None, SessionCheck::None),
                            Err(cause) => (None, SessionCheck::Unverifiable { id, cause }),
                        },
                    };
                Visitor {
                    request_id,
                    session,
                    session_check,
                    login_nonce: login_nonce.filter(|nonce| auth::is_nonce(nonce)),
                    conditional,
                    has_flash_cookie: flash.is_some(),
                    flash: flash.and_then(|value| state.auth.read_flash(&value)),
                    set_cookies: Vec::new(),
                }
            },
        )
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
    /// flash message waiting), so a shared cached page may be served. Only a flash
    /// cookie we signed counts: a made-up one does not make the page personal.
    pub fn sees_shared_pages(&self) -> bool {
        self.session.is_none() && self.flash.is_none()
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

    /// A shared page, marked with where it came from (`X-Cache: hit|miss|stale`, and
    /// `Age` from the cache), with its validators, or a `304` when the browser has it.
    pub fn shared_page(mut self, state: &AppState, page: &CachedPage, served: Served) -> Response {
        if self.has_flash_cookie {
            // Not ours (a genuine one makes the page personal): tell the browser to drop it.
            self.set_cookies.push(state.auth.clear_flash_cookie());
        }
        let shared = Shared {
            body: page.html.clone(),
            content_type: "text/html; charset=utf-8",
            etag: &page.etag,
            last_modified: page.last_modified,
            served,
            age: page.age(),
        };
        let response = conditional::respond(&self.conditional, shared);
        self.with_cookies(response)
    }

    /// The session's CSRF token (empty without a session). A session that could not be
    /// checked keeps its token, so a form shown again while posts-service is away can
    /// be sent again once it is back.
    pub fn csrf_token(&self, auth: &Auth) -> String {
        let id = match (&self.session, &self.session_check) {
            (Some(session), _) => Some(session.id()),
            (None, SessionCheck::Unverifiable { id, .. }) => Some(id),
            (None, _) => None,
        };
        id.map(|id| auth.session_csrf_token(id)).unwrap_or_default()
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

    /// A `301 Moved Permanently` to a local path, with the queued cookies.
    pub fn moved_permanently(self, location: &str) -> Response {
        let mut response = see_other(location);
        *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
        self.with_cookies(response)
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
    let location =
        HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    response.headers_mut().insert(header::LOCATION, location);
    response
}
