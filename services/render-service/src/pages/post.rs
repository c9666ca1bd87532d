//! `GET /posts/{id}`: one post, its Markdown body rendered and sanitized.

use std::sync::Arc;

use http::{Method, StatusCode};
use posts_api::Post;
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::state::{with_state, AppState};
use crate::templates::{render, Chrome, PostPage, PostView};
use crate::web::respond::page;
use crate::web::visitor::{visitor, Visitor};

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    // A non-numeric or out-of-range id does not match: the 404 page.
    let post = warp::path!("posts" / u64)
        .and(route("/posts/{id}", Method::GET))
        .and(with_state(state))
        .and(visitor(state))
        .then(render_post);
    page(&state.site, post)
}

/// Renders a post; an unknown id is the 404 page. Anonymous readers share a cached copy.
pub async fn render_post(
    id: u64,
    state: Arc<AppState>,
    mut visitor: Visitor,
) -> Result<Response, PageError> {
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
    Ok(render(&PostPage {
        chrome,
        post: PostView::new(post),
    })?)
}
