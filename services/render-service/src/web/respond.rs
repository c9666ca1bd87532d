//! How answers become responses, in the two ways a request can end without a page:
//!
//! - a handler returns `Err(PageError)`: [`page`] renders the error page;
//! - a filter rejects (no route, wrong method, body too large, login required, bad CSRF
//!   token): [`recover`] answers, with the error page or the login redirect.

use std::convert::Infallible;
use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::reject::{
    InvalidHeader, InvalidQuery, LengthRequired, MethodNotAllowed, MissingHeader, PayloadTooLarge,
    UnsupportedMediaType,
};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::error::PageError;
use crate::posts_client::UpstreamError;
use crate::site::Site;
use crate::web::visitor::see_other;

/// Why a filter refused a request before its handler ran.
#[derive(Debug)]
pub enum Refusal {
    /// Only the admin may do this: redirect to `location` (usually the login form).
    LoginRequired { location: String },
    /// A form's CSRF token is missing or not this browser's.
    CsrfToken,
    /// A form body that is not `application/x-www-form-urlencoded` as expected.
    MalformedForm,
    /// posts-service could not say whether the session is current.
    SessionUnverifiable(UpstreamError),
}

impl warp::reject::Reject for Refusal {}

/// A page's route whose handler answers `Result<Response, PageError>`, with errors as
/// error pages.
pub fn page<F>(site: &Arc<Site>, route: F) -> BoxedFilter<(Response,)>
where
    F: Filter<Extract = (Result<Response, PageError>,), Error = Rejection>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let site = site.clone();
    route
        .map(move |result: Result<Response, PageError>| match result {
            Ok(response) => response,
            Err(error) => error.into_page(&site),
        })
        .boxed()
}

/// Answers every rejection. Never fails.
pub async fn recover(site: Arc<Site>, rejection: Rejection) -> Result<Response, Infallible> {
    if let Some(Refusal::LoginRequired { location }) = rejection.find::<Refusal>() {
        return Ok(see_other(location));
    }
    Ok(error_of(&rejection).into_page(&site))
}

fn error_of(rejection: &Rejection) -> PageError {
    if let Some(refusal) = rejection.find::<Refusal>() {
        return match refusal {
            Refusal::CsrfToken => PageError::Forbidden,
            Refusal::SessionUnverifiable(cause) => PageError::Upstream(cause.clone()),
            Refusal::MalformedForm | Refusal::LoginRequired { .. } => {
                PageError::BadRequest("malformed form")
            }
        };
    }
    if rejection.is_not_found() {
        PageError::NotFound
    } else if rejection.find::<MethodNotAllowed>().is_some() {
        PageError::MethodNotAllowed
    } else if rejection.find::<PayloadTooLarge>().is_some() {
        PageError::PayloadTooLarge
    } else if rejection.find::<LengthRequired>().is_some() {
        PageError::LengthRequired
    } else if rejection.find::<InvalidQuery>().is_some() {
        PageError::BadQuery
    } else if rejection.find::<InvalidHeader>().is_some()
        || rejection.find::<MissingHeader>().is_some()
    {
        PageError::BadHeader
    } else if rejection.find::<UnsupportedMediaType>().is_some() {
        PageError::UnsupportedMediaType
    } else {
        PageError::Internal(format!("unhandled rejection: {rejection:?}"))
    }
}
