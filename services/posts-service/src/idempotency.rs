//! `Idempotency-Key` on `POST /v1/posts` (IETF httpapi "The Idempotency-Key HTTP Header
//! Field" draft, as Stripe uses it), so a client may retry a create whose answer it
//! never saw, and a double-clicked form makes one post.
//!
//! - The key is 1 to 255 visible ASCII characters (`!` to `~`); anything else, or the
//!   header given twice, is a 400 naming the header ([`Key::parse`]; reading the header
//!   is `crate::routes::request::idempotency_key`).
//! - What makes two requests "the same" is their *validated* content: the SHA-256 of the
//!   trimmed title, the body, and the optional fields as validated (slug, tags after
//!   trimming and deduplication, status, publication time) ([`Fingerprint::of`]). So
//!   the same form sent again with its fields in another order, or a title with other
//!   surrounding white space, is the same request; a different title, body, slug, tag
//!   list, status or time is another request (422).
//! - Only a successful create is remembered, in the same transaction as the post
//!   (`crate::db::PostStore::create_idempotent`): a key and its post commit together
//!   or not at all. A request refused before that (401, 400, 422 validation) leaves no
//!   trace, so the user can fix the form and send it again with the same key.
//! - What is remembered is the first result as plain data, the post as it was created;
//!   a replay answers it again (the route makes of it a 201 with the same `Location`
//!   and `ETag`, plus `Idempotent-Replayed: true`).
//! - Two requests with the same key at once: the second waits on the first's row lock,
//!   then replays its result (friendlier than the draft's 409 "request in progress").
//! - Keys are kept [`RETENTION_HOURS`]; older ones are ignored and purged, a bounded
//!   batch at each create that carries a key.
//!
//! Keys are stored as their SHA-256, so the table never holds what clients sent
//! (`crate::db::idempotency_keys`). This module knows nothing of HTTP.

use posts_api::{Post, PostContent, PostMeta, PostStatus};
use sha2::{Digest, Sha256};

/// How long a key is remembered.
pub const RETENTION_HOURS: u32 = 24;
/// The longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// A client's idempotency key, as stored: its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    /// A key as the client sent it: `None` unless it is 1 to [`MAX_KEY_CHARS`] visible
    /// ASCII characters.
    pub fn parse(sent: &[u8]) -> Option<Key> {
        let valid = !sent.is_empty()
            && sent.len() <= MAX_KEY_CHARS
            && sent.iter().all(|b| b.is_ascii_graphic());
        valid.then(|| Key(Sha256::digest(sent).into()))
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
    /// no two different pairs can run together into the same bytes, then of the
    /// optional fields given, each tagged. A request with none of them has the
    /// fingerprint a title and body had before those fields existed, so a key
    /// remembered then still replays.
    pub fn of(content: &PostContent, meta: &PostMeta) -> Fingerprint {
        let mut hash = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        part(content.title.as_bytes());
        part(content.body.as_bytes());
        if let Some(slug) = &meta.slug {
            part(b"slug");
            part(slug.as_bytes());
        }
        if let Some(tags) = &meta.tags {
            part(b"tags");
            part(&(tags.len() as u64).to_be_bytes());
            for tag in tags {
                part(tag.as_bytes());
            }
        }
        if let Some(status) = meta.status {
            part(b"status");
            part(match status {
                PostStatus::Draft => b"draft",
                PostStatus::Published => b"published",
            });
        }
        if let Some(at) = meta.published_at {
            part(b"published_at");
            part(&(at.unix_timestamp_nanos() / 1_000_000).to_be_bytes());
        }
        Fingerprint(hash.finalize().into())
    }

    /// The stored form.
    pub fn digest(&self) -> [u8; 32] {
        self.0
    }
}

/// What a create under a key did: plain data, which the route makes a response of.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Created now; the key is remembered with it.
    Created(Post),
    /// The key was used for the same request before: the post as that create answered
    /// it (whatever happened to it since), and nothing was created now.
    Replayed(Post),
    /// The key was used for another request: nothing was created.
    KeyReused,
    /// The slug asked for is another post's: nothing was created, nothing remembered.
    SlugTaken,
}

#[cfg(test)]
mod tests {
    use posts_api::PostInput;

    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        assert!(Key::parse(b"a").is_some());
        assert!(Key::parse("k".repeat(255).as_bytes()).is_some());
        assert!(Key::parse(b"8e03978e-40d5-43e8-bc93-6894a57f9324").is_some());
        assert_ne!(Key::parse(b"a"), Key::parse(b"b"));
        for bad in [
            &b""[..],
            "k".repeat(256).as_bytes(),
            b"with space",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
        ] {
            assert_eq!(Key::parse(bad), None, "{bad:?}");
        }
    }

    fn of_input(input: &PostInput) -> Fingerprint {
        Fingerprint::of(&input.validate().unwrap(), &input.validate_meta().unwrap())
    }

    #[test]
    fn the_fingerprint_is_of_the_validated_content() {
        let of = |title: &str, body: &str| of_input(&PostInput::new(title, body));
        assert_eq!(of("Hello", "x"), of("  Hello \n", "x"));
        assert_ne!(of("Hello", "x"), of("Hello", "y"));
        assert_ne!(of("ab", "c"), of("a", "bc"));
    }

    #[test]
    fn the_fingerprint_covers_the_optional_fields() {
        let plain = PostInput::new("Hello", "x");
        let with = |change: &dyn Fn(&mut PostInput)| {
            let mut input = plain.clone();
            change(&mut input);
            of_input(&input)
        };
        // Without them, the fingerprint is what it was before they existed.
        let mut old = Sha256::new();
        for part in ["Hello", "x"] {
            old.update((part.len() as u64).to_be_bytes());
            old.update(part.as_bytes());
        }
        assert_eq!(of_input(&plain).digest(), <[u8; 32]>::from(old.finalize()));
        let slug = with(&|i| i.slug = Some("hello".into()));
        let tags = with(&|i| i.tags = Some(vec!["a".into()]));
        let draft = with(&|i| i.status = Some(PostStatus::Draft));
        let time = with(&|i| i.published_at = Some(time::OffsetDateTime::UNIX_EPOCH));
        let all = [of_input(&plain), slug, tags, draft, time];
        for (n, a) in all.iter().enumerate() {
            for b in &all[n + 1..] {
                assert_ne!(a, b);
            }
        }
        // Validated: tags that normalise alike are the same request.
        assert_eq!(
            with(&|i| i.tags = Some(vec![" Rust".into(), "rust".into()])),
            with(&|i| i.tags = Some(vec!["Rust".into()]))
        );
        assert_ne!(
            with(&|i| i.tags = Some(vec!["a".into(), "b".into()])),
            with(&|i| i.tags = Some(vec!["b".into(), "a".into()]))
        );
    }
}
