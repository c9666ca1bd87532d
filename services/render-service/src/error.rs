//! What can go wrong in a page, and the one place it becomes an error page.
//!
//! Handlers return `Result<Response, PageError>`; [`crate::web::respond`] turns a
//! `PageError` (and every filter rejection, mapped to one) into a styled HTML page with
//! the right status through [`PageError::into_page`]. Internal causes are logged here,
//! inside the request's span (so with its request id), and never shown to the visitor.

use http::{header, HeaderValue, StatusCode};
use warp::Reply;

use crate::posts_client::UpstreamError;
use crate::site::Site;
use crate::templates::{self, Chrome, ErrorPage};

/// Every way a page can fail.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No such post or page.
    #[error("not found")]
    NotFound,
    /// A POST without a valid CSRF token.
    #[error("missing or invalid CSRF token")]
    Forbidden,
    /// A request we cannot make sense of; the text is logged.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The path exists, but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A form over the size limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// A form body of unknown length.
    #[error("length required")]
    LengthRequired,
    /// A query string the page does not understand.
    #[error("malformed query string")]
    BadQuery,
    /// A header the page does not understand.
    #[error("malformed or missing header")]
    BadHeader,
    /// A form in another format than URL-encoded.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// posts-service is unreachable, too slow or failing.
    #[error(transparent)]
    Upstream(UpstreamError),
    /// A template failed to render (a bug).
    #[error("cannot render a template: {0}")]
    Render(#[from] askama::Error),
    /// Anything else that should not happen (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<UpstreamError> for PageError {
    fn from(error: UpstreamError) -> Self {
        match error {
            UpstreamError::NotFound => PageError::NotFound,
            other => PageError::Upstream(other),
        }
    }
}

impl PageError {
    /// The error page, after logging what the visitor is not told.
    pub fn into_page(self, site: &Site) -> warp::reply::Response {
        error_page(site, &self.explain())
    }

    fn explain(&self) -> Explanation {
        match self {
            PageError::NotFound => NOT_FOUND,
            PageError::Forbidden => {
                tracing::info!("POST refused: missing or invalid CSRF token");
                Explanation::new(
                    StatusCode::FORBIDDEN,
                    "This form has expired",
                    "The form was not sent from this blog, or it is too old. Go back, reload the page and try again.",
                )
            }
            PageError::BadRequest(reason) => {
                tracing::info!(reason, "bad request");
                Explanation::new(
                    StatusCode::BAD_REQUEST,
                    "That request did not make sense",
                    "Something in the address or the form was not what this page expects. Go back and try again.",
                )
            }
            PageError::MethodNotAllowed => Explanation::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Not allowed",
                "This page cannot be used that way.",
            ),
            PageError::PayloadTooLarge => Explanation::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "That is too much text",
                "The form was larger than a post can be. Shorten the text and try again.",
            ),
            PageError::LengthRequired => Explanation::new(
                StatusCode::LENGTH_REQUIRED,
                "That request did not make sense",
                "The form was sent without its length.",
            ),
            PageError::BadQuery => Explanation::new(
                StatusCode::BAD_REQUEST,
                "That address did not make sense",
                "The part of the address after “?” is not something this page understands.",
            ),
            PageError::BadHeader => Explanation::new(
                StatusCode::BAD_REQUEST,
                "That request did not make sense",
                "A header of the request was not something this page understands.",
            ),
            PageError::UnsupportedMediaType => Explanation::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "That request did not make sense",
                "The form was sent in a format this page does not accept.",
            ),
            PageError::Upstream(cause) => {
                match cause {
                    // The client has logged the cause with the operation and outcome.
                    UpstreamError::Unavailable { .. } => {
                        tracing::info!("answering 503: posts-service unavailable")
                    }
                    UpstreamError::Busy { operation } => {
                        tracing::info!(operation, "answering 503: posts-service busy")
                    }
                    other => tracing::error!(
                        error = %other,
                        "answering 503: unexpected answer from posts-service"
                    ),
                }
                UNAVAILABLE
            }
            PageError::Render(cause) => {
                tracing::error!(error = %cause, "page failed: template error");
                INTERNAL
            }
            PageError::Internal(cause) => {
                tracing::error!(cause = %cause, "page failed");
                INTERNAL
            }
        }
    }
}

/// How one error looks to a visitor.
struct Explanation {
    status: StatusCode,
    heading: &'static str,
    message: &'static str,
}

impl Explanation {
    const fn new(status: StatusCode, heading: &'static str, message: &'static str) -> Self {
        Explanation {
            status,
            heading,
            message,
        }
    }
}

const NOT_FOUND: Explanation = Explanation::new(
    StatusCode::NOT_FOUND,
    "Page not found",
    "There is no post or page at this address. It may have been deleted, or the link may be mistyped.",
);

const UNAVAILABLE: Explanation = Explanation::new(
    StatusCode::SERVICE_UNAVAILABLE,
    "The blog is taking a short break",
    "The posts cannot be loaded right now. Nothing you saved is lost — please try again in a moment.",
);

const INTERNAL: Explanation = Explanation::new(
    StatusCode::INTERNAL_SERVER_ERROR,
    "Something went wrong",
    "The page could not be shown. The problem has been logged; please try again later.",
);

fn error_page(site: &Site, explanation: &Explanation) -> warp::reply::Response {
    let page = ErrorPage {
        chrome: Chrome {
            blog_title: site.blog_title.clone(),
            page_title: explanation.heading.to_owned(),
            stylesheet: site.stylesheet,
            admin: false,
            csrf_token: String::new(),
            flash: None,
        },
        status: explanation.status.as_u16(),
        heading: explanation.heading.to_owned(),
        message: explanation.message.to_owned(),
    };
    let body = templates::render(&page).unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot render the error page");
        format!(
            "<!doctype html><title>{status}</title><h1>{status}</h1>",
            status = explanation.status
        )
    });
    let mut response =
        warp::reply::with_status(warp::reply::html(body), explanation.status).into_response();
    if explanation.status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}
