//! `GET /posts/{id}`: one post, its body as the HTML posts-service stored when it was written.

use std::sync::Arc;

use http::{Method, StatusCode};
use posts_api::Post;
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::pages::link_card::LinkCard;
use crate::posts_client::UpstreamError;
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

/// Renders a post; an unknown id is the 404 page. Anonymous readers share a cached copy
/// (an unknown id too, as a remembered 404).
pub async fn render_post(
    id: u64,
    state: Arc<AppState>,
    mut visitor: Visitor,
) -> Result<Response, PageError> {
    let key = PageKey::Post { id };
    if visitor.sees_shared_pages() {
        let render = {
            let state = state.clone();
            let request_id = visitor.request_id.clone();
            async move {
                let post = state.posts.get(id, &request_id).await?;
                let chrome = Visitor::shared_chrome(&state, post.title.clone());
                Ok(CachedPage::new(
                    StatusCode::OK,
                    post_html(&state, chrome, &post)?,
                ))
            }
        };
        let (page, served) = state.pages.get_or_render(key, render).await?;
        return Ok(visitor.shared_page(&state, &page, served));
    }
    let post = match state.posts.get(id, &visitor.request_id).await {
        Ok(post) => post,
        Err(error) => {
            if matches!(error, UpstreamError::NotFound) {
                // Gone: readers must not get it from an old copy either.
                state.pages.forget(key).await;
            }
            return Err(error.into());
        }
    };
    let chrome = visitor.chrome(&state, post.title.clone());
    let html = post_html(&state, chrome, &post)?;
    Ok(visitor.page(StatusCode::OK, html))
}

fn post_html(state: &AppState, chrome: Chrome, post: &Post) -> Result<String, PageError> {
    Ok(render(&PostPage {
        chrome,
        post: PostView::new(post),
        card: LinkCard::new(&state.site, post),
    })?)
}
