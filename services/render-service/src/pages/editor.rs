//! `GET|POST /add` and `GET|POST /edit/{id}`: the admin's post form: title, body, slug
//! (optional), tags (comma-separated), status (draft or published) and publish time
//! (optional, `YYYY-MM-DDTHH:MM` in `BLOG_TIMEZONE`; see [`crate::zone`]).
//!
//! A submission is checked here first with posts-service's own rules (`posts_api`'s
//! validation, worded for people) and again by posts-service; either way a problem
//! re-renders the form with the admin's text and the message by its field. An edit
//! carries the version it was loaded with; when someone saved a newer one meanwhile
//! (412), nothing is overwritten: the form comes back with the admin's text, a conflict
//! notice and the saved version to compare.
//!
//! The add form carries an idempotency key (128 random bits, made when the empty form
//! is shown and kept when it is shown again), sent to posts-service as
//! `Idempotency-Key`: a double submit, a "save again" after a timeout, or the client's
//! own retry of a create whose answer was lost makes one post, and every submission
//! redirects to it.

use std::ops::ControlFlow;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{Method, StatusCode};
use posts_api::slug::{self, TagProblem};
use posts_api::{
    FieldError, Post, PostInput, PostStatus, Violation, BODY_MAX_BYTES, TAGS_MAX, TAG_MAX_CHARS,
    TITLE_MAX_CHARS,
};
use serde::Deserialize;
use service_runtime::metrics::route;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::posts_client::UpstreamError;
use crate::slug::{is_valid_slug, post_path, SLUG_MAX_CHARS};
use crate::state::{with_state, AppState};
use crate::templates::{render, ConflictView, DateView, EditorPage, FieldErrors};
use crate::web::forms::{csrf_form, form_version, CsrfScope};
use crate::web::guards::{admin, admin_form, Unverified};
use crate::web::respond::page;
use crate::web::{Admin, Visitor};
use crate::zone::{BlogZone, LocalTimeError};

/// The flash shown after a new post is saved (the original tutorial's words).
pub const POSTED_FLASH: &str = "New entry was successfully posted";
/// The flash shown after an edit is saved.
pub const UPDATED_FLASH: &str = "Entry was successfully updated";
/// The flash shown after a draft is saved (new or edited).
pub const DRAFT_FLASH: &str = "Draft saved";

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let show_add = warp::path!("add")
        .and(route("/add", Method::GET))
        .and(with_state(state))
        .and(admin(state))
        .then(show_add_form);
    let submit_add = warp::path!("add")
        .and(route("/add", Method::POST))
        .and(with_state(state))
        .and(admin_form(state))
        .and(csrf_form(state, CsrfScope::Session))
        .then(submit_add_form);
    let show_edit = warp::path!("edit" / u64)
        .and(route("/edit/{id}", Method::GET))
        .and(with_state(state))
        .and(admin(state))
        .then(show_edit_form);
    let submit_edit = warp::path!("edit" / u64)
        .and(route("/edit/{id}", Method::POST))
        .and(with_state(state))
        .and(admin_form(state))
        .and(csrf_form(state, CsrfScope::Session))
        .then(submit_edit_form);
    page(&state.site, show_add)
        .or(page(&state.site, submit_add))
        .unify()
        .or(page(&state.site, show_edit))
        .unify()
        .or(page(&state.site, submit_edit))
        .unify()
        .boxed()
}

/// The fields of the post form (its CSRF token is checked by [`csrf_form`]).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PostForm {
    pub title: String,
    pub body: String,
    /// Empty: posts-service makes the slug from the title (a new post) or keeps it.
    pub slug: String,
    /// Comma-separated.
    pub tags: String,
    /// `draft` or `published` (empty, from a form older than the field: published).
    pub status: String,
    /// `YYYY-MM-DDTHH:MM` in `BLOG_TIMEZONE`, or empty.
    pub published_at: String,
    /// The publish time an edit form was loaded with.
    pub published_at_was: String,
    /// The version an edit form was loaded with.
    pub version: String,
    /// The add form's idempotency key.
    pub idempotency_key: String,
}

/// A fresh idempotency key for an add form: 128 random bits, unpadded base64url.
pub fn new_idempotency_key() -> Result<String, PageError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| PageError::Internal(format!("no random idempotency key: {err}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The key a submitted add form carries, when it has the shape of ours; a form without
/// one (loaded before this version, or made up) gets a fresh key, so it still saves.
fn submitted_idempotency_key(form: &PostForm) -> Result<String, PageError> {
    let key = form.idempotency_key.trim();
    let ours = key.len() == 22
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ours {
        Ok(key.to_owned())
    } else {
        new_idempotency_key()
    }
}

/// A submitted post, normalized the way it will be stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// The title as typed (shown again on errors).
    pub title: String,
    /// The body with browser line endings (`\r\n`) made `\n`.
    pub body: String,
    /// The slug as typed.
    pub slug: String,
    /// The tags as typed, comma-separated.
    pub tags: String,
    /// Whether "Draft" was chosen.
    pub draft: bool,
    /// What the status field held when it was neither `draft` nor `published`.
    bad_status: bool,
    /// The publish time as typed.
    pub published_at: String,
    /// The publish time the edit form was loaded with (not sent when left as it was,
    /// so the stored time keeps its seconds).
    pub published_at_was: Option<String>,
}

impl Draft {
    pub fn from_form(form: &PostForm) -> Draft {
        let status = form.status.trim();
        Draft {
            title: form.title.clone(),
            body: form.body.replace("\r\n", "\n"),
            slug: form.slug.clone(),
            tags: form.tags.clone(),
            draft: status == "draft",
            bad_status: !matches!(status, "" | "draft" | "published"),
            published_at: form.published_at.clone(),
            published_at_was: Some(form.published_at_was.clone()).filter(|was| !was.is_empty()),
        }
    }

    /// A saved post as the edit form shows it (its publish time in `zone`).
    pub fn from_post(post: &Post, zone: &BlogZone) -> Draft {
        let published_at = post
            .published_at
            .map(|at| zone.form_value(at))
            .unwrap_or_default();
        Draft {
            title: post.title.clone(),
            body: post.body.clone(),
            slug: post.slug.clone(),
            tags: post.tags.join(", "),
            draft: post.status == PostStatus::Draft,
            bad_status: false,
            published_at_was: Some(published_at.clone()).filter(|at| !at.is_empty()),
            published_at,
        }
    }

    /// The tags field as typed: split at commas, empty ones (a trailing comma) dropped.
    fn typed_tags(&self) -> Vec<String> {
        self.tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The tags as posts-service will store them (one of each whatever its case, the
    /// first spelling kept), or why they would be refused, in words.
    pub fn tag_list(&self) -> Result<Vec<String>, String> {
        slug::normalize_tags(&self.typed_tags()).map_err(|problems| match &problems[0] {
            TagProblem::TooLong { tag, chars } => {
                format!("A tag can have at most {TAG_MAX_CHARS} characters; “{tag}” has {chars}.")
            }
            TagProblem::Control => "Tags cannot contain control characters.".to_owned(),
            TagProblem::TooMany { count } => {
                format!("A post can have at most {TAGS_MAX} tags; this one has {count}.")
            }
            TagProblem::Empty => "A tag cannot be empty.".to_owned(),
        })
    }

    /// What posts-service is sent, read in `zone`, or what is wrong with it, by field:
    /// posts-service's own rules (worded for people), so most mistakes need no round
    /// trip. posts-service checks everything again.
    pub fn input(&self, zone: &BlogZone) -> Result<PostInput, Box<FieldErrors>> {
        let mut errors = FieldErrors::default();
        let mut input = PostInput::new(self.title.trim(), self.body.as_str());
        if let Err(violations) = input.validate() {
            for violation in violations {
                let slot = match violation.field() {
                    "title" => &mut errors.title,
                    _ => &mut errors.body,
                };
                slot.get_or_insert_with(|| in_words(violation));
            }
        }
        let slug = self.slug.trim();
        if !slug.is_empty() {
            if is_valid_slug(slug) {
                input.slug = Some(slug.to_owned());
            } else {
                errors.slug = Some(format!(
                    "A slug is lowercase letters (a–z) and digits, in words joined by single \
                     hyphens (like my-first-post), at most {SLUG_MAX_CHARS} characters, and \
                     not only digits. Leave it empty to make one from the title."
                ));
            }
        }
        match self.tag_list() {
            Ok(tags) => input.tags = Some(tags),
            Err(words) => {
                errors.tags = Some(words);
                input.tags = Some(self.typed_tags());
            }
        }
        if self.bad_status {
            errors.status = Some("Choose draft or published.".to_owned());
        }
        input.status = Some(if self.draft {
            PostStatus::Draft
        } else {
            PostStatus::Published
        });
        let published_at = self.published_at.trim();
        let unchanged = self.published_at_was.as_deref() == Some(published_at);
        if !published_at.is_empty() && !unchanged {
            match zone.parse_local(published_at) {
                Ok(moment) => input.published_at = Some(moment),
                Err(LocalTimeError::Format) => {
                    errors.published_at = Some(format!(
                        "Write the time as YYYY-MM-DDTHH:MM (like 2026-12-24T18:00), in {}, \
                         or leave it empty.",
                        zone.name()
                    ))
                }
                Err(LocalTimeError::NoSuchTime) => {
                    errors.published_at = Some("There is no such date or time.".to_owned())
                }
            }
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            Err(Box::new(errors))
        }
    }
}

/// A broken rule, as the form says it.
fn in_words(violation: Violation) -> String {
    match violation {
        Violation::TitleMissing | Violation::TitleEmpty => {
            "Please give the post a title.".to_owned()
        }
        Violation::TitleTooLong { chars } => format!(
            "The title can have at most {TITLE_MAX_CHARS} characters; this one has {chars}."
        ),
        Violation::TitleControl => {
            "The title cannot contain control characters (such as a pasted tab or bell).".to_owned()
        }
        Violation::BodyMissing => "Please write the post.".to_owned(),
        Violation::BodyControl => "The text cannot contain control characters other than \
                                   tabs and line breaks."
            .to_owned(),
        Violation::BodyTooLong { bytes } => format!(
            "The text can be at most {} bytes long; this one has {bytes} bytes.",
            thousands(BODY_MAX_BYTES)
        ),
    }
}

/// `65535` as `65,535`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// posts-service's 422 problems, by field (`tags[2]` is about `tags`).
fn errors_from(problems: Vec<FieldError>) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for problem in problems {
        let field = problem
            .field
            .split(['[', '.', '/'])
            .next()
            .unwrap_or_default();
        let slot = match field {
            "title" => &mut errors.title,
            "body" => &mut errors.body,
            "slug" => &mut errors.slug,
            "tags" => &mut errors.tags,
            "status" => &mut errors.status,
            "published_at" => &mut errors.published_at,
            _ => &mut errors.form,
        };
        slot.get_or_insert(problem.message);
    }
    if errors.is_empty() {
        errors.form = Some("The post was not accepted. Please check it and try again.".to_owned());
    }
    errors
}

/// Everything the editor shows: which post, the text, and what went wrong.
struct Editor {
    /// The post being edited; `None` for a new post.
    id: Option<u64>,
    version: Option<u32>,
    /// A new post's idempotency key.
    idempotency_key: Option<String>,
    draft: Draft,
    errors: FieldErrors,
    conflict: Option<ConflictView>,
}

impl Editor {
    fn new_post(draft: Draft, idempotency_key: String) -> Editor {
        Editor {
            id: None,
            version: None,
            idempotency_key: Some(idempotency_key),
            draft,
            errors: FieldErrors::default(),
            conflict: None,
        }
    }

    fn edit(id: u64, version: u32, draft: Draft) -> Editor {
        Editor {
            id: Some(id),
            version: Some(version),
            idempotency_key: None,
            draft,
            errors: FieldErrors::default(),
            conflict: None,
        }
    }

    fn with_errors(self, errors: FieldErrors) -> Editor {
        Editor { errors, ..self }
    }

    /// The form as `visitor` sees it, with `status`.
    fn show(
        self,
        state: &AppState,
        mut visitor: Visitor,
        status: StatusCode,
    ) -> Result<Response, PageError> {
        let (heading, action, cancel_href) = match self.id {
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
            title: self.draft.title,
            body: self.draft.body,
            slug: self.draft.slug,
            tags: self.draft.tags,
            draft: self.draft.draft,
            published_at: self.draft.published_at,
            published_at_was: self.draft.published_at_was,
            zone: state.site.zone.name().to_owned(),
            version: self.version,
            idempotency_key: self.idempotency_key,
            errors: self.errors,
            conflict: self.conflict,
        })?;
        Ok(visitor.page(status, html))
    }
}

/// `GET /add`: an empty form, with a fresh idempotency key.
pub async fn show_add_form(state: Arc<AppState>, admin: Admin) -> Result<Response, PageError> {
    Editor::new_post(Draft::default(), new_idempotency_key()?).show(
        &state,
        admin.into_visitor(),
        StatusCode::OK,
    )
}

/// Before a save: the admin, the editor and what to send, or the answer already due
/// instead: the form kept for later when the session could not be checked, or shown
/// again with its errors (422) when the draft breaks posts-service's rules.
fn ready_to_save(
    state: &AppState,
    admin: Result<Admin, Unverified>,
    editor: Editor,
) -> ControlFlow<Result<Response, PageError>, (Visitor, Editor, PostInput)> {
    let visitor = match admin {
        Ok(admin) => admin.into_visitor(),
        Err(unverified) => return ControlFlow::Break(kept_for_later(state, unverified, editor)),
    };
    match editor.draft.input(&state.site.zone) {
        Ok(input) => ControlFlow::Continue((visitor, editor, input)),
        Err(errors) => ControlFlow::Break(editor.with_errors(*errors).show(
            state,
            visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
    }
}

/// `POST /add`: saves a new post (once per idempotency key) and shows it with a flash.
pub async fn submit_add_form(
    state: Arc<AppState>,
    admin: Result<Admin, Unverified>,
    form: PostForm,
) -> Result<Response, PageError> {
    let key = submitted_idempotency_key(&form)?;
    let editor = Editor::new_post(Draft::from_form(&form), key.clone());
    let (visitor, editor, input) = match ready_to_save(&state, admin, editor) {
        ControlFlow::Continue(ready) => ready,
        ControlFlow::Break(answer) => return answer,
    };
    let error = match state.posts.create(&input, &key, &visitor.request_id).await {
        Ok(post) => return Ok(saved(&state, visitor, &post, POSTED_FLASH)),
        Err(error) => error,
    };
    let (status, errors) = match error {
        UpstreamError::Invalid(problems) => {
            (StatusCode::UNPROCESSABLE_ENTITY, errors_from(problems))
        }
        UpstreamError::Unavailable { .. } | UpstreamError::Busy { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, unavailable_while_saving())
        }
        other => return Err(other.into()),
    };
    editor.with_errors(errors).show(&state, visitor, status)
}

/// `GET /edit/{id}`: the form filled with the saved post and its version.
pub async fn show_edit_form(
    id: u64,
    state: Arc<AppState>,
    admin: Admin,
) -> Result<Response, PageError> {
    let visitor = admin.into_visitor();
    let post = state.posts.get_any(id, &visitor.request_id).await?;
    let draft = Draft::from_post(&post, &state.site.zone);
    Editor::edit(id, post.version, draft).show(&state, visitor, StatusCode::OK)
}

/// `POST /edit/{id}`: saves the edit unless the post changed since the form was loaded.
pub async fn submit_edit_form(
    id: u64,
    state: Arc<AppState>,
    admin: Result<Admin, Unverified>,
    form: PostForm,
) -> Result<Response, PageError> {
    let version = form_version(&form.version)?;
    let editor = Editor::edit(id, version, Draft::from_form(&form));
    let (visitor, editor, input) = match ready_to_save(&state, admin, editor) {
        ControlFlow::Continue(ready) => ready,
        ControlFlow::Break(answer) => return answer,
    };
    let error = match state
        .posts
        .update(id, version, &input, &visitor.request_id)
        .await
    {
        Ok(post) => return Ok(saved(&state, visitor, &post, UPDATED_FLASH)),
        Err(error) => error,
    };
    let (status, editor) = match error {
        UpstreamError::Stale => after_conflict(&state, &visitor, editor).await?,
        UpstreamError::Invalid(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            editor.with_errors(errors_from(problems)),
        ),
        // A deletion is a concurrent change too: keep the text, overwrite nothing.
        UpstreamError::NotFound => (
            StatusCode::CONFLICT,
            editor.with_errors(deleted_meanwhile()),
        ),
        UpstreamError::Unavailable { .. } | UpstreamError::Busy { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            editor.with_errors(unavailable_while_saving()),
        ),
    };
    editor.show(&state, visitor, status)
}

/// After a 412: shows what was saved meanwhile. The form now carries that version, so
/// saving again is a deliberate choice to replace it.
async fn after_conflict(
    state: &AppState,
    visitor: &Visitor,
    editor: Editor,
) -> Result<(StatusCode, Editor), PageError> {
    let id = editor.id.unwrap_or_default();
    match state.posts.get_any(id, &visitor.request_id).await {
        Ok(current) => {
            let conflict = ConflictView {
                title: current.title.clone(),
                body: current.body.clone(),
                updated: DateView::new(current.updated_at),
            };
            let editor = Editor {
                version: Some(current.version),
                conflict: Some(conflict),
                ..editor
            };
            Ok((StatusCode::CONFLICT, editor))
        }
        Err(UpstreamError::NotFound) => Ok((
            StatusCode::CONFLICT,
            editor.with_errors(deleted_meanwhile()),
        )),
        Err(other) => Err(other.into()),
    }
}

/// After a save: the post at its (maybe new) address, with a flash ("Draft saved" for a
/// draft, else `flash`). This replica's cached pages are dropped so readers here see the
/// change at once.
fn saved(state: &AppState, visitor: Visitor, post: &Post, flash: &str) -> Response {
    state.pages.invalidate_all();
    let flash = match post.status {
        PostStatus::Draft => DRAFT_FLASH,
        PostStatus::Published => flash,
    };
    visitor.redirect_with_flash(&state.auth, &post_path(&post.slug), flash)
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

/// The form again, unsaved, when the session could not be checked (posts-service away).
fn kept_for_later(
    state: &AppState,
    unverified: Unverified,
    editor: Editor,
) -> Result<Response, PageError> {
    tracing::info!("answering 503: the session cannot be checked; the form is shown again");
    editor.with_errors(unavailable_while_saving()).show(
        state,
        unverified.into_visitor(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
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
    use time::macros::datetime;

    impl Draft {
        /// What the form would say about this draft, read in UTC.
        fn validate(&self) -> FieldErrors {
            self.input(&BlogZone::utc())
                .err()
                .map(|errors| *errors)
                .unwrap_or_default()
        }
    }

    fn form(fields: &[(&str, &str)]) -> PostForm {
        let mut pairs = vec![("title", "T"), ("body", "B")];
        pairs.extend_from_slice(fields);
        serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).unwrap()).unwrap()
    }

    #[test]
    fn the_new_fields_become_the_input() {
        let berlin = BlogZone::named("Europe/Berlin").unwrap();
        let input = Draft::from_form(&form(&[
            ("slug", " my-post "),
            ("tags", "Rust, web ,, rust,  Async "),
            ("status", "draft"),
            ("published_at", "2026-12-24T18:00"),
        ]))
        .input(&berlin)
        .unwrap();
        assert_eq!(input.slug.as_deref(), Some("my-post"));
        assert_eq!(input.tags.unwrap(), ["Rust", "web", "Async"]);
        assert_eq!(input.status, Some(PostStatus::Draft));
        assert_eq!(input.published_at, Some(datetime!(2026-12-24 17:00 UTC)));
    }

    #[test]
    fn empty_optional_fields_are_left_to_posts_service() {
        let input = Draft::from_form(&form(&[("slug", " "), ("published_at", "")]))
            .input(&BlogZone::utc())
            .unwrap();
        assert_eq!(input.slug, None);
        assert_eq!(input.published_at, None);
        assert_eq!(input.tags, Some(vec![]));
        // A form older than the status field publishes, as it always did.
        assert_eq!(input.status, Some(PostStatus::Published));
    }

    #[test]
    fn an_unchanged_publish_time_is_not_sent_again() {
        let draft = Draft::from_form(&form(&[
            ("published_at", "2026-12-24T18:00"),
            ("published_at_was", "2026-12-24T18:00"),
        ]));
        assert_eq!(draft.input(&BlogZone::utc()).unwrap().published_at, None);
        let draft = Draft::from_form(&form(&[
            ("published_at", "2026-12-24T19:00"),
            ("published_at_was", "2026-12-24T18:00"),
        ]));
        assert_eq!(
            draft.input(&BlogZone::utc()).unwrap().published_at,
            Some(datetime!(2026-12-24 19:00 UTC))
        );
    }

    #[test]
    fn the_edit_form_shows_the_post_in_the_blogs_zone() {
        let post: Post = serde_json::from_str(
            r#"{"id":4,"title":"t","body":"b","html":"","excerpt":"","excerpt_truncated":false,
                "created_at":"2026-06-01T10:00:00Z","updated_at":"2026-06-01T10:00:00Z",
                "version":1,"slug":"t-post","status":"published",
                "published_at":"2026-06-01T10:00:42Z","author":null,"tags":["a","B c"]}"#,
        )
        .unwrap();
        let draft = Draft::from_post(&post, &BlogZone::named("Europe/Berlin").unwrap());
        assert_eq!(draft.slug, "t-post");
        assert_eq!(draft.tags, "a, B c");
        assert!(!draft.draft);
        assert_eq!(draft.published_at, "2026-06-01T12:00");
        assert_eq!(draft.published_at_was.as_deref(), Some("2026-06-01T12:00"));
    }

    #[test]
    fn bad_new_fields_are_shown_by_their_field() {
        let errors = Draft::from_form(&form(&[
            ("slug", "Not A Slug"),
            ("tags", &"x".repeat(33)),
            ("status", "live"),
            ("published_at", "24.12.2026 18:00"),
        ]))
        .validate();
        assert!(errors.slug.unwrap().contains("lowercase"));
        assert!(errors.tags.unwrap().contains("32"));
        assert!(errors.status.is_some());
        assert!(errors.published_at.unwrap().contains("YYYY-MM-DDTHH:MM"));
        assert!(errors.title.is_none() && errors.body.is_none());
        let eleven = (1..=11)
            .map(|n| format!("t{n}"))
            .collect::<Vec<_>>()
            .join(",");
        let errors = Draft::from_form(&form(&[("tags", &eleven), ("slug", "2026")])).validate();
        assert!(errors.tags.unwrap().contains("at most 10"));
        assert!(errors.slug.is_some());
        let errors = Draft::from_form(&form(&[("published_at", "2026-02-30T10:00")])).validate();
        assert_eq!(
            errors.published_at.as_deref(),
            Some("There is no such date or time.")
        );
    }

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
        assert_eq!(
            draft(" ok ", "")
                .input(&BlogZone::utc())
                .unwrap()
                .title
                .as_deref(),
            Some("ok")
        );
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
    fn limits_are_worded_for_people() {
        let errors = draft("t", &"a".repeat(65_536)).validate();
        assert_eq!(
            errors.body.as_deref(),
            Some("The text can be at most 65,535 bytes long; this one has 65536 bytes.")
        );
    }

    #[test]
    fn idempotency_keys_are_fresh_128_bit_and_kept_when_ours() {
        let key = new_idempotency_key().unwrap();
        assert_eq!(key.len(), 22);
        assert_ne!(key, new_idempotency_key().unwrap());
        let form = |key: &str| PostForm {
            idempotency_key: key.into(),
            ..PostForm::default()
        };
        assert_eq!(submitted_idempotency_key(&form(&key)).unwrap(), key);
        for odd in ["", "short", "has spaces in it 123456", &"x".repeat(200)] {
            let fresh = submitted_idempotency_key(&form(odd)).unwrap();
            assert_eq!(fresh.len(), 22, "{odd:?}");
            assert_ne!(fresh, odd);
        }
    }

    #[test]
    fn browser_line_endings_are_normalized() {
        assert_eq!(draft("t", "a\r\nb").body, "a\nb");
    }

    #[test]
    fn upstream_problems_land_by_their_field() {
        let errors = errors_from(vec![
            FieldError {
                field: "title".into(),
                message: "too long".into(),
            },
            FieldError {
                field: "other".into(),
                message: "odd".into(),
            },
            FieldError {
                field: "slug".into(),
                message: "slug is taken".into(),
            },
            FieldError {
                field: "tags[3]".into(),
                message: "too long".into(),
            },
        ]);
        assert_eq!(errors.slug.as_deref(), Some("slug is taken"));
        assert_eq!(errors.tags.as_deref(), Some("too long"));
        assert_eq!(errors.title.as_deref(), Some("too long"));
        assert_eq!(errors.form.as_deref(), Some("odd"));
        assert!(errors_from(vec![]).form.is_some());
    }
}
