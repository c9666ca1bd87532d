//! `Idempotency-Key` on `POST /v1/posts` (IETF httpapi "The Idempotency-Key HTTP Header
//! Field" draft, as Stripe uses it), so a client may retry a create whose answer it
//! never saw, and a double-clicked form makes one post.
//!
//! - The key is 1 to 255 visible ASCII characters (`!` to `~`); anything else, or the
//!   header given twice, is a 400 naming the header.
//! - What makes two requests "the same" is their *validated* content: the SHA-256 of the
//!   trimmed title and the body ([`Fingerprint::of`]). So the same form sent again with
//!   its fields in another order, or a title with other surrounding white space, is the
//!   same request; a different title or body is another request (422).
//! - Only a successful create is remembered, in the same transaction as the post
//!   (`crate::db::PostStore::create_idempotent`): a key and its post commit together
//!   or not at all. A request refused before that (401, 400, 422 validation) leaves no
//!   trace, so the user can fix the form and send it again with the same key.
//! - A replay answers the first result again: 201 with the post as it was created, the
//!   same `Location` and `ETag`, plus `Idempotent-Replayed: true`.
//! - Two requests with the same key at once: the second waits on the first's row lock,
//!   then replays its result (friendlier than the draft's 409 "request in progress").
//! - Keys are kept [`RETENTION_HOURS`]; older ones are ignored and purged, a bounded
//!   batch at each create that carries a key.
//!
//! Keys are stored as their SHA-256, so the table never holds what clients sent.

use http::HeaderMap;
use posts_api::PostContent;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header set on a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const RETENTION_HOURS: u32 = 24;
/// The longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// A client's idempotency key, as stored: its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    /// The `Idempotency-Key` of a request: `None` when absent, a 400 when malformed.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Key>, ApiError> {
        let mut values = headers.get_all(HEADER).iter();
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
        let bytes = value.as_bytes();
        if bytes.is_empty()
            || bytes.len() > MAX_KEY_CHARS
            || !bytes.iter().all(|b| b.is_ascii_graphic())
        {
            return Err(malformed());
        }
        Ok(Some(Key(Sha256::digest(bytes).into())))
    }

    /// The stored form.
    pub fn digest(&self) -> [u8; 32] {
        self.0
    }
}

/// What a request asked for, as compared between two uses of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The SHA-256 of the validated title and body, each preceded by its length so that
    /// no two different pairs can run together into the same bytes.
    pub fn of(content: &PostContent) -> Fingerprint {
        let mut hash = Sha256::new();
        for part in [&content.title, &content.body] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        Fingerprint(hash.finalize().into())
    }

    /// The stored form.
    pub fn digest(&self) -> [u8; 32] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use posts_api::PostInput;

    use super::*;

    fn key(value: &[u8]) -> Result<Option<Key>, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_bytes(value).unwrap());
        Key::from_headers(&headers)
    }

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert_eq!(Key::from_headers(&HeaderMap::new()).unwrap(), None);
        assert!(key(b"a").unwrap().is_some());
        assert!(key("k".repeat(255).as_bytes()).unwrap().is_some());
        assert!(key(b"8e03978e-40d5-43e8-bc93-6894a57f9324")
            .unwrap()
            .is_some());
        for bad in [
            &b""[..],
            "k".repeat(256).as_bytes(),
            b"with space",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
        ] {
            let err = key(bad).unwrap_err();
            assert!(err.to_string().contains("Idempotency-Key"), "{err}");
        }
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let mut headers = HeaderMap::new();
        headers.append(HEADER, HeaderValue::from_static("one"));
        headers.append(HEADER, HeaderValue::from_static("two"));
        assert!(Key::from_headers(&headers).is_err());
    }

    #[test]
    fn the_fingerprint_is_of_the_validated_content() {
        let of = |title: &str, body: &str| {
            Fingerprint::of(&PostInput::new(title, body).validate().unwrap())
        };
        assert_eq!(of("Hello", "x"), of("  Hello \n", "x"));
        assert_ne!(of("Hello", "x"), of("Hello", "y"));
        assert_ne!(of("ab", "c"), of("a", "bc"));
    }
}
