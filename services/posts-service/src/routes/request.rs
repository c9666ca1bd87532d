//! Reading what a request carries: the post id in the path, the bearer token, the JSON
//! body (bounded), `If-Match`, and the listing's query string.
//!
//! Two filters refuse a request before its handler runs, once its route has matched: a
//! path that names no post ([`known_post_id`]) and a missing or wrong token
//! ([`authorized`], placed before [`body`], so a request without the token is answered
//! 401 before its body is read). They reject with [`Refused`], which the route answers
//! itself (`routes::answer`), so such a request is never mistaken for an unknown route.
//! Everything else never rejects: a bad part becomes an [`ApiError`] the handler
//! returns.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, IF_MATCH};
use http::HeaderMap;
use posts_api::{etag, is_valid_slug, ListStatus, REQUEST_MAX_BYTES};
use serde::de::DeserializeOwned;
use warp::{Filter, Rejection};

use crate::db::posts::Audience;
use crate::error::ApiError;
use crate::idempotency::{Key, MAX_KEY_CHARS};

/// How much of an oversized body is read (and thrown away) before answering 413, so a
/// client still sending reads our answer rather than a reset connection.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// A request refused by a filter before its handler ran; its route answers it.
#[derive(Debug)]
pub enum Refused {
    /// The path names no post: 404.
    NoSuchPost,
    /// No `Authorization: Bearer <token>` with the configured token: 401.
    Unauthorized,
}

impl warp::reject::Reject for Refused {}

impl Refused {
    /// The error to answer with.
    pub fn error(&self) -> ApiError {
        match self {
            Refused::NoSuchPost => ApiError::NotFound,
            Refused::Unauthorized => ApiError::Unauthorized,
        }
    }
}

/// A post id from the path: digits only, within `u64`; anything else names no post.
pub fn post_id(segment: &str) -> Result<u64, ApiError> {
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::NotFound);
    }
    segment.parse().map_err(|_| ApiError::NotFound)
}

/// What `GET /v1/posts/{key}` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostKey {
    /// Digits: an id.
    Id(u64),
    /// Anything else: a slug, current or earlier.
    Slug(String),
}

/// A post's id (digits) or slug from the path; 404 for what can be neither.
pub fn post_key(segment: &str) -> Result<PostKey, ApiError> {
    if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
        return post_id(segment).map(PostKey::Id);
    }
    if is_valid_slug(segment) {
        Ok(PostKey::Slug(segment.to_owned()))
    } else {
        Err(ApiError::NotFound)
    }
}

/// For `.and_then` after a path ending in the id: the id, or a [`Refused::NoSuchPost`]
/// rejection (checked before the token, so a path that names no post is a 404 for
/// everyone).
pub async fn known_post_id(segment: String) -> Result<u64, Rejection> {
    post_id(&segment).map_err(|_| warp::reject::custom(Refused::NoSuchPost))
}

/// Proof that the request carries the API token. Only [`authorized`] makes one, so a
/// handler that takes it as an argument cannot run for a request without the token.
#[derive(Debug)]
pub struct Authorized(());

/// Checks the API token from the headers alone, before anything reads the body: an
/// [`Authorized`], or a [`Refused::Unauthorized`] rejection (401 with
/// `WWW-Authenticate: Bearer`).
pub fn authorized(
    token: &ApiToken,
) -> impl Filter<Extract = (Authorized,), Error = Rejection> + Clone {
    let token = token.clone();
    // a header that is not visible ASCII counts as no token
    warp::header::optional::<String>("authorization")
        .or(warp::any().map(|| None))
        .unify()
        .and_then(move |authorization: Option<String>| {
            let accepted = token.accepts(authorization.as_deref());
            async move {
                if accepted {
                    Ok(Authorized(()))
                } else {
                    Err(warp::reject::custom(Refused::Unauthorized))
                }
            }
        })
}

/// Who is asking, from the headers: [`Audience::Editors`] with the API token, else
/// [`Audience::Readers`]. Never refuses: reads are open, and show readers less.
pub fn audience(
    token: &ApiToken,
) -> impl Filter<Extract = (Audience,), Error = std::convert::Infallible> + Clone {
    let token = token.clone();
    warp::header::optional::<String>("authorization")
        .or(warp::any().map(|| None))
        .unify()
        .map(move |authorization: Option<String>| {
            if token.accepts(authorization.as_deref()) {
                Audience::Editors
            } else {
                Audience::Readers
            }
        })
}

/// The configured API token, compared in constant time.
#[derive(Clone)]
pub struct ApiToken(std::sync::Arc<str>);

impl ApiToken {
    /// Wraps the configured token.
    pub fn new(token: &str) -> ApiToken {
        ApiToken(token.into())
    }

    /// Whether an `Authorization` header's value is `Bearer <token>`.
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(presented) = authorization.and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        }) else {
            return false;
        };
        bool::from(presented.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

/// The request header of an idempotent create.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The `Idempotency-Key` of a request ([`crate::idempotency`]): `None` when absent, a
/// 400 naming the header when malformed or given twice.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<Key>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::BadRequest(format!(
            "The Idempotency-Key header must be one value of 1 to {MAX_KEY_CHARS} \
             visible ASCII characters."
        ))
    };
    if values.next().is_some() {
        return Err(malformed());
    }
    Key::parse(value.as_bytes()).map(Some).ok_or_else(malformed)
}

/// The request body, read up to [`REQUEST_MAX_BYTES`] (413 past it). A moderately
/// oversized body is drained before answering; one declared far larger is not read.
pub fn body() -> impl Filter<Extract = (Result<Bytes, ApiError>,), Error = warp::Rejection> + Clone
{
    warp::header::headers_cloned()
        .and(warp::body::stream())
        .then(|headers: HeaderMap, stream| async move {
            let declared = headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|length| length > DRAIN_LIMIT_BYTES as u64) {
                return Err(ApiError::PayloadTooLarge);
            }
            read_limited(stream, REQUEST_MAX_BYTES).await
        })
}

async fn read_limited<S, B>(stream: S, limit: usize) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut stream = std::pin::pin!(stream);
    let mut collected = BytesMut::new();
    let mut received = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::BadRequest("The request body could not be read.".into()))?;
        received += chunk.remaining();
        if received > DRAIN_LIMIT_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        if received <= limit {
            collected.put(chunk);
        }
    }
    if received > limit {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(collected.freeze())
}

/// Parses a JSON body after checking its media type.
pub fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Result<T, ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = body?;
    let invalid = |err: serde_json::Error| {
        ApiError::BadRequest(format!("The body is not a valid post: {err}."))
    };
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(invalid)?;
    // serde would also accept a struct written as an array; the API takes objects only.
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "The body must be a JSON object.".into(),
        ));
    }
    T::deserialize(value).map_err(invalid)
}

/// What `If-Match` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    /// No header.
    Absent,
    /// `*`: any current version.
    Any,
    /// A strong tag naming this version.
    Version(u32),
    /// A tag that can match no version (weak, or not one of ours).
    Unmatchable,
}

/// Reads `If-Match`. Several tags in one header are not supported (400).
pub fn if_match(headers: &HeaderMap) -> Result<IfMatch, ApiError> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(IfMatch::Absent);
    };
    let malformed =
        || ApiError::BadRequest(r#"If-Match must be one entity tag, such as "3", or *."#.into());
    let value = value.to_str().map_err(|_| malformed())?.trim();
    if value == "*" {
        return Ok(IfMatch::Any);
    }
    if value.contains(',') {
        return Err(malformed());
    }
    if let Some(weak) = value.strip_prefix("W/") {
        return if is_quoted(weak) {
            Ok(IfMatch::Unmatchable)
        } else {
            Err(malformed())
        };
    }
    if !is_quoted(value) {
        return Err(malformed());
    }
    Ok(match etag::version_of(value) {
        Some(version) => IfMatch::Version(version),
        None => IfMatch::Unmatchable,
    })
}

fn is_quoted(tag: &str) -> bool {
    tag.len() >= 2 && tag.starts_with('"') && tag.ends_with('"')
}

/// `GET /v1/posts` parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size, 1..=100.
    pub limit: u32,
    /// Only posts with smaller ids.
    pub before: Option<u64>,
    /// `?status=`, when given.
    pub status: Option<ListStatus>,
    /// `?tag=`, when given: a tag's slug, as sent.
    pub tag: Option<String>,
}

impl ListQuery {
    /// The posts `audience` asked for: readers get the visible ones, and asking for
    /// any other is a 401.
    pub fn status_for(&self, audience: Audience) -> Result<ListStatus, ApiError> {
        match (self.status, audience) {
            (None, _) => Ok(ListStatus::Published),
            (Some(status), Audience::Editors) => Ok(status),
            (Some(ListStatus::Published), Audience::Readers) => Ok(ListStatus::Published),
            (Some(_), Audience::Readers) => Err(ApiError::Unauthorized),
        }
    }

    /// The slug of the tag asked for, if any: one that is not a valid slug names no
    /// tag (404, like an unknown one).
    pub fn tag_slug(&self) -> Result<Option<String>, ApiError> {
        match &self.tag {
            None => Ok(None),
            Some(slug) if is_valid_slug(slug) => Ok(Some(slug.clone())),
            Some(_) => Err(ApiError::NoSuchTag),
        }
    }
}

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// Parses `limit`, `before`, `status` and `tag`; unknown parameters are ignored.
pub fn list_query(raw: &str) -> Result<ListQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| ApiError::BadRequest("The query string is malformed.".into()))?;
    let mut query = ListQuery {
        limit: DEFAULT_LIMIT,
        before: None,
        status: None,
        tag: None,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => {
                query.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be a whole number from 1 to {MAX_LIMIT}."
                        ))
                    })?;
            }
            "before" => {
                query.before = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| ApiError::BadRequest("before must be a post id.".into()))?,
                );
            }
            "status" => {
                query.status = Some(match value.as_str() {
                    "draft" => ListStatus::Draft,
                    "scheduled" => ListStatus::Scheduled,
                    "published" => ListStatus::Published,
                    "all" => ListStatus::All,
                    _ => {
                        return Err(ApiError::BadRequest(
                            "status must be draft, scheduled, published or all.".into(),
                        ))
                    }
                });
            }
            "tag" => query.tag = Some(value),
            _ => {}
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_if_match(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(IF_MATCH, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ids_are_digits_within_u64() {
        assert_eq!(post_id("42").unwrap(), 42);
        for bad in ["", "abc", "-1", "+1", "1.0", "18446744073709551616"] {
            assert!(matches!(post_id(bad), Err(ApiError::NotFound)), "{bad}");
        }
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), IfMatch::Absent);
        assert_eq!(
            if_match(&with_if_match("\"3\"")).unwrap(),
            IfMatch::Version(3)
        );
        assert_eq!(if_match(&with_if_match("*")).unwrap(), IfMatch::Any);
        assert_eq!(
            if_match(&with_if_match("W/\"3\"")).unwrap(),
            IfMatch::Unmatchable
        );
        assert_eq!(
            if_match(&with_if_match("\"abc\"")).unwrap(),
            IfMatch::Unmatchable
        );
        assert_eq!(
            if_match(&with_if_match("\"03\"")).unwrap(),
            IfMatch::Unmatchable,
            "strong comparison: \"03\" is not version 3"
        );
        assert!(if_match(&with_if_match("3")).is_err());
        assert!(if_match(&with_if_match("\"1\", \"2\"")).is_err());
    }

    fn key(value: &[u8]) -> Result<Option<Key>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_bytes(value).unwrap());
        idempotency_key(&headers)
    }

    #[test]
    fn an_idempotency_key_is_one_valid_value() {
        assert_eq!(idempotency_key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(key(b"abc").unwrap(), Key::parse(b"abc"));
        for bad in [&b"with space"[..], "k".repeat(256).as_bytes()] {
            let err = key(bad).unwrap_err();
            assert!(err.to_string().contains("Idempotency-Key"), "{err}");
        }
        let mut twice = HeaderMap::new();
        twice.append(IDEMPOTENCY_KEY, HeaderValue::from_static("one"));
        twice.append(IDEMPOTENCY_KEY, HeaderValue::from_static("two"));
        assert!(idempotency_key(&twice).is_err());
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        let token = ApiToken::new("s3cret");
        assert!(!token.accepts(None));
        assert!(token.accepts(Some("Bearer s3cret")));
        assert!(token.accepts(Some("bearer s3cret")));
        assert!(!token.accepts(Some("Bearer s3cre")));
        assert!(!token.accepts(Some("Bearer s3crets")));
        assert!(!token.accepts(Some("Basic s3cret")));
        assert!(!token.accepts(Some("s3cret")));
    }

    #[test]
    fn list_query_limits() {
        assert_eq!(
            list_query("").unwrap(),
            ListQuery {
                limit: 20,
                before: None,
                status: None,
                tag: None
            }
        );
        assert_eq!(list_query("limit=100&before=7").unwrap().before, Some(7));
        assert_eq!(
            list_query("status=scheduled").unwrap().status,
            Some(ListStatus::Scheduled)
        );
        for bad in [
            "limit=0",
            "limit=101",
            "limit=x",
            "before=x",
            "before=-1",
            "status=Draft",
            "status=",
        ] {
            assert!(list_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_token_lists_other_than_visible_posts() {
        let query = |raw: &str| list_query(raw).unwrap();
        use Audience::*;
        assert_eq!(
            query("").status_for(Readers).unwrap(),
            ListStatus::Published
        );
        assert_eq!(
            query("status=published").status_for(Readers).unwrap(),
            ListStatus::Published
        );
        for other in ["draft", "scheduled", "all"] {
            let query = query(&format!("status={other}"));
            assert!(matches!(
                query.status_for(Readers),
                Err(ApiError::Unauthorized)
            ));
            assert_eq!(query.status_for(Editors).unwrap(), query.status.unwrap());
        }
    }

    #[test]
    fn a_tag_is_named_by_a_valid_slug() {
        assert_eq!(list_query("").unwrap().tag_slug().unwrap(), None);
        assert_eq!(
            list_query("tag=rust-2024").unwrap().tag_slug().unwrap(),
            Some("rust-2024".to_owned())
        );
        for bad in ["tag=", "tag=Rust", "tag=a--b", "tag=2024", "tag=r%C3%BCst"] {
            assert!(
                matches!(
                    list_query(bad).unwrap().tag_slug(),
                    Err(ApiError::NoSuchTag)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_post_key_is_an_id_or_a_slug() {
        assert_eq!(post_key("42").unwrap(), PostKey::Id(42));
        assert_eq!(
            post_key("hello-2026").unwrap(),
            PostKey::Slug("hello-2026".into())
        );
        for bad in ["", "Hello", "a--b", "-1", "18446744073709551616", "a%20b"] {
            assert!(matches!(post_key(bad), Err(ApiError::NotFound)), "{bad}");
        }
    }
}
