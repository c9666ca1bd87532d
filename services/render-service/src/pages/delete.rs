//! `GET|POST /delete/{id}`: GET only asks "are you sure?"; the POST from that page
//! deletes, sending the version the admin confirmed as `If-Match`, so a post edited in
//! the meantime is shown again instead of deleted unseen.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{
    form_body, form_version, login_redirect, parse_form, visitor, with_state, AppState, Visitor,
};
use crate::posts_client::{Post, UpstreamError};
use crate::templates::{render, DeletePage};

/// The flash shown on the index after a delete.
pub const DELETED_FLASH: &str = "Entry was deleted";

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let confirm = warp::path!("delete" / u64)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(visitor(state.clone()))
        .and_then(show_confirmation);
    let delete = warp::path!("delete" / u64)
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(visitor(state))
        .and(form_body())
        .and_then(submit_delete);
    confirm.or(delete).unify().boxed()
}

/// The fields of the confirmation form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    pub csrf_token: String,
    /// The version shown when the admin confirmed; empty deletes whatever is there.
    pub version: String,
}

fn confirmation_page(
    state: &AppState,
    mut visitor: Visitor,
    status: StatusCode,
    post: Post,
    notice: Option<String>,
) -> Result<Response, Rejection> {
    let csrf_token = visitor.csrf_token(&state.auth);
    let chrome = visitor.chrome(state, format!("Delete “{}”", post.title));
    let html = render(&DeletePage {
        chrome,
        id: post.id,
        title: post.title,
        version: post.version,
        csrf_token,
        notice,
    })?;
    Ok(visitor.page(status, html))
}

/// `GET /delete/{id}`: asks for confirmation; deletes nothing.
pub async fn show_confirmation(
    id: u64,
    state: Arc<AppState>,
    visitor: Visitor,
) -> Result<Response, Rejection> {
    if !visitor.is_admin() {
        return Ok(login_redirect(visitor, &format!("/delete/{id}")));
    }
    let post = state.posts.get(id, &visitor.request_id).await?;
    confirmation_page(&state, visitor, StatusCode::OK, post, None)
}

/// `POST /delete/{id}`: deletes and goes to the index with a flash.
pub async fn submit_delete(
    id: u64,
    state: Arc<AppState>,
    visitor: Visitor,
    body: Bytes,
) -> Result<Response, Rejection> {
    if !visitor.is_admin() {
        return Ok(login_redirect(visitor, &format!("/delete/{id}")));
    }
    let form: DeleteForm = parse_form(&body)?;
    visitor.check_csrf(&state.auth, &form.csrf_token)?;
    // The version the admin confirmed: without it the delete could remove a post
    // edited since, unseen.
    let version = form_version(&form.version)?;
    match state
        .posts
        .delete(id, Some(version), &visitor.request_id)
        .await
    {
        Ok(()) => {
            state.pages.invalidate_all();
            Ok(visitor.redirect_with_flash(&state.auth, "/", DELETED_FLASH))
        }
        Err(UpstreamError::Stale) => {
            let post = state.posts.get(id, &visitor.request_id).await?;
            let notice = "This post was changed after you opened this page. Look at it again before deleting it.";
            confirmation_page(
                &state,
                visitor,
                StatusCode::CONFLICT,
                post,
                Some(notice.to_owned()),
            )
        }
        Err(other) => Err(other.into()),
    }
}
