//! `GET|POST /delete/{id}`: GET only asks "are you sure?"; the POST from that page
//! deletes, sending the version the admin confirmed as `If-Match`, so a post edited in
//! the meantime is shown again instead of deleted unseen.

use std::sync::Arc;

use http::{Method, StatusCode};
use posts_api::Post;
use serde::Deserialize;
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::posts_client::UpstreamError;
use crate::state::{with_state, AppState};
use crate::templates::{render, DeletePage};
use crate::web::forms::{csrf_form, form_version, CsrfScope};
use crate::web::guards::admin;
use crate::web::respond::page;
use crate::web::{Admin, Visitor};

/// The flash shown on the index after a delete.
pub const DELETED_FLASH: &str = "Entry was deleted";

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let confirm = warp::path!("delete" / u64)
        .and(route("/delete/{id}", Method::GET))
        .and(with_state(state))
        .and(admin(state))
        .then(show_confirmation);
    let delete = warp::path!("delete" / u64)
        .and(route("/delete/{id}", Method::POST))
        .and(with_state(state))
        .and(admin(state))
        .and(csrf_form(state, CsrfScope::Session))
        .then(submit_delete);
    page(&state.site, confirm)
        .or(page(&state.site, delete))
        .unify()
        .boxed()
}

/// The fields of the confirmation form (its CSRF token is checked by [`csrf_form`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    /// The version shown when the admin confirmed.
    pub version: String,
}

fn confirmation_page(
    state: &AppState,
    mut visitor: Visitor,
    status: StatusCode,
    post: Post,
    notice: Option<String>,
) -> Result<Response, PageError> {
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
    admin: Admin,
) -> Result<Response, PageError> {
    let visitor = admin.into_visitor();
    let post = state.posts.get_any(id, &visitor.request_id).await?;
    confirmation_page(&state, visitor, StatusCode::OK, post, None)
}

/// `POST /delete/{id}`: deletes and goes to the index with a flash.
pub async fn submit_delete(
    id: u64,
    state: Arc<AppState>,
    admin: Admin,
    form: DeleteForm,
) -> Result<Response, PageError> {
    let visitor = admin.into_visitor();
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
            let post = state.posts.get_any(id, &visitor.request_id).await?;
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
