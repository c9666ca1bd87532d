//! Handlers for the six rows of the API table. Each takes exactly what its route
//! extracts and answers with a response or an [`ApiError`]; the writes take an
//! [`Authorized`], so none can run without the token. The reads take the
//! [`Audience`]: without the token they show only visible posts.

use bytes::Bytes;
use http::header::{HeaderValue, ETAG, LOCATION};
use http::{HeaderMap, StatusCode};
use posts_api::{etag, MetaViolation, Post, PostInput};
use warp::reply::Response;

use super::accounts::acting_user;
use super::reply::json;
use super::request::{self, Authorized, IfMatch, PostKey};
use crate::db::posts::{Audience, Expected, NewContent, WriteOutcome};
use crate::error::ApiError;
use crate::idempotency::Outcome;
use crate::rendering;
use crate::state::AppState;

/// The response header set on a replayed create.
const REPLAYED: &str = "idempotent-replayed";

/// `GET /v1/posts?limit=N&before=ID&status=S&tag=T`
pub async fn list(
    raw_query: String,
    audience: Audience,
    state: AppState,
) -> Result<Response, ApiError> {
    let query = request::list_query(&raw_query)?;
    let status = query.status_for(audience)?;
    let tag = query.tag_slug()?;
    let page = state
        .store
        .list(status, query.before, query.limit, tag)
        .await?
        .ok_or(ApiError::NoSuchTag)?;
    Ok(json(StatusCode::OK, &page))
}

/// `GET /v1/post-summaries?limit=N&before=ID&status=S&tag=T`: the list without bodies
/// or HTML; with `tag`, the page names the tag.
pub async fn summaries(
    raw_query: String,
    audience: Audience,
    state: AppState,
) -> Result<Response, ApiError> {
    let query = request::list_query(&raw_query)?;
    let status = query.status_for(audience)?;
    let tag = query.tag_slug()?;
    let page = state
        .store
        .summaries(status, query.before, query.limit, tag)
        .await?
        .ok_or(ApiError::NoSuchTag)?;
    Ok(json(StatusCode::OK, &page))
}

/// `GET /v1/posts/{id}` or `GET /v1/posts/{slug}` (current or earlier slug).
pub async fn get(key: String, audience: Audience, state: AppState) -> Result<Response, ApiError> {
    let post = match request::post_key(&key)? {
        PostKey::Id(id) => state.store.get(id, audience).await?,
        PostKey::Slug(slug) => state.store.get_by_slug(&slug, audience).await?,
    };
    let post = post.ok_or(ApiError::NotFound)?;
    Ok(post_response(StatusCode::OK, &post))
}

/// The valid content of a create or update, rendered; a 422 naming every broken rule.
async fn valid_content(input: PostInput, author_id: Option<u64>) -> Result<NewContent, ApiError> {
    let (content, meta) = match (input.validate(), input.validate_meta()) {
        (Ok(content), Ok(meta)) => (content, meta),
        (content, meta) => {
            return Err(ApiError::invalid(
                content.err().as_deref().unwrap_or_default(),
                meta.err().as_deref().unwrap_or_default(),
            ))
        }
    };
    Ok(NewContent {
        rendered: rendering::render(content).await,
        meta,
        author_id,
    })
}

fn slug_taken() -> ApiError {
    ApiError::invalid(&[], &[MetaViolation::SlugTaken])
}

/// `POST /v1/posts`, idempotent under an `Idempotency-Key` ([`crate::idempotency`]).
pub async fn create(
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let key = request::idempotency_key(&headers)?;
    let acting = acting_user(&headers, &state).await?;
    let input = request::json::<PostInput>(&headers, body)?;
    let content = valid_content(input, acting.map(|user| user.id)).await?;
    let Some(key) = key else {
        let post = state
            .store
            .create(content)
            .await?
            .map_err(|_| slug_taken())?;
        tracing::info!(post_id = post.id, "post created");
        return Ok(created_response(&post));
    };
    match state.store.create_idempotent(content, key).await? {
        Outcome::Created(post) => {
            tracing::info!(post_id = post.id, "post created (with an idempotency key)");
            Ok(created_response(&post))
        }
        Outcome::Replayed(post) => {
            tracing::info!(post_id = post.id, "create replayed for its idempotency key");
            let mut response = created_response(&post);
            response
                .headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        Outcome::KeyReused => Err(ApiError::IdempotencyKeyReused),
        Outcome::SlugTaken => Err(slug_taken()),
    }
}

/// 201 with the post, its `Location` and `ETag`.
fn created_response(post: &Post) -> Response {
    let mut response = post_response(StatusCode::CREATED, post);
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/posts/{}", post.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// `PUT /v1/posts/{id}` with `If-Match` required.
pub async fn update(
    id: u64,
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let expected = match request::if_match(&headers)? {
        IfMatch::Absent => return Err(ApiError::PreconditionRequired),
        IfMatch::Any => Expected::Any,
        IfMatch::Version(version) => Expected::Version(version),
        IfMatch::Unmatchable => return Err(missing_or_stale(&state, id).await),
    };
    may_change(&headers, &state, id).await?;
    let content = valid_content(request::json::<PostInput>(&headers, body)?, None).await?;
    match state.store.update(id, expected, content).await? {
        WriteOutcome::Written(post) => {
            tracing::info!(post_id = post.id, version = post.version, "post updated");
            Ok(post_response(StatusCode::OK, &post))
        }
        WriteOutcome::Missing => Err(ApiError::NotFound),
        WriteOutcome::Stale => Err(ApiError::PreconditionFailed),
        WriteOutcome::SlugTaken => Err(slug_taken()),
    }
}

/// `DELETE /v1/posts/{id}`, conditional when `If-Match` is given.
pub async fn delete(
    id: u64,
    _: Authorized,
    headers: HeaderMap,
    state: AppState,
) -> Result<Response, ApiError> {
    let expected = match request::if_match(&headers)? {
        IfMatch::Absent | IfMatch::Any => Expected::Any,
        IfMatch::Version(version) => Expected::Version(version),
        IfMatch::Unmatchable => return Err(missing_or_stale(&state, id).await),
    };
    may_change(&headers, &state, id).await?;
    match state.store.delete(id, expected).await? {
        WriteOutcome::Written(()) => {
            tracing::info!(post_id = id, "post deleted");
            let mut response = Response::new(Default::default());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        WriteOutcome::Missing => Err(ApiError::NotFound),
        WriteOutcome::Stale | WriteOutcome::SlugTaken => Err(ApiError::PreconditionFailed),
    }
}

/// Refuses (403) a change of post `id` by an acting user who may not make it: an
/// author changes only their own posts; owners and editors, and calls that name no
/// acting user, change any. 404 when there is no such post.
async fn may_change(headers: &HeaderMap, state: &AppState, id: u64) -> Result<(), ApiError> {
    let Some(user) = acting_user(headers, state).await? else {
        return Ok(());
    };
    if user.role.edits_every_post() {
        return Ok(());
    }
    // A post's author never changes, so this check cannot go stale before the write.
    match state.store.author_of(id).await? {
        None => Err(ApiError::NotFound),
        Some(author) if author == Some(user.id) => Ok(()),
        Some(_) => Err(ApiError::Forbidden(
            "An author may change only their own posts.".into(),
        )),
    }
}

/// For a precondition no version can meet: 404 when the post is gone, else 412.
async fn missing_or_stale(state: &AppState, id: u64) -> ApiError {
    match state.store.get(id, Audience::Editors).await {
        Ok(Some(_)) => ApiError::PreconditionFailed,
        Ok(None) => ApiError::NotFound,
        Err(err) => err.into(),
    }
}

fn post_response(status: StatusCode, post: &Post) -> Response {
    let mut response = json(status, post);
    if let Ok(etag) = HeaderValue::from_str(&etag::of(post.version)) {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}
