//! `GET /posts/{slug}`: one post, its body as the HTML posts-service stored when it was
//! written. `/posts/{id}` and every earlier slug of a post answer `301` to its current
//! slug (posts-service finds a post by any of them and answers its current slug).
//!
//! Readers ask posts-service without the API token, so a draft or a scheduled post is a
//! 404 for them; their pages (redirects and 404s included) are shared through the page
//! cache. A signed-in admin's page is fetched with the token, shows a draft or a
//! scheduled post with a banner saying so, and is never shared.

use std::sync::Arc;

use http::{Method, StatusCode};
use posts_api::{visibility, Post, Visibility};
use service_runtime::metrics::route;
use time::OffsetDateTime;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::pages::link_card::LinkCard;
use crate::posts_client::UpstreamError;
use crate::slug::{post_path, PostRef};
use crate::state::{with_state, AppState};
use crate::templates::{render, Chrome, PostPage, PostView, StatusBanner};
use crate::web::respond::page;
use crate::web::visitor::{visitor, Visitor};

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let post = warp::path!("posts" / String)
        .and(route("/posts/{slug}", Method::GET))
        .and(with_state(state))
        .and(visitor(state))
        .then(render_post);
    page(&state.site, post)
}

/// Renders a post, or redirects to its current address; an unknown id or slug (or one
/// that can name no post) is the 404 page. Anonymous readers share a cached copy (a
/// redirect or a remembered 404 too).
pub async fn render_post(
    segment: String,
    state: Arc<AppState>,
    mut visitor: Visitor,
) -> Result<Response, PageError> {
    // Checked before anything is asked or cached: the key stays small and bounded.
    let post_ref = PostRef::parse(&segment).ok_or(PageError::NotFound)?;
    let key = match post_ref {
        PostRef::Id(id) => PageKey::Post { id },
        PostRef::Slug(slug) => PageKey::Slug { slug },
    };
    if visitor.sees_shared_pages() {
        let render = {
            let state = state.clone();
            let request_id = visitor.request_id.clone();
            async move {
                let post = state.posts.find(&post_ref.key(), &request_id).await?;
                // posts-service shows readers only visible posts; never share another.
                if !post.is_visible_at(OffsetDateTime::now_utc()) {
                    return Err(PageError::NotFound);
                }
                if !post_ref.is_current(&post.slug) {
                    return Ok(CachedPage::moved(&post_path(&post.slug)));
                }
                let chrome = Visitor::shared_chrome(&state, post.title.clone());
                Ok(CachedPage::new(
                    StatusCode::OK,
                    post_html(&state, chrome, &post, None)?,
                ))
            }
        };
        let (page, served) = state.pages.get_or_render(key, render).await?;
        if let Some(location) = page.moved_to() {
            return Ok(visitor.moved_permanently(location));
        }
        return Ok(visitor.shared_page(&state, &page, served));
    }
    let key_text = post_ref.key();
    let found = if visitor.is_admin() {
        state.posts.find_any(&key_text, &visitor.request_id).await
    } else {
        state.posts.find(&key_text, &visitor.request_id).await
    };
    let post = match found {
        Ok(post) => post,
        Err(error) => {
            if matches!(error, UpstreamError::NotFound) {
                // Gone: readers must not get it from an old copy either.
                state.pages.forget(key).await;
            }
            return Err(error.into());
        }
    };
    let now = OffsetDateTime::now_utc();
    if !visitor.is_admin() && !post.is_visible_at(now) {
        return Err(PageError::NotFound);
    }
    if !post_ref.is_current(&post.slug) {
        return Ok(visitor.moved_permanently(&post_path(&post.slug)));
    }
    let banner = StatusBanner::of(&state.site, &post, now);
    let chrome = visitor.chrome(&state, post.title.clone());
    let html = post_html(&state, chrome, &post, banner)?;
    Ok(visitor.page(StatusCode::OK, html))
}

fn post_html(
    state: &AppState,
    chrome: Chrome,
    post: &Post,
    banner: Option<StatusBanner>,
) -> Result<String, PageError> {
    Ok(render(&PostPage {
        chrome,
        post: PostView::new(post),
        card: LinkCard::new(&state.site, post),
        banner,
    })?)
}

impl StatusBanner {
    /// The banner over a post readers cannot see yet; `None` for a visible post.
    pub fn of(site: &crate::site::Site, post: &Post, now: OffsetDateTime) -> Option<StatusBanner> {
        match visibility(post.status, post.published_at, now) {
            Visibility::Visible => None,
            Visibility::Draft => Some(StatusBanner {
                label: "Draft",
                message: "This post is a draft: readers cannot see it.".to_owned(),
            }),
            Visibility::Scheduled => Some(StatusBanner {
                label: "Scheduled",
                message: format!(
                    "This post is scheduled: readers see it from {}.",
                    post.published_at
                        .map(|at| site.zone.human(at))
                        .unwrap_or_default()
                ),
            }),
        }
    }
}
