//! Forms: their bodies, bounded; their CSRF tokens, checked before a handler runs; and
//! the post version an edit or delete form carries.

use std::sync::Arc;

use bytes::Bytes;
use http::header;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use warp::{Filter, Rejection};

use crate::auth::{self, Auth};
use crate::error::PageError;
use crate::state::{with_state, AppState};
use crate::web::respond::Refusal;

/// The largest form accepted: a 65,535-byte body, URL-encoded (up to three bytes per
/// byte), plus the title and hidden fields.
pub const FORM_LIMIT: u64 = 256 * 1024;

/// What a form's CSRF token is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfScope {
    /// The admin's session: every form of a logged-in admin.
    Session,
    /// The login form's nonce cookie: there is no session yet.
    LoginForm,
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

/// The form of type `T`, only when its `csrf_token` field is the token of `scope` for
/// this browser; else the request is refused (403) before any handler runs.
pub fn csrf_form<T>(
    state: &Arc<AppState>,
    scope: CsrfScope,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone
where
    T: DeserializeOwned + Send + 'static,
{
    let names = state.auth.cookie_names();
    with_state(state)
        .and(warp::cookie::optional::<String>(names.session))
        .and(warp::cookie::optional::<String>(names.login))
        .and(form_body())
        .and_then(
            move |state: Arc<AppState>,
                  session: Option<String>,
                  login_nonce: Option<String>,
                  body: Bytes| async move {
                let expected = match scope {
                    CsrfScope::Session => {
                        session.and_then(|value| state.auth.session_csrf_for(&value))
                    }
                    CsrfScope::LoginForm => login_nonce
                        .filter(|nonce| auth::is_nonce(nonce))
                        .map(|nonce| state.auth.login_csrf_token(&nonce)),
                };
                let submitted: CsrfField = parse(&body)?;
                match expected {
                    Some(expected) if Auth::csrf_matches(&expected, &submitted.csrf_token) => {
                        parse::<T>(&body)
                    }
                    _ => Err(warp::reject::custom(Refusal::CsrfToken)),
                }
            },
        )
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Rejection> {
    serde_urlencoded::from_bytes(body).map_err(|_| warp::reject::custom(Refusal::MalformedForm))
}

/// The post version a form was loaded with (its hidden `version` field), which the
/// write must carry so that a post changed since is not overwritten or deleted unseen.
pub fn form_version(raw: &str) -> Result<u32, PageError> {
    raw.trim()
        .parse()
        .map_err(|_| PageError::BadRequest("the form has no valid version"))
}
