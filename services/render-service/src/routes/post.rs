//! `GET /posts/{id}`: one post, its Markdown body rendered and sanitized.

use std::sync::Arc;

use http::StatusCode;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{visitor, with_state, AppState, Visitor};
use crate::templates::{render, PostPage, PostView};

pub fn route(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    // A non-numeric or out-of-range id does not match: the 404 page.
    warp::path!("posts" / u64)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(visitor(state))
        .and_then(render_post)
        .boxed()
}

/// Renders a post; an unknown id is the 404 page.
pub async fn render_post(
    id: u64,
    state: Arc<AppState>,
    mut visitor: Visitor,
) -> Result<Response, Rejection> {
    let post = state.posts.get(id, &visitor.request_id).await?;
    let chrome = visitor.chrome(&state, post.title.clone());
    let html = render(&PostPage {
        chrome,
        post: PostView::new(&post),
    })?;
    Ok(visitor.page(StatusCode::OK, html))
}
