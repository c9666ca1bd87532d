//! What both ways of rendering a body share, so that they cannot drift apart: how the
//! Markdown is parsed, which URL schemes a link or image may use, and the `rel` every
//! link gets. The full path hands these to ammonia; the fast path applies them itself.

use pulldown_cmark::{Options, Parser};

/// The schemes an absolute URL in `href` or `src` may have; relative URLs pass.
pub(crate) const URL_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// The `rel` of every link.
pub(crate) const LINK_REL: &str = "noopener noreferrer nofollow";

/// The one Markdown parser configuration (plain CommonMark, no extensions).
pub(crate) fn parser(markdown: &str) -> Parser<'_> {
    Parser::new_ext(markdown, Options::empty())
}
