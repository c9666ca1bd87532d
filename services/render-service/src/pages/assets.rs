//! `GET /static/{file}`: the stylesheet, compiled into the binary.
//!
//! Pages link it as `/static/style.<hash>.css`, the hash being of its content, so it can
//! be cached for a year (`immutable`) and a new release is fetched at once. The plain
//! `/static/style.css` is served too, revalidated by its `ETag`.

use std::sync::LazyLock;

use http::{header, HeaderValue, Method, StatusCode};
use service_runtime::metrics::route;
use sha2::{Digest, Sha256};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

/// The stylesheet's text.
pub const STYLESHEET: &str = include_str!("../../static/style.css");

/// The first 12 hex digits of the stylesheet's SHA-256.
static STYLESHEET_HASH: LazyLock<String> = LazyLock::new(|| {
    Sha256::digest(STYLESHEET.as_bytes())
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
});

static STYLESHEET_FILE: LazyLock<String> =
    LazyLock::new(|| format!("style.{}.css", *STYLESHEET_HASH));

static STYLESHEET_HREF: LazyLock<String> =
    LazyLock::new(|| format!("/static/{}", *STYLESHEET_FILE));

static STYLESHEET_ETAG: LazyLock<String> = LazyLock::new(|| format!("\"{}\"", *STYLESHEET_HASH));

/// The URL pages link the stylesheet with.
pub fn stylesheet_href() -> &'static str {
    STYLESHEET_HREF.as_str()
}

pub fn routes() -> BoxedFilter<(Response,)> {
    warp::path!("static" / String)
        .and(route("/static/{file}", Method::GET))
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(|file: String, if_none_match: Option<String>| async move {
            serve(&file, if_none_match.as_deref()).ok_or_else(warp::reject::not_found)
        })
        .boxed()
}

/// The asset called `file`, or `None` when there is no such asset.
pub fn serve(file: &str, if_none_match: Option<&str>) -> Option<Response> {
    let cache_control = if file == STYLESHEET_FILE.as_str() {
        "public, max-age=31536000, immutable"
    } else if file == "style.css" {
        "public, max-age=0, must-revalidate"
    } else {
        return None;
    };
    let etag = STYLESHEET_ETAG.as_str();
    let unchanged = if_none_match.is_some_and(|tags| {
        tags.split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == etag || tag.trim() == "*")
    });
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        warp::reply::with_status(STYLESHEET, StatusCode::OK).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_stylesheet_is_cached_for_a_year() {
        let file = stylesheet_href().trim_start_matches("/static/");
        let response = serve(file, None).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        assert_eq!(
            response.headers()["content-type"],
            "text/css; charset=utf-8"
        );
    }

    #[test]
    fn matching_etag_is_not_modified() {
        let etag = STYLESHEET_ETAG.as_str();
        let response = serve("style.css", Some(etag)).unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()["etag"], etag);
    }

    #[test]
    fn unknown_assets_are_not_found() {
        assert!(serve("style.0000.css", None).is_none());
        assert!(serve("../Cargo.toml", None).is_none());
    }
}
