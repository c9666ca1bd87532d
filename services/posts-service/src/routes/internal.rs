//! Handlers for the internal API (`/internal/v1/...`): the admin's sessions and the
//! failed-login counts that render-service's replicas share. Every handler takes an
//! [`Authorized`]: every call needs the bearer token, reads included, since a session
//! key or a client address is nobody else's business.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use posts_api::session::{is_session_key, LoginFailure, NewSession, CLIENT_MAX_BYTES};
use serde::Deserialize;
use warp::reply::Response;

use super::reply::json;
use super::request::{self, Authorized};
use crate::db::sessions::SessionKey;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest idle time or lifetime a session may ask for: one week.
const MAX_SESSION_SECS: u32 = 7 * 24 * 60 * 60;

/// `POST /internal/v1/sessions`
pub async fn create_session(
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let new = request::json::<NewSession>(&headers, body)?;
    let key = parse_key(&new.key)
        .ok_or_else(|| ApiError::BadRequest("key must be 64 lower-case hex digits.".into()))?;
    let valid_secs = |secs: u32| (1..=MAX_SESSION_SECS).contains(&secs);
    if !valid_secs(new.idle_secs) || !valid_secs(new.lifetime_secs) {
        return Err(ApiError::BadRequest(format!(
            "idle_secs and lifetime_secs must be from 1 to {MAX_SESSION_SECS}."
        )));
    }
    let info = state
        .sessions
        .create(key, new.idle_secs, new.lifetime_secs)
        .await?
        .ok_or_else(|| ApiError::Conflict("A session with this key exists.".into()))?;
    tracing::info!("admin session created");
    Ok(json(StatusCode::CREATED, &info))
}

/// `GET /internal/v1/sessions/{key}`: the session if current, its idle expiry slid.
pub async fn touch_session(
    key: String,
    _: Authorized,
    state: AppState,
) -> Result<Response, ApiError> {
    let key = parse_key(&key).ok_or(ApiError::NotFound)?;
    let info = state.sessions.touch(key).await?.ok_or(ApiError::NotFound)?;
    Ok(json(StatusCode::OK, &info))
}

/// `DELETE /internal/v1/sessions/{key}`: logout.
pub async fn delete_session(
    key: String,
    _: Authorized,
    state: AppState,
) -> Result<Response, ApiError> {
    let key = parse_key(&key).ok_or(ApiError::NotFound)?;
    if !state.sessions.delete(key).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!("admin session ended");
    let mut response = Response::new(Default::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `POST /internal/v1/login-failures`: counts one wrong password; answers the counts.
pub async fn record_login_failure(
    _: Authorized,
    headers: HeaderMap,
    body: Result<Bytes, ApiError>,
    state: AppState,
) -> Result<Response, ApiError> {
    let failure = request::json::<LoginFailure>(&headers, body)?;
    let client = checked_client(&failure.client)?;
    let counts = state.sessions.record_login_failure(client).await?;
    Ok(json(StatusCode::OK, &counts))
}

#[derive(Deserialize)]
struct FailuresQuery {
    client: String,
}

/// `GET /internal/v1/login-failures?client=ADDR`: the counts, recording nothing.
pub async fn login_failures(
    raw_query: String,
    _: Authorized,
    state: AppState,
) -> Result<Response, ApiError> {
    let query: FailuresQuery = serde_urlencoded::from_str(&raw_query)
        .map_err(|_| ApiError::BadRequest("The query needs client=<address>.".into()))?;
    let client = checked_client(&query.client)?;
    let counts = state.sessions.login_failures(client).await?;
    Ok(json(StatusCode::OK, &counts))
}

fn checked_client(client: &str) -> Result<&str, ApiError> {
    if client.is_empty()
        || client.len() > CLIENT_MAX_BYTES
        || !client.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::BadRequest(format!(
            "client must be 1 to {CLIENT_MAX_BYTES} printable ASCII characters."
        )));
    }
    Ok(client)
}

fn parse_key(key: &str) -> Option<SessionKey> {
    if !is_session_key(key) {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(key.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_parsed_from_hex() {
        let key = parse_key(&format!("ff{}", "00".repeat(31))).unwrap();
        assert_eq!(key[0], 0xff);
        assert_eq!(key[1..], [0u8; 31]);
        assert!(parse_key("ff").is_none());
    }

    #[test]
    fn clients_are_short_printable_text() {
        assert!(checked_client("203.0.113.7").is_ok());
        assert!(checked_client("").is_err());
        assert!(checked_client("a b").is_err());
        assert!(checked_client(&"1".repeat(65)).is_err());
    }
}
