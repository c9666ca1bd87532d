//! The internal API for the admin's sessions and failed logins
//! (`/internal/v1/...`, bearer-token protected), which render-service uses so that
//! every replica sees the same sessions and the same count of wrong passwords.
//!
//! A session is named by the SHA-256 of its id, in hex ([`SessionKey`]): render-service
//! makes the random id, keeps it in the admin's cookie, and only ever sends its digest,
//! so neither the database nor posts-service's logs hold a value that opens a session.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How long a failed login counts against the admin account: one hour.
pub const ACCOUNT_WINDOW_SECS: u32 = 60 * 60;
/// How long a failed login counts against its client address: one minute.
pub const CLIENT_WINDOW_SECS: u32 = 60;
/// The longest client address accepted (an IPv6 address in text is at most 45 bytes).
pub const CLIENT_MAX_BYTES: usize = 64;

/// `POST /internal/v1/sessions`: a new session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// The session's key: SHA-256 of its id, 64 lower-case hex digits.
    pub key: String,
    /// Seconds without a request after which the session ends.
    pub idle_secs: u32,
    /// Seconds after creation at which the session ends, however active.
    pub lifetime_secs: u32,
}

/// A current session, as creating or touching it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// When the session ends unless used again before, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub idle_expires_at: OffsetDateTime,
    /// When the session ends at the latest, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `POST /internal/v1/login-failures`: one wrong password, from `client`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginFailure {
    /// The client address the attempt came from.
    pub client: String,
}

/// The wrong passwords recently counted, across every render-service replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFailures {
    /// Against the admin account, in the last [`ACCOUNT_WINDOW_SECS`].
    pub account_last_hour: u32,
    /// From this client address, in the last [`ACCOUNT_WINDOW_SECS`].
    pub client_last_hour: u32,
    /// From this client address, in the last [`CLIENT_WINDOW_SECS`].
    pub client_last_minute: u32,
}

/// Whether `key` has the shape of a session key (64 lower-case hex digits).
pub fn is_session_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_are_sha256_hex() {
        assert!(is_session_key(&"a1".repeat(32)));
        assert!(!is_session_key(&"A1".repeat(32)));
        assert!(!is_session_key(&"a1".repeat(31)));
        assert!(!is_session_key(""));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<LoginFailure>(r#"{"client":"x","password":"p"}"#);
        assert!(err.is_err());
    }
}
