//! `GET|POST /add` and `GET|POST /edit/{id}`: the admin's post form.
//!
//! A submission is checked here first with posts-service's own rules (title trimmed,
//! 1 to 128 characters; body at most 65,535 bytes) and again by posts-service; either
//! way a problem re-renders the form with the admin's text and the message by its
//! field. An edit carries the version it was loaded with; when someone saved a newer
//! one meanwhile (412), nothing is overwritten: the form comes back with the admin's
//! text, a conflict notice and the saved version to compare.

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
use crate::posts_client::{FieldProblem, PostInput, UpstreamError};
use crate::templates::{render, ConflictView, DateView, EditorPage, FieldErrors};

/// The flash shown after a new post is saved (the original tutorial's words).
pub const POSTED_FLASH: &str = "New entry was successfully posted";
/// The flash shown after an edit is saved.
pub const UPDATED_FLASH: &str = "Entry was successfully updated";

/// posts-service's limit on titles, in characters after trimming.
pub const TITLE_MAX_CHARS: usize = 128;
/// posts-service's limit on bodies, in bytes of UTF-8.
pub const BODY_MAX_BYTES: usize = 65_535;

pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let show_add = warp::path!("add")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(visitor(state.clone()))
        .and_then(show_add_form);
    let submit_add = warp::path!("add")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(visitor(state.clone()))
        .and(form_body())
        .and_then(submit_add_form);
    let show_edit = warp::path!("edit" / u64)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(visitor(state.clone()))
        .and_then(show_edit_form);
    let submit_edit = warp::path!("edit" / u64)
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(visitor(state))
        .and(form_body())
        .and_then(submit_edit_form);
    show_add
        .or(submit_add)
        .unify()
        .or(show_edit)
        .unify()
        .or(submit_edit)
        .unify()
        .boxed()
}

/// The fields of the post form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PostForm {
    pub title: String,
    pub body: String,
    /// The version an edit form was loaded with.
    pub version: String,
    pub csrf_token: String,
}

/// A submitted post, normalized the way it will be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// The title as typed (shown again on errors).
    pub title: String,
    /// The body with browser line endings (`\r\n`) made `\n`.
    pub body: String,
}

impl Draft {
    pub fn from_form(form: &PostForm) -> Draft {
        Draft {
            title: form.title.clone(),
            body: form.body.replace("\r\n", "\n"),
        }
    }

    /// What posts-service is sent.
    pub fn input(&self) -> PostInput<'_> {
        PostInput {
            title: self.title.trim(),
            body: &self.body,
        }
    }

    /// The same rules posts-service applies, so most mistakes need no round trip.
    pub fn validate(&self) -> FieldErrors {
        let mut errors = FieldErrors::default();
        let title_chars = self.title.trim().chars().count();
        if title_chars == 0 {
            errors.title = Some("Please give the post a title.".to_owned());
        } else if title_chars > TITLE_MAX_CHARS {
            errors.title = Some(format!(
                "The title can have at most {TITLE_MAX_CHARS} characters; this one has {title_chars}."
            ));
        }
        if self.body.len() > BODY_MAX_BYTES {
            errors.body = Some(format!(
                "The text can be at most 65,535 bytes long; this one has {} bytes.",
                self.body.len()
            ));
        }
        errors
    }
}

/// posts-service's 422 problems, by field.
fn errors_from(problems: Vec<FieldProblem>) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for problem in problems {
        let slot = match problem.field.as_str() {
            "title" => &mut errors.title,
            "body" => &mut errors.body,
            _ => &mut errors.form,
        };
        slot.get_or_insert(problem.message);
    }
    if errors.is_empty() {
        errors.form = Some("The post was not accepted. Please check it and try again.".to_owned());
    }
    errors
}

/// What the editor shows besides the text.
struct EditorState {
    /// The post being edited; `None` for a new post.
    id: Option<u64>,
    version: Option<u64>,
    errors: FieldErrors,
    conflict: Option<ConflictView>,
}

fn editor_page(
    state: &AppState,
    mut visitor: Visitor,
    status: StatusCode,
    title: String,
    body: String,
    editor: EditorState,
) -> Result<Response, Rejection> {
    let (heading, action, cancel_href) = match editor.id {
        Some(id) => ("Edit post", format!("/edit/{id}"), format!("/posts/{id}")),
        None => ("New post", "/add".to_owned(), "/".to_owned()),
    };
    let csrf_token = visitor.csrf_token(&state.auth);
    let chrome = visitor.chrome(state, heading);
    let html = render(&EditorPage {
        chrome,
        heading,
        action,
        cancel_href,
        csrf_token,
        title,
        body,
        version: editor.version,
        errors: editor.errors,
        conflict: editor.conflict,
    })?;
    Ok(visitor.page(status, html))
}

/// `GET /add`: an empty form.
pub async fn show_add_form(state: Arc<AppState>, visitor: Visitor) -> Result<Response, Rejection> {
    if !visitor.is_admin() {
        return Ok(login_redirect(visitor, "/add"));
    }
    let editor = EditorState {
        id: None,
        version: None,
        errors: FieldErrors::default(),
        conflict: None,
    };
    editor_page(
        &state,
        visitor,
        StatusCode::OK,
        String::new(),
        String::new(),
        editor,
    )
}

/// `POST /add`: saves a new post and shows it with a flash.
pub async fn submit_add_form(
    state: Arc<AppState>,
    visitor: Visitor,
    body: Bytes,
) -> Result<Response, Rejection> {
    if !visitor.is_admin() {
        return Ok(login_redirect(visitor, "/add"));
    }
    let form: PostForm = parse_form(&body)?;
    visitor.check_csrf(&state.auth, &form.csrf_token)?;
    let draft = Draft::from_form(&form);
    let again = |visitor, status, errors| {
        let editor = EditorState {
            id: None,
            version: None,
            errors,
            conflict: None,
        };
        editor_page(
            &state,
            visitor,
            status,
            draft.title.clone(),
            draft.body.clone(),
            editor,
        )
    };
    let errors = draft.validate();
    if !errors.is_empty() {
        return again(visitor, StatusCode::UNPROCESSABLE_ENTITY, errors);
    }
    match state.posts.create(draft.input(), &visitor.request_id).await {
        Ok(post) => {
            state.pages.invalidate_all();
            Ok(visitor.redirect_with_flash(
                &state.auth,
                &format!("/posts/{}", post.id),
                POSTED_FLASH,
            ))
        }
        Err(UpstreamError::Invalid(problems)) => again(
            visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            errors_from(problems),
        ),
        Err(UpstreamError::Unavailable { .. }) => again(
            visitor,
            StatusCode::SERVICE_UNAVAILABLE,
            unavailable_while_saving(),
        ),
        Err(other) => Err(other.into()),
    }
}

/// `GET /edit/{id}`: the form filled with the saved post and its version.
pub async fn show_edit_form(
    id: u64,
    state: Arc<AppState>,
    visitor: Visitor,
) -> Result<Response, Rejection> {
    if !visitor.is_admin() {
        return Ok(login_redirect(visitor, &format!("/edit/{id}")));
    }
    let post = state.posts.get(id, &visitor.request_id).await?;
    let editor = EditorState {
        id: Some(id),
        version: Some(post.version),
        errors: FieldErrors::default(),
        conflict: None,
    };
    editor_page(
        &state,
        visitor,
        StatusCode::OK,
        post.title,
        post.body,
        editor,
    )
}

/// `POST /edit/{id}`: saves the edit unless the post changed since the form was loaded.
pub async fn submit_edit_form(
    id: u64,
    state: Arc<AppState>,
    visitor: Visitor,
    body: Bytes,
) -> Result<Response, Rejection> {
    if !visitor.is_admin() {
        return Ok(login_redirect(visitor, &format!("/edit/{id}")));
    }
    let form: PostForm = parse_form(&body)?;
    visitor.check_csrf(&state.auth, &form.csrf_token)?;
    let version = form_version(&form.version)?;
    let draft = Draft::from_form(&form);
    let again = |visitor, status, version, errors, conflict| {
        let editor = EditorState {
            id: Some(id),
            version: Some(version),
            errors,
            conflict,
        };
        editor_page(
            &state,
            visitor,
            status,
            draft.title.clone(),
            draft.body.clone(),
            editor,
        )
    };
    let errors = draft.validate();
    if !errors.is_empty() {
        return again(
            visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            version,
            errors,
            None,
        );
    }
    match state
        .posts
        .update(id, version, draft.input(), &visitor.request_id)
        .await
    {
        Ok(post) => {
            state.pages.invalidate_all();
            Ok(visitor.redirect_with_flash(
                &state.auth,
                &format!("/posts/{}", post.id),
                UPDATED_FLASH,
            ))
        }
        Err(UpstreamError::Stale) => {
            // Show what was saved meanwhile; the form now carries that version, so
            // saving again is a deliberate choice to replace it.
            let current = match state.posts.get(id, &visitor.request_id).await {
                Ok(current) => current,
                Err(UpstreamError::NotFound) => {
                    return again(
                        visitor,
                        StatusCode::CONFLICT,
                        version,
                        deleted_meanwhile(),
                        None,
                    )
                }
                Err(other) => return Err(other.into()),
            };
            let conflict = ConflictView {
                title: current.title.clone(),
                body: current.body.clone(),
                updated: DateView::new(current.updated_at),
            };
            again(
                visitor,
                StatusCode::CONFLICT,
                current.version,
                FieldErrors::default(),
                Some(conflict),
            )
        }
        Err(UpstreamError::Invalid(problems)) => again(
            visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            version,
            errors_from(problems),
            None,
        ),
        // A deletion is a concurrent change too: keep the text, overwrite nothing.
        Err(UpstreamError::NotFound) => again(
            visitor,
            StatusCode::CONFLICT,
            version,
            deleted_meanwhile(),
            None,
        ),
        Err(UpstreamError::Unavailable { .. }) => again(
            visitor,
            StatusCode::SERVICE_UNAVAILABLE,
            version,
            unavailable_while_saving(),
            None,
        ),
    }
}

/// The form-level error when the post was deleted while it was being edited.
fn deleted_meanwhile() -> FieldErrors {
    FieldErrors {
        form: Some(
            "This post was deleted while you were editing it. Nothing was saved; your text \
             is still below, so you can copy it into a new post."
                .to_owned(),
        ),
        ..FieldErrors::default()
    }
}

/// The form-level error when the posts service cannot be reached while saving.
fn unavailable_while_saving() -> FieldErrors {
    FieldErrors {
        form: Some(
            "The blog cannot save right now. Nothing was lost: your text is below; \
             try saving again in a moment."
                .to_owned(),
        ),
        ..FieldErrors::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(title: &str, body: &str) -> Draft {
        Draft::from_form(&PostForm {
            title: title.into(),
            body: body.into(),
            ..PostForm::default()
        })
    }

    #[test]
    fn title_is_required_after_trimming() {
        assert!(draft("  \t ", "body").validate().title.is_some());
        assert!(draft(" ok ", "").validate().is_empty());
        assert_eq!(draft(" ok ", "").input().title, "ok");
    }

    #[test]
    fn title_length_counts_characters() {
        assert!(draft(&"é".repeat(128), "").validate().is_empty());
        let errors = draft(&"é".repeat(129), "").validate();
        assert!(errors.title.unwrap().contains("128"));
    }

    #[test]
    fn body_length_counts_bytes() {
        assert!(draft("t", &"a".repeat(65_535)).validate().is_empty());
        assert!(draft("t", &"a".repeat(65_536)).validate().body.is_some());
        // 32,768 two-byte characters are 65,536 bytes.
        assert!(draft("t", &"é".repeat(32_768)).validate().body.is_some());
    }

    #[test]
    fn browser_line_endings_are_normalized() {
        assert_eq!(draft("t", "a\r\nb").body, "a\nb");
    }

    #[test]
    fn upstream_problems_land_by_their_field() {
        let errors = errors_from(vec![
            FieldProblem {
                field: "title".into(),
                message: "too long".into(),
            },
            FieldProblem {
                field: "other".into(),
                message: "odd".into(),
            },
        ]);
        assert_eq!(errors.title.as_deref(), Some("too long"));
        assert_eq!(errors.form.as_deref(), Some("odd"));
        assert!(errors_from(vec![]).form.is_some());
    }
}
