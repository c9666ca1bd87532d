//! A post's version as an entity tag: version 3 is `"3"`.
//!
//! Tags are compared as RFC 9110 says for `If-Match` (strong comparison, character by
//! character), so only the exact text [`of`] writes names a version: `"03"`, `W/"3"`
//! and `"3 "` name none.

/// The entity tag of a version.
pub fn of(version: u32) -> String {
    format!("\"{version}\"")
}

/// The version a strong entity tag names, if it is one of ours.
pub fn version_of(tag: &str) -> Option<u32> {
    let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
    let version: u32 = inner.parse().ok()?;
    (of(version) == tag).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_round_trips() {
        assert_eq!(of(3), "\"3\"");
        assert_eq!(version_of("\"3\""), Some(3));
        assert_eq!(version_of(&of(u32::MAX)), Some(u32::MAX));
    }

    #[test]
    fn only_the_exact_text_names_a_version() {
        for tag in [
            "\"03\"",
            "W/\"3\"",
            "3",
            "\"+3\"",
            "\" 3\"",
            "\"\"",
            "\"abc\"",
            "\"4294967296\"",
        ] {
            assert_eq!(version_of(tag), None, "{tag}");
        }
    }
}
