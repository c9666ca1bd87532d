//! Slugs and tags: what a valid slug is, how one is made from a title or a tag, and how
//! tags are cleaned up. posts-service applies these; render-service's form checks the
//! same rules first.
//!
//! A slug is lowercase ASCII `[a-z0-9]+(-[a-z0-9]+)*`, 1 to [`SLUG_MAX_CHARS`]
//! characters, never only digits and hyphens (`/posts/2026` reads as an id). One made
//! from text ([`slugify`]) transliterates letters and digits to ASCII with `deunicode`
//! ("Grüße aus Köln" → `grusse-aus-koln`); Chinese, Japanese and Korean script, emoji
//! and other symbols separate words and add nothing, so text made only of them has no
//! slug ([`slugify`] answers `None`, and the caller names the post `post-{id}`).

use deunicode::deunicode_char;

/// Longest slug, in characters (ASCII: bytes too).
pub const SLUG_MAX_CHARS: usize = 96;
/// Longest tag, in characters after trimming.
pub const TAG_MAX_CHARS: usize = 32;
/// Most tags a post has.
pub const TAGS_MAX: usize = 10;

/// Whether `slug` is a valid slug.
pub fn is_valid_slug(slug: &str) -> bool {
    slug.len() <= SLUG_MAX_CHARS
        && !slug.is_empty()
        && slug
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(is_slug_byte))
        && slug.bytes().any(|b| b.is_ascii_lowercase())
}

fn is_slug_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// The slug made from `text`, or `None` when nothing in it transliterates to ASCII
/// letters or digits. A slug of only digits and hyphens gets the prefix `post-`; one
/// over [`SLUG_MAX_CHARS`] is cut at a hyphen where one is near enough.
pub fn slugify(text: &str) -> Option<String> {
    slugify_with_prefix(text, "post")
}

/// [`slugify`], with `prefix` (such as `tag`) before a slug of only digits.
pub fn slugify_with_prefix(text: &str, prefix: &str) -> Option<String> {
    let mut slug = String::new();
    let mut pending_hyphen = false;
    for c in text.chars() {
        let ascii = if c.is_alphanumeric() && !is_cjk(c) {
            deunicode_char(c).unwrap_or("")
        } else if deunicode_char(c) == Some("") {
            // combining marks, joiners and the like take no room
            continue;
        } else {
            ""
        };
        let mut wrote = false;
        for b in ascii.bytes() {
            if b.is_ascii_alphanumeric() {
                if pending_hyphen && !slug.is_empty() {
                    slug.push('-');
                }
                pending_hyphen = false;
                slug.push(char::from(b.to_ascii_lowercase()));
                wrote = true;
            } else {
                pending_hyphen = true;
            }
        }
        if !wrote {
            pending_hyphen = true;
        }
        if slug.len() > SLUG_MAX_CHARS * 2 {
            break;
        }
    }
    if slug.is_empty() {
        return None;
    }
    if !slug.bytes().any(|b| b.is_ascii_lowercase()) {
        slug = format!("{prefix}-{slug}");
    }
    Some(cut(&slug, SLUG_MAX_CHARS))
}

/// `base` with `-{n}` after it, `base` cut first (at a hyphen where possible) so that
/// the whole is at most [`SLUG_MAX_CHARS`]: the `n`th choice when `base` is taken.
pub fn with_suffix(base: &str, n: u32) -> String {
    let suffix = format!("-{n}");
    format!("{}{suffix}", cut(base, SLUG_MAX_CHARS - suffix.len()))
}

/// `slug` (valid, but maybe too long) cut to at most `max` characters: at the last
/// hyphen within them when there is one in the second half, else mid-word.
fn cut(slug: &str, max: usize) -> String {
    if slug.len() <= max {
        return slug.to_owned();
    }
    if slug.as_bytes()[max] == b'-' {
        return slug[..max].to_owned();
    }
    let head = &slug[..max];
    match head.rfind('-') {
        Some(at) if at >= max / 2 => head[..at].to_owned(),
        _ => head.trim_end_matches('-').to_owned(),
    }
}

/// Chinese, Japanese and Korean script: `deunicode` spells it in Latin letters, but
/// as a guess at a reading, not a transliteration.
fn is_cjk(c: char) -> bool {
    matches!(
        c,
        '\u{1100}'..='\u{11FF}'
            | '\u{2E80}'..='\u{2FDF}'
            | '\u{3040}'..='\u{31FF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{A960}'..='\u{A97F}'
            | '\u{AC00}'..='\u{D7FF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{FF66}'..='\u{FFDC}'
            | '\u{20000}'..='\u{3FFFF}'
    )
}

/// Why a post's tags were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagProblem {
    /// A tag with nothing left after trimming.
    Empty,
    /// A tag over [`TAG_MAX_CHARS`] characters.
    TooLong {
        /// The tag, trimmed.
        tag: String,
        /// Its characters.
        chars: usize,
    },
    /// A tag with a control character or a noncharacter.
    Control,
    /// More than [`TAGS_MAX`] different tags.
    TooMany {
        /// How many different tags.
        count: usize,
    },
}

/// The tags as stored: each trimmed, and one of each regardless of case (the first
/// spelling kept), in the order given; or every problem found.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, Vec<TagProblem>> {
    let mut problems = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            push_once(&mut problems, TagProblem::Empty);
            continue;
        }
        if tag
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        {
            push_once(&mut problems, TagProblem::Control);
            continue;
        }
        let chars = tag.chars().count();
        if chars > TAG_MAX_CHARS {
            problems.push(TagProblem::TooLong {
                tag: tag.to_owned(),
                chars,
            });
            continue;
        }
        let key = tag_key(tag);
        if !keys.contains(&key) {
            keys.push(key);
            kept.push(tag.to_owned());
        }
    }
    if kept.len() > TAGS_MAX {
        problems.push(TagProblem::TooMany { count: kept.len() });
    }
    if problems.is_empty() {
        Ok(kept)
    } else {
        Err(problems)
    }
}

fn push_once(problems: &mut Vec<TagProblem>, problem: TagProblem) {
    if !problems.contains(&problem) {
        problems.push(problem);
    }
}

/// What makes two tags the same: their lowercase form (`Rust` = `rust`).
pub fn tag_key(tag: &str) -> String {
    tag.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_transliterated() {
        assert_eq!(
            slugify("Grüße aus Köln").as_deref(),
            Some("grusse-aus-koln")
        );
        assert_eq!(slugify("Hello, World!").as_deref(), Some("hello-world"));
        assert_eq!(slugify("  --Déjà vu--  ").as_deref(), Some("deja-vu"));
        assert_eq!(slugify("Ærøskøbing").as_deref(), Some("aeroskobing"));
        assert_eq!(slugify("Привет мир").as_deref(), Some("privet-mir"));
        // e + combining acute: one letter, not a break
        assert_eq!(slugify("Cafe\u{301} noir").as_deref(), Some("cafe-noir"));
        assert_eq!(slugify("C++ & Rust").as_deref(), Some("c-rust"));
        assert_eq!(
            slugify("Rust 2024 edition").as_deref(),
            Some("rust-2024-edition")
        );
    }

    #[test]
    fn only_digits_get_a_prefix() {
        assert_eq!(slugify("2026").as_deref(), Some("post-2026"));
        assert_eq!(slugify("2026 - 01").as_deref(), Some("post-2026-01"));
        assert_eq!(slugify_with_prefix("42", "tag").as_deref(), Some("tag-42"));
    }

    #[test]
    fn nothing_to_transliterate_is_none() {
        assert_eq!(slugify("北京欢迎你"), None);
        assert_eq!(slugify("こんにちは"), None);
        assert_eq!(slugify("안녕하세요"), None);
        assert_eq!(slugify("😀🎉"), None);
        assert_eq!(slugify("!!! ???"), None);
        assert_eq!(slugify(""), None);
        assert_eq!(slugify("東京 Tokyo").as_deref(), Some("tokyo"));
    }

    #[test]
    fn emoji_separate_words() {
        assert_eq!(slugify("Rust🦀Crab").as_deref(), Some("rust-crab"));
        assert_eq!(slugify("🎉 Launch day 🎉").as_deref(), Some("launch-day"));
    }

    #[test]
    fn long_slugs_are_cut_at_a_hyphen() {
        let title = "word ".repeat(40);
        let slug = slugify(&title).unwrap();
        assert!(slug.len() <= SLUG_MAX_CHARS, "{slug}");
        assert!(slug.ends_with("word"), "{slug}");
        assert!(is_valid_slug(&slug));
        // one endless word is cut mid-word at exactly the limit
        let slug = slugify(&"a".repeat(200)).unwrap();
        assert_eq!(slug.len(), SLUG_MAX_CHARS);
        // 96 characters exactly stay whole
        let exact = format!("{}-{}", "a".repeat(47), "b".repeat(48));
        assert_eq!(slugify(&exact).as_deref(), Some(exact.as_str()));
    }

    #[test]
    fn suffixes_keep_within_the_limit() {
        assert_eq!(with_suffix("hello", 2), "hello-2");
        let long = slugify(&"word ".repeat(40)).unwrap();
        let suffixed = with_suffix(&long, 12);
        assert!(suffixed.len() <= SLUG_MAX_CHARS);
        assert!(suffixed.ends_with("word-12"), "{suffixed}");
        assert!(is_valid_slug(&suffixed));
        let suffixed = with_suffix(&"a".repeat(96), 3);
        assert_eq!(suffixed.len(), SLUG_MAX_CHARS);
        assert!(is_valid_slug(&suffixed));
    }

    #[test]
    fn slug_validity() {
        for good in ["a", "hello-world", "post-2026", "2026-recap", "a1-b2"] {
            assert!(is_valid_slug(good), "{good}");
        }
        let longest = "a".repeat(96);
        assert!(is_valid_slug(&longest));
        for bad in [
            "",
            "2026",
            "12-34",
            "Hello",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a b",
            "grüße",
            &"a".repeat(97),
        ] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn made_slugs_are_valid() {
        for title in ["Grüße aus Köln", "2026", "x", "  a  b  ", "Ω and ω", "Ⅻ"] {
            if let Some(slug) = slugify(title) {
                assert!(is_valid_slug(&slug), "{title} -> {slug}");
            }
        }
    }

    #[test]
    fn tags_are_trimmed_and_deduplicated_whatever_their_case() {
        let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalize_tags(&tags(&[" Rust ", "rust", "Web", "RUST", "web "])).unwrap(),
            ["Rust", "Web"]
        );
        assert_eq!(normalize_tags(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(
            normalize_tags(&tags(&["Straße", "STRASSE"])).unwrap(),
            ["Straße", "STRASSE"],
            "case, not transliteration, makes tags the same"
        );
        // eleven spellings of ten tags are fine
        let mut many: Vec<String> = (0..10).map(|n| format!("t{n}")).collect();
        many.push("T0".into());
        assert_eq!(normalize_tags(&many).unwrap().len(), 10);
    }

    #[test]
    fn tag_limits() {
        let tags = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalize_tags(&tags(&["  "])).unwrap_err(),
            [TagProblem::Empty]
        );
        assert!(normalize_tags(&["é".repeat(32)]).is_ok());
        assert_eq!(
            normalize_tags(&["é".repeat(33)]).unwrap_err(),
            [TagProblem::TooLong {
                tag: "é".repeat(33),
                chars: 33
            }]
        );
        assert_eq!(
            normalize_tags(&tags(&["a\u{7}b"])).unwrap_err(),
            [TagProblem::Control]
        );
        let eleven: Vec<String> = (0..11).map(|n| format!("t{n}")).collect();
        assert_eq!(
            normalize_tags(&eleven).unwrap_err(),
            [TagProblem::TooMany { count: 11 }]
        );
    }
}
