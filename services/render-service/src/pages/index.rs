//! `GET /`: the newest posts, ten to a page, each with its title, date and a teaser;
//! "Older posts" pages on with `/?before=ID` (keyset paging, as posts-service does).

use std::sync::Arc;

use http::{Method, StatusCode};
use serde::Deserialize;
use service_runtime::metrics::route;
use service_runtime::request_id::RequestId;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::state::{with_state, AppState};
use crate::templates::{render, Chrome, IndexPage, PostSummary};
use crate::web::respond::page;
use crate::web::visitor::{visitor, Visitor};

/// Posts on one page of the index.
pub const PAGE_SIZE: u32 = 10;

/// `?before=ID`: show posts older than this id.
#[derive(Debug, Default, Deserialize)]
pub struct IndexQuery {
    pub before: Option<u64>,
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
    mut visitor: Visitor,
    query: IndexQuery,
) -> Result<Response, PageError> {
    let title = if query.before.is_some() {
        "Older posts"
    } else {
        "Latest posts"
    };
    if visitor.sees_shared_pages() {
        let render = {
            let state = state.clone();
            let request_id = visitor.request_id.clone();
            let before = query.before;
            async move {
                let chrome = Visitor::shared_chrome(&state, title);
                let html = index_html(&state, chrome, before, &request_id).await?;
                Ok(CachedPage::new(StatusCode::OK, html))
            }
        };
        let key = PageKey::Index {
            before: query.before,
        };
        let (page, served) = state.pages.get_or_render(key, render).await?;
        return Ok(visitor.shared_page(&state, &page, served));
    }
    let chrome = visitor.chrome(&state, title);
    let html = index_html(&state, chrome, query.before, &visitor.request_id).await?;
    Ok(visitor.page(StatusCode::OK, html))
}

async fn index_html(
    state: &AppState,
    chrome: Chrome,
    before: Option<u64>,
    request_id: &RequestId,
) -> Result<String, PageError> {
    let page = state.posts.summaries(PAGE_SIZE, before, request_id).await?;
    Ok(render(&IndexPage {
        chrome,
        posts: page.posts.iter().map(PostSummary::new).collect(),
        older_href: page.next_before.map(|id| format!("/?before={id}")),
        is_older_page: before.is_some(),
    })?)
}
