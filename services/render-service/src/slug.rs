//! What `/posts/{key}` names: a post's id (digits) or one of its slugs, checked before
//! anything is asked of posts-service, and kept inline so a page-cache key stays small
//! and bounded whatever a client sends.

use std::fmt;

pub use posts_api::{is_valid_slug, SLUG_MAX_CHARS};

/// A valid slug, stored inline (no allocation; `Copy`, so it can be part of a cache key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slug {
    len: u8,
    bytes: [u8; SLUG_MAX_CHARS],
}

impl Slug {
    /// `text` when it is a valid slug.
    pub fn parse(text: &str) -> Option<Slug> {
        if !is_valid_slug(text) {
            return None;
        }
        let mut bytes = [0; SLUG_MAX_CHARS];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Slug {
            len: text.len() as u8,
            bytes,
        })
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        // Only ASCII was copied in.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a post page's URL names the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostRef {
    /// `/posts/{digits}`: always answered with a redirect to the post's slug.
    Id(u64),
    /// `/posts/{slug}`: the post's current slug, or an earlier one (redirected).
    Slug(Slug),
}

impl PostRef {
    /// The URL segment's meaning, or `None` when it can name no post: neither an id nor
    /// a valid slug.
    pub fn parse(segment: &str) -> Option<PostRef> {
        if !segment.is_empty() && segment.len() <= 20 && segment.bytes().all(|b| b.is_ascii_digit())
        {
            return segment.parse().ok().map(PostRef::Id);
        }
        Slug::parse(segment).map(PostRef::Slug)
    }

    /// What posts-service's `GET /v1/posts/{key}` takes.
    pub fn key(&self) -> String {
        match self {
            PostRef::Id(id) => id.to_string(),
            PostRef::Slug(slug) => slug.as_str().to_owned(),
        }
    }

    /// Whether this is the post's current address, `/posts/{current_slug}`.
    pub fn is_current(&self, current_slug: &str) -> bool {
        matches!(self, PostRef::Slug(slug) if slug.as_str() == current_slug)
    }
}

/// A post's address on the blog.
pub fn post_path(slug: &str) -> String {
    format!("/posts/{slug}")
}

/// A tag's page on the blog.
pub fn tag_path(slug: &str) -> String {
    format!("/tags/{slug}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_rules() {
        for good in [
            "a",
            "hello-world",
            "post-2026",
            "grusse-aus-koln",
            "2026-review",
            &"a".repeat(96),
        ] {
            assert!(is_valid_slug(good), "{good:?}");
            assert_eq!(Slug::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "2026",
            "12-34",
            "-a",
            "a-",
            "a--b",
            "Hello",
            "a_b",
            "a b",
            "café",
            "a%2Fb",
            &"a".repeat(97),
        ] {
            assert!(!is_valid_slug(bad), "{bad:?}");
            assert!(Slug::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_segment_is_an_id_a_slug_or_nothing() {
        assert_eq!(PostRef::parse("42"), Some(PostRef::Id(42)));
        assert_eq!(PostRef::parse("007"), Some(PostRef::Id(7)));
        assert_eq!(
            PostRef::parse("hello"),
            Some(PostRef::Slug(Slug::parse("hello").unwrap()))
        );
        for nothing in ["", "+5", "99999999999999999999", "1-2", "<script>", "Hello"] {
            assert_eq!(PostRef::parse(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn only_the_current_slug_is_current() {
        let hello = PostRef::parse("hello").unwrap();
        assert!(hello.is_current("hello"));
        assert!(!hello.is_current("hello-2"));
        assert!(!PostRef::Id(1).is_current("1"));
    }
}
