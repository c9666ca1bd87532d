//! The internal API for the admin's sessions and failed logins
//! (`/internal/v1/...`, bearer-token protected), which render-service uses so that
//! every replica sees the same sessions and the same count of wrong passwords.
//!
//! A session is named by the SHA-256 of its id, in hex ([`is_session_key`]):
//! render-service makes the random id, keeps it in the admin's cookie, and only ever
//! sends its digest, so neither the database nor posts-service's logs hold a value that
//! opens a session.

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
    #[serde(deserialize_with = "whole_seconds")]
    pub idle_secs: u32,
    /// Seconds after creation at which the session ends, however active.
    #[serde(deserialize_with = "whole_seconds")]
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

/// A JSON integer, also when written with a zero fraction (`60.0`): JSON, and the
/// OpenAPI document's `integer`, do not tell them apart.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = f64::deserialize(deserializer)?;
    if number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number) {
        Ok(number as u32)
    } else {
        Err(serde::de::Error::custom(
            "expected a whole number of seconds",
        ))
    }
}

#[cfg(test)]
mod whole_seconds_tests {
    use super::*;

    #[test]
    fn seconds_may_carry_a_zero_fraction_but_nothing_else() {
        let parse = |json: &str| serde_json::from_str::<NewSession>(json);
        let key = "ab".repeat(32);
        let ok = parse(&format!(
            r#"{{"key":"{key}","idle_secs":60.0,"lifetime_secs":600}}"#
        ));
        assert_eq!(ok.unwrap().idle_secs, 60);
        for bad in ["60.5", "-1", "4294967296"] {
            let json = format!(r#"{{"key":"{key}","idle_secs":{bad},"lifetime_secs":600}}"#);
            assert!(parse(&json).is_err(), "{bad}");
        }
    }
}
