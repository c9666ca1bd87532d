//! `GET /tags/{slug}`: the visible posts with one tag, paged like the index
//! (`?before=ID`), and `GET /tags/{slug}/feed.xml`, its Atom feed. Both are the index's
//! and the feed's own handlers ([`render_listing`], [`render_feed`]) for
//! [`Listing::Tag`]: shared through the page cache, conditional, and answering `HEAD`
//! like them. The slug is checked by the same rule as a post's before anything is asked
//! or cached; a tag posts-service does not know is the 404 page.

use std::sync::Arc;

use http::Method;
use service_runtime::metrics::route;
use service_runtime::request_id::{self, RequestId};
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::pages::feed::render_feed;
use crate::pages::index::{render_listing, IndexQuery, Listing};
use crate::slug::Slug;
use crate::state::{with_state, AppState};
use crate::web::conditional::{conditional, Conditional};
use crate::web::respond::page;
use crate::web::visitor::{visitor, Visitor};

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let tag = warp::path!("tags" / String)
        .and(route("/tags/{slug}", Method::GET))
        .and(with_state(state))
        .and(visitor(state))
        .and(warp::query::<IndexQuery>())
        .then(render_tag);
    let feed = warp::path!("tags" / String / "feed.xml")
        .and(route("/tags/{slug}/feed.xml", Method::GET))
        .and(with_state(state))
        .and(request_id::filter())
        .and(warp::header::optional::<String>("host"))
        .and(conditional())
        .then(render_tag_feed);
    page(&state.site, tag.or(feed).unify())
}

/// One page of a tag's posts.
async fn render_tag(
    segment: String,
    state: Arc<AppState>,
    visitor: Visitor,
    query: IndexQuery,
) -> Result<Response, PageError> {
    let slug = Slug::parse(&segment).ok_or(PageError::NotFound)?;
    render_listing(state, visitor, Listing::Tag(slug), query.before).await
}

/// A tag's feed.
async fn render_tag_feed(
    segment: String,
    state: Arc<AppState>,
    request_id: RequestId,
    host: Option<String>,
    conditional: Conditional,
) -> Result<Response, PageError> {
    let slug = Slug::parse(&segment).ok_or(PageError::NotFound)?;
    render_feed(state, request_id, host, conditional, Listing::Tag(slug)).await
}
