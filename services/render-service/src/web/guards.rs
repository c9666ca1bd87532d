//! Who may use a page: the [`admin`] filter and the [`Admin`] it yields.
//!
//! Placed after a route's path and method, [`admin`] lets the request through only with
//! a current admin session; anyone else gets the login redirect (a
//! [`Refusal::LoginRequired`] that [`crate::web::respond::recover`] answers), except
//! when posts-service cannot say whether the session is current: then the 503 page. Handlers
//! that change anything take an `Admin` argument, and only this module can make one.

use std::sync::Arc;

use warp::filters::path::FullPath;
use warp::{Filter, Rejection};

use crate::state::AppState;
use crate::web::respond::Refusal;
use crate::web::visitor::{visitor, SessionCheck, Visitor};

/// The admin, proven by a current session.
#[derive(Debug)]
pub struct Admin(Visitor);

impl Admin {
    /// The admin as a visitor, to build the response with.
    pub fn into_visitor(self) -> Visitor {
        self.0
    }
}

/// Yields the [`Admin`], or answers with a redirect to the login form, which comes back
/// to this page after logging in.
pub fn admin(state: &Arc<AppState>) -> impl Filter<Extract = (Admin,), Error = Rejection> + Clone {
    warp::path::full()
        .and(visitor(state))
        .and_then(|path: FullPath, visitor: Visitor| async move {
            let next = path.as_str().to_owned();
            admin_or(visitor, || login_location(&next))
        })
}

/// Someone sending an admin form whose session posts-service could not look up: maybe
/// the admin, maybe a session ended meanwhile. They may not change anything, but they
/// may see the text they sent again (a form with a genuine CSRF token of their
/// session), so that nothing typed is lost to an outage.
#[derive(Debug)]
pub struct Unverified(Visitor);

impl Unverified {
    /// The visitor, to show the form again with.
    pub fn into_visitor(self) -> Visitor {
        self.0
    }
}

/// For the POST of a form whose text must survive an outage: yields the [`Admin`], or
/// [`Unverified`] when posts-service could not look the session up; anyone else gets
/// the login redirect.
pub fn admin_form(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (Result<Admin, Unverified>,), Error = Rejection> + Clone {
    warp::path::full()
        .and(visitor(state))
        .and_then(|path: FullPath, visitor: Visitor| async move {
            if matches!(visitor.session_check, SessionCheck::Unverifiable { .. }) {
                return Ok(Err(Unverified(visitor)));
            }
            let next = path.as_str().to_owned();
            admin_or(visitor, || login_location(&next)).map(Ok)
        })
}

/// Yields the [`Admin`], or answers anyone else with a redirect to `location`.
pub fn admin_or_redirect(
    state: &Arc<AppState>,
    location: &'static str,
) -> impl Filter<Extract = (Admin,), Error = Rejection> + Clone {
    visitor(state)
        .and_then(move |visitor: Visitor| async move { admin_or(visitor, || location.to_owned()) })
}

fn admin_or(mut visitor: Visitor, location: impl FnOnce() -> String) -> Result<Admin, Rejection> {
    if visitor.is_admin() {
        return Ok(Admin(visitor));
    }
    match std::mem::take(&mut visitor.session_check) {
        // Maybe the admin, but nobody can tell now: the 503 page, not the login form.
        SessionCheck::Unverifiable { cause, .. } => {
            Err(warp::reject::custom(Refusal::SessionUnverifiable(cause)))
        }
        _ => Err(warp::reject::custom(Refusal::LoginRequired {
            location: location(),
        })),
    }
}

/// The login form, coming back to `next` afterwards.
pub fn login_location(next: &str) -> String {
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    format!("/login?{query}")
}
