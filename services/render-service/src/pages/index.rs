//! `GET /`: the newest posts, ten to a page, each with its title, date, tags and a
//! teaser; "Older posts" pages on with `/?before=ID` (keyset paging, as posts-service
//! does). A tag's page (`/tags/{slug}`, [`crate::pages::tags`]) is the same list of one
//! tag's posts, rendered here too ([`render_listing`]).

use std::sync::Arc;

use http::{Method, StatusCode};
use posts_api::SummariesPage;
use serde::Deserialize;
use service_runtime::metrics::route;
use service_runtime::request_id::RequestId;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::slug::{tag_path, Slug};
use crate::state::{with_state, AppState};
use crate::templates::{render, Chrome, IndexPage, PostSummary, TagHeading};
use crate::web::respond::page;
use crate::web::visitor::{visitor, Visitor};

/// Posts on one page of the index.
pub const PAGE_SIZE: u32 = 10;

/// `?before=ID`: show posts older than this id.
#[derive(Debug, Default, Deserialize)]
pub struct IndexQuery {
    pub before: Option<u64>,
}

/// Which posts a list page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Every visible post: `/`.
    All,
    /// The visible posts with this tag: `/tags/{slug}`.
    Tag(Slug),
}

impl Listing {
    /// The page's address, without a query.
    fn path(self) -> String {
        match self {
            Listing::All => "/".to_owned(),
            Listing::Tag(slug) => tag_path(slug.as_str()),
        }
    }

    /// Its key in the page cache.
    fn key(self, before: Option<u64>) -> PageKey {
        match self {
            Listing::All => PageKey::Index { before },
            Listing::Tag(slug) => PageKey::Tag { slug, before },
        }
    }
}

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let index = warp::path::end()
        .and(route("/", Method::GET))
        .and(with_state(state))
        .and(visitor(state))
        .and(warp::query::<IndexQuery>())
        .then(render_index);
    page(&state.site, index)
}

/// Renders one page of the index; anonymous readers share a cached copy.
pub async fn render_index(
    state: Arc<AppState>,
    visitor: Visitor,
    query: IndexQuery,
) -> Result<Response, PageError> {
    render_listing(state, visitor, Listing::All, query.before).await
}

/// Renders one page of `listing`; anonymous readers share a cached copy (for a tag
/// that does not exist, a remembered 404).
pub async fn render_listing(
    state: Arc<AppState>,
    mut visitor: Visitor,
    listing: Listing,
    before: Option<u64>,
) -> Result<Response, PageError> {
    if visitor.sees_shared_pages() {
        let render = {
            let state = state.clone();
            let request_id = visitor.request_id.clone();
            async move {
                let html = listing_html(
                    &state,
                    |title| Visitor::shared_chrome(&state, title),
                    listing,
                    before,
                    &request_id,
                )
                .await?;
                Ok(CachedPage::new(StatusCode::OK, html))
            }
        };
        let (page, served) = state
            .pages
            .get_or_render(listing.key(before), render)
            .await?;
        return Ok(visitor.shared_page(&state, &page, served));
    }
    let request_id = visitor.request_id.clone();
    let html = listing_html(
        &state,
        |title| visitor.chrome(&state, title),
        listing,
        before,
        &request_id,
    )
    .await?;
    Ok(visitor.page(StatusCode::OK, html))
}

/// The page's HTML, its frame made by `chrome` from the page's title once the posts
/// (and, for a tag, its name) are known.
async fn listing_html(
    state: &AppState,
    chrome: impl FnOnce(String) -> Chrome,
    listing: Listing,
    before: Option<u64>,
    request_id: &RequestId,
) -> Result<String, PageError> {
    let page: SummariesPage = match listing {
        Listing::All => state.posts.summaries(PAGE_SIZE, before, request_id).await?,
        Listing::Tag(slug) => {
            state
                .posts
                .tag_summaries(slug.as_str(), PAGE_SIZE, before, request_id)
                .await?
        }
    };
    let tag = match listing {
        Listing::All => None,
        Listing::Tag(slug) => {
            let href = tag_path(slug.as_str());
            Some(TagHeading {
                // An older posts-service does not name the tag: its slug stands in.
                name: page
                    .tag
                    .as_ref()
                    .map(|tag| tag.name.clone())
                    .unwrap_or_else(|| slug.to_string()),
                feed_href: format!("{href}/feed.xml"),
                href,
            })
        }
    };
    let title = match (&tag, before.is_some()) {
        (Some(tag), false) => format!("Posts tagged “{}”", tag.name),
        (Some(tag), true) => format!("Older posts tagged “{}”", tag.name),
        (None, false) => "Latest posts".to_owned(),
        (None, true) => "Older posts".to_owned(),
    };
    let path = listing.path();
    Ok(render(&IndexPage {
        chrome: chrome(title),
        posts: page.posts.iter().map(PostSummary::new).collect(),
        older_href: page.next_before.map(|id| format!("{path}?before={id}")),
        is_older_page: before.is_some(),
        tag,
    })?)
}
