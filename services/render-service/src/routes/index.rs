//! `GET /`: the newest posts, ten to a page, each with its title, date and a teaser;
//! "Older posts" pages on with `/?before=ID` (keyset paging, as posts-service does).

use std::sync::Arc;

use http::StatusCode;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{visitor, with_state, AppState, Visitor};
use crate::templates::{render, IndexPage, PostSummary};

/// Posts on one page of the index.
pub const PAGE_SIZE: u32 = 10;

/// `?before=ID`: show posts older than this id.
#[derive(Debug, Default, Deserialize)]
pub struct IndexQuery {
    pub before: Option<u64>,
}

pub fn route(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    warp::path::end()
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(visitor(state))
        .and(warp::query::<IndexQuery>())
        .and_then(render_index)
        .boxed()
}

/// Renders one page of the index.
pub async fn render_index(
    state: Arc<AppState>,
    mut visitor: Visitor,
    query: IndexQuery,
) -> Result<Response, Rejection> {
    let page = state
        .posts
        .list(PAGE_SIZE, query.before, &visitor.request_id)
        .await?;
    let is_older_page = query.before.is_some();
    let chrome = visitor.chrome(
        &state,
        if is_older_page {
            "Older posts"
        } else {
            "Latest posts"
        },
    );
    let html = render(&IndexPage {
        chrome,
        posts: page.posts.iter().map(PostSummary::new).collect(),
        older_href: page.next_before.map(|id| format!("/?before={id}")),
        is_older_page,
    })?;
    Ok(visitor.page(StatusCode::OK, html))
}
