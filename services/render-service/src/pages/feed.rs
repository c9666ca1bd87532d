//! `GET /feed.xml`: an Atom feed of the 20 newest posts, bodies as sanitized HTML.
//!
//! Atom wants absolute links: they start with `PUBLIC_URL` when it is set, else with the
//! request's `Host` (https when `COOKIE_SECURE` says the blog is served over HTTPS).
//! Entry ids are those links, so set `PUBLIC_URL` in production: ids must not change
//! when the blog is reached by another name.

use std::sync::Arc;

use http::{header, HeaderValue, StatusCode};
use service_runtime::metrics::route;
use service_runtime::request_id::{self, RequestId};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::error::PageError;
use crate::markdown;
use crate::site::Site;
use crate::state::{with_state, AppState};
use crate::templates::{render, FeedDocument, FeedEntry};
use crate::web::respond::page;

/// Posts in the feed.
pub const FEED_SIZE: u32 = 20;

/// The feed's media type.
pub const CONTENT_TYPE: &str = "application/atom+xml; charset=utf-8";

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let feed = warp::path!("feed.xml")
        .and(route("/feed.xml"))
        .and(warp::get())
        .and(with_state(state))
        .and(request_id::filter())
        .and(warp::header::optional::<String>("host"))
        .then(render_feed);
    page(&state.site, feed)
}

/// The blog's absolute base URL, without a trailing slash.
pub fn base_url(site: &Site, host: Option<&str>) -> String {
    if let Some(public_url) = &site.public_url {
        return public_url.trim_end_matches('/').to_owned();
    }
    let scheme = if site.https { "https" } else { "http" };
    let host = host
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

fn rfc3339(moment: OffsetDateTime) -> String {
    moment.format(&Rfc3339).unwrap_or_default()
}

/// Renders the feed.
pub async fn render_feed(
    state: Arc<AppState>,
    request_id: RequestId,
    host: Option<String>,
) -> Result<Response, PageError> {
    let page = state.posts.list(FEED_SIZE, None, &request_id).await?;
    let base_url = base_url(&state.site, host.as_deref());
    let updated = page
        .posts
        .iter()
        .map(|post| post.updated_at)
        .max()
        .unwrap_or_else(OffsetDateTime::now_utc);
    let entries = page
        .posts
        .iter()
        .map(|post| FeedEntry {
            title: post.title.clone(),
            url: format!("{base_url}/posts/{}", post.id),
            published: rfc3339(post.created_at),
            updated: rfc3339(post.updated_at),
            content_html: markdown::to_html(&post.body),
        })
        .collect();
    let xml = render(&FeedDocument {
        blog_title: state.site.blog_title.clone(),
        base_url,
        updated: rfc3339(updated),
        entries,
    })?;
    let mut response = warp::reply::with_status(xml, StatusCode::OK).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    // No long-lived HTTP caching: a feed cached for minutes would show an edited or
    // deleted post past the page cache's bound, and without PUBLIC_URL its links come
    // from the request's Host. The default `no-store` applies.
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(public_url: Option<&str>, https: bool) -> Site {
        Site {
            blog_title: "Blog".into(),
            stylesheet: "/static/style.css",
            public_url: public_url.map(str::to_owned),
            https,
        }
    }

    #[test]
    fn public_url_wins() {
        let site = site(Some("https://blog.example/"), false);
        assert_eq!(base_url(&site, Some("other")), "https://blog.example");
    }

    #[test]
    fn host_header_is_used_when_sane() {
        assert_eq!(
            base_url(&site(None, false), Some("localhost:8080")),
            "http://localhost:8080"
        );
        assert_eq!(
            base_url(&site(None, true), Some("blog.example")),
            "https://blog.example"
        );
        assert_eq!(
            base_url(&site(None, false), Some("evil\"><x")),
            "http://localhost"
        );
    }
}
