//! `GET /posts/{id}`: one post, its Markdown body rendered and sanitized.

use std::sync::Arc;

use http::StatusCode;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{visitor, with_state, AppState, Visitor};
use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::posts_client::Post;
use crate::templates::{render, Chrome, PostPage, PostView};

pub fn route(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    // A non-numeric or out-of-range id does not match: the 404 page.
    warp::path!("posts" / u64)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(visitor(state))
        .and_then(render_post)
        .boxed()
}

/// Renders a post; an unknown id is the 404 page. Anonymous readers share a cached copy.
pub async fn render_post(
    id: u64,
    state: Arc<AppState>,
    mut visitor: Visitor,
) -> Result<Response, Rejection> {
    if visitor.sees_shared_pages() {
        let render = async {
            let post = state.posts.get(id, &visitor.request_id).await?;
            let chrome = Visitor::shared_chrome(&state, post.title.clone());
            Ok(CachedPage {
                status: StatusCode::OK,
                html: post_html(chrome, &post)?.into(),
            })
        };
        let (page, served) = state
            .pages
            .get_or_render(PageKey::Post { id }, render)
            .await?;
        return Ok(visitor.shared_page(&page, served));
    }
    let post = state.posts.get(id, &visitor.request_id).await?;
    let chrome = visitor.chrome(&state, post.title.clone());
    let html = post_html(chrome, &post)?;
    Ok(visitor.page(StatusCode::OK, html))
}

fn post_html(chrome: Chrome, post: &Post) -> Result<String, PageError> {
    render(&PostPage {
        chrome,
        post: PostView::new(post),
    })
}
