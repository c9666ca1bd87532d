//! `GET /admin`: the posts the signed-in admin may edit — drafts first, then scheduled
//! posts, then published ones — each with its status, author, date and an edit link.
//!
//! The lists come from posts-service's summaries with the API token (`?status=draft`,
//! `scheduled`, `published`), newest first within each. Drafts and scheduled posts are
//! listed up to 100 each; published posts 50 to a page, with `/admin?before=ID` for
//! older ones.

use std::sync::Arc;

use http::{Method, StatusCode};
use posts_api::{ListStatus, PostSummary};
use serde::Deserialize;
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::slug::post_path;
use crate::state::{with_state, AppState};
use crate::templates::{render, AdminPage, AdminRow};
use crate::web::guards::admin;
use crate::web::respond::page;
use crate::web::Admin;
use crate::zone::BlogZone;

/// Most drafts, and most scheduled posts, listed.
const UNPUBLISHED_LIMIT: u32 = 100;
/// Published posts on one page.
const PUBLISHED_PAGE: u32 = 50;

/// `?before=ID`: published posts older than this id.
#[derive(Debug, Default, Deserialize)]
pub struct AdminQuery {
    pub before: Option<u64>,
}

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let list = warp::path!("admin")
        .and(route("/admin", Method::GET))
        .and(with_state(state))
        .and(admin(state))
        .and(warp::query::<AdminQuery>())
        .then(show_admin);
    page(&state.site, list)
}

/// The listing.
pub async fn show_admin(
    state: Arc<AppState>,
    admin: Admin,
    query: AdminQuery,
) -> Result<Response, PageError> {
    let mut visitor = admin.into_visitor();
    let zone = &state.site.zone;
    let posts = &state.posts;
    let request_id = &visitor.request_id;
    let mut rows = Vec::new();
    if query.before.is_none() {
        for (status, label) in [
            (ListStatus::Draft, "Draft"),
            (ListStatus::Scheduled, "Scheduled"),
        ] {
            let page = posts
                .summaries_with_status(status, UNPUBLISHED_LIMIT, None, request_id)
                .await?;
            rows.extend(page.posts.iter().map(|post| row(post, label, zone)));
        }
    }
    let published = posts
        .summaries_with_status(
            ListStatus::Published,
            PUBLISHED_PAGE,
            query.before,
            request_id,
        )
        .await?;
    rows.extend(
        published
            .posts
            .iter()
            .map(|post| row(post, "Published", zone)),
    );
    let chrome = visitor.chrome(&state, "Manage posts");
    let html = render(&AdminPage {
        chrome,
        rows,
        older_href: published
            .next_before
            .map(|id| format!("/admin?before={id}")),
        zone: zone.name().to_owned(),
    })?;
    Ok(visitor.page(StatusCode::OK, html))
}

fn row(post: &PostSummary, status: &'static str, zone: &BlogZone) -> AdminRow {
    let date = match status {
        "Draft" => post.updated_at,
        _ => post.published_at.unwrap_or(post.created_at),
    };
    AdminRow {
        title: post.title.clone(),
        href: post_path(&post.slug),
        edit_href: format!("/edit/{}", post.id),
        status,
        author: post
            .author
            .as_ref()
            .map_or_else(|| "—".to_owned(), |author| author.name.clone()),
        date: zone.human(date),
    }
}
