//! Search, `GET /v1/search?q=&page=`: what a query is read as, and the page of results.
//!
//! posts-service searches with MariaDB's InnoDB full-text index, which has traps this
//! module exists to keep away from the database:
//!
//! - it indexes words of at least three characters ([`WORD_MIN_CHARS`],
//!   `innodb_ft_min_token_size`) and none of its stopwords ([`STOPWORDS`]): such words
//!   find nothing, so they are set aside here and the reader told ([`Analysed::ignored`]);
//! - its boolean mode gives meaning to `+ - * ~ ( ) < > @ "`: a query is never passed
//!   through but rebuilt from the words alone, which hold letters, digits and `_` only;
//! - it has no parser for scripts written without spaces (Chinese, Japanese, Thai…): a
//!   whole sentence would be one word, so no part of it could be found. The text of
//!   such scripts is indexed a second time as overlapping pairs of characters
//!   ([`index_grams`]), each written as an ASCII word, and a phrase in the query is
//!   looked for as its pairs ([`Analysed::phrase_grams`]), then checked whole.
//!
//! The same rules make the index's words and the query's, so they cannot disagree.

use serde::{Deserialize, Serialize};

/// Results on one page.
pub const PAGE_SIZE: u32 = 10;
/// The last page one may ask for: 500 results are more than anyone reads.
pub const MAX_PAGE: u32 = 50;
/// The longest query read, in characters (after trimming); the API refuses longer
/// ones, the search page reads their first this many.
pub const QUERY_MAX_CHARS: usize = 1000;
/// The shortest word the full-text index holds (`innodb_ft_min_token_size`).
pub const WORD_MIN_CHARS: usize = 3;
/// The longest word it holds (`innodb_ft_max_token_size`): a longer one cannot match.
pub const WORD_MAX_CHARS: usize = 84;
/// The most words and phrases one query searches for; the rest are ignored.
pub const MAX_TERMS: usize = 10;

/// InnoDB's default full-text stopwords (`INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD`):
/// never indexed, so never found. The server's table lists `the` twice; so does this.
pub const STOPWORDS: [&str; 36] = [
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www", "the",
];

/// `GET /v1/search`: one page of the visible posts that match, best first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    /// The query as read: trimmed, runs of white space made one space.
    pub query: String,
    /// What was searched for: the words (lowercase) and the phrases of scripts written
    /// without spaces. Empty when nothing in the query can be searched for.
    pub terms: Vec<String>,
    /// The words set aside: shorter than [`WORD_MIN_CHARS`], too common to be indexed
    /// ([`STOPWORDS`]), too long, or past [`MAX_TERMS`].
    pub ignored: Vec<String>,
    /// Up to [`PAGE_SIZE`] summaries, most relevant first, newer first among equals.
    pub posts: Vec<crate::PostSummary>,
    /// This page's number, from 1.
    pub page: u32,
    /// Whether a next page has results.
    pub has_more: bool,
}

/// The query as read: trimmed, every run of white space one space, at most
/// [`QUERY_MAX_CHARS`] characters. Queries equal after this search the same.
pub fn normalize(query: &str) -> String {
    let mut out = String::new();
    for word in query.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    match out.char_indices().nth(QUERY_MAX_CHARS) {
        Some((cut, _)) => out[..cut].trim_end().to_owned(),
        None => out,
    }
}

/// What a query searches for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Analysed {
    /// Words the index holds, lowercase, each required.
    pub words: Vec<String>,
    /// Runs of characters of scripts written without spaces, each required whole.
    pub phrases: Vec<String>,
    /// Words set aside, as written.
    pub ignored: Vec<String>,
}

impl Analysed {
    /// Whether anything can be searched for.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty()
    }

    /// The words and phrases, in that order, as [`SearchPage::terms`] lists them.
    pub fn terms(&self) -> Vec<String> {
        self.words.iter().chain(&self.phrases).cloned().collect()
    }

    /// The boolean-mode query that ranks a match in a title: any word or pair counts.
    pub fn any_query(&self) -> String {
        self.boolean_query().replace('+', "")
    }

    /// The boolean-mode query that finds the candidates: every word and every pair of
    /// characters of every phrase required (`+word`). Built from word characters only,
    /// so no input can be read as an operator. Empty when [`Analysed::is_empty`].
    pub fn boolean_query(&self) -> String {
        let mut required: Vec<String> = self.words.iter().map(|w| format!("+{w}")).collect();
        for phrase in &self.phrases {
            required.extend(phrase_grams(phrase).into_iter().map(|g| format!("+{g}")));
        }
        required.join(" ")
    }
}

/// Reads `query` ([`normalize`]d first) into the words and phrases to search for.
pub fn analyse(query: &str) -> Analysed {
    let mut analysed = Analysed::default();
    let query = normalize(query);
    for piece in pieces(&query) {
        let terms = analysed.words.len() + analysed.phrases.len();
        match piece {
            Piece::Word(word) => {
                let lower = word.to_lowercase();
                let chars = lower.chars().count();
                if !(WORD_MIN_CHARS..=WORD_MAX_CHARS).contains(&chars)
                    || STOPWORDS.contains(&lower.as_str())
                    || terms >= MAX_TERMS
                {
                    analysed.ignored.push(word.to_owned());
                } else if !analysed.words.contains(&lower) {
                    analysed.words.push(lower);
                }
            }
            Piece::Unspaced(phrase) => {
                if terms >= MAX_TERMS {
                    analysed.ignored.push(phrase.to_owned());
                } else if !analysed.phrases.iter().any(|p| p == phrase) {
                    analysed.phrases.push(phrase.to_owned());
                }
            }
        }
    }
    analysed
}

/// The words of `text` that the pairs index adds for its scripts written without
/// spaces, separated by spaces: what posts-service stores beside a post's text.
pub fn index_grams(text: &str) -> String {
    let mut grams: Vec<String> = Vec::new();
    for piece in pieces(text) {
        if let Piece::Unspaced(run) = piece {
            for gram in phrase_grams(run) {
                if !grams.contains(&gram) {
                    grams.push(gram);
                }
            }
        }
    }
    grams.join(" ")
}

/// The index words of one run of unspaced characters: each character alone (so a
/// one-character query is found) and each overlapping pair, written as `g` and the
/// characters' code points in six hexadecimal digits each: plain ASCII word characters
/// that no operator can be made of.
fn phrase_grams(run: &str) -> Vec<String> {
    let chars: Vec<char> = run.chars().collect();
    if chars.len() == 1 {
        return vec![format!("g{:06x}", chars[0] as u32)];
    }
    chars
        .windows(2)
        .map(|pair| format!("g{:06x}{:06x}", pair[0] as u32, pair[1] as u32))
        .collect()
}

/// Pieces of text the search reads.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    /// A run of letters, digits and `_` of scripts written with spaces.
    Word(&'a str),
    /// A run of characters of scripts written without spaces.
    Unspaced(&'a str),
}

/// The words and unspaced runs of `text`, in order; everything else separates them.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Word,
        Unspaced,
        Other,
    }
    fn kind(c: char) -> Kind {
        if is_unspaced(c) {
            Kind::Unspaced
        } else if c.is_alphanumeric() || c == '_' {
            Kind::Word
        } else {
            Kind::Other
        }
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut current = Kind::Other;
    let mut push = |from: usize, to: usize, kind: Kind| match kind {
        Kind::Word => pieces.push(Piece::Word(&text[from..to])),
        Kind::Unspaced => pieces.push(Piece::Unspaced(&text[from..to])),
        Kind::Other => {}
    };
    for (at, c) in text.char_indices() {
        let k = kind(c);
        if k != current {
            push(start, at, current);
            start = at;
            current = k;
        }
    }
    push(start, text.len(), current);
    pieces
}

/// Whether `c` belongs to a script written without spaces between words: Chinese,
/// Japanese kana, Thai, Lao, Myanmar and Khmer.
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF       // Thai, Lao
        | 0x1000..=0x109F     // Myanmar
        | 0x1780..=0x17FF     // Khmer
        | 0x3005..=0x3007     // 々 〆 〇
        | 0x3040..=0x30FF     // Hiragana, Katakana
        | 0x31F0..=0x31FF     // Katakana extensions
        | 0x3400..=0x4DBF     // CJK extension A
        | 0x4E00..=0x9FFF     // CJK unified ideographs
        | 0xF900..=0xFAFF     // CJK compatibility ideographs
        | 0xFF66..=0xFF9F     // half-width Katakana
        | 0x20000..=0x3134F   // CJK extensions B to G
    ) && c.is_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_short_or_common_ones_set_aside() {
        let a = analyse("  The  Rust of it, by Ferris!  ");
        assert_eq!(a.words, ["rust", "ferris"]);
        assert_eq!(a.ignored, ["The", "of", "it", "by"]);
        assert_eq!(a.boolean_query(), "+rust +ferris");
        assert_eq!(a.any_query(), "rust ferris");
    }

    #[test]
    fn operators_never_reach_the_query() {
        for raw in [
            "+rust -java*",
            "\"rust\" ~java",
            "(rust) <java> @3",
            "rust'); DROP TABLE posts;--",
            "%_\\",
            "@@@ *** +++",
        ] {
            let built = analyse(raw).boolean_query();
            for term in built.split(' ').filter(|t| !t.is_empty()) {
                let word = term.strip_prefix('+').expect("every term is required");
                assert!(
                    word.chars().all(|c| c.is_alphanumeric() || c == '_'),
                    "{raw:?} built {built:?}"
                );
            }
        }
        assert_eq!(analyse("+rust -java*").boolean_query(), "+rust +java");
        assert!(analyse("+ - * ~ ( ) < > @ \"").is_empty());
    }

    #[test]
    fn umlauts_and_underscores_stay_in_their_word() {
        let a = analyse("Grüße aus Köln snake_case");
        assert_eq!(a.words, ["grüße", "aus", "köln", "snake_case"]);
    }

    #[test]
    fn unspaced_scripts_are_searched_as_phrases_of_character_pairs() {
        let a = analyse("東京の天気 Rust");
        assert_eq!(a.words, ["rust"]);
        assert_eq!(a.phrases, ["東京の天気"]);
        assert_eq!(
            a.boolean_query(),
            "+rust +g006771004eac +g004eac00306e +g00306e005929 +g005929006c17"
        );
        assert_eq!(analyse("猫").boolean_query(), "+g00732b");
    }

    #[test]
    fn the_index_holds_every_pair_the_query_can_ask_for() {
        let stored = index_grams("今日は東京の天気が良い。Rust と 猫");
        for query in ["東京の天気", "天気", "猫", "今日"] {
            for term in analyse(query).boolean_query().split(' ') {
                let gram = term.trim_start_matches('+');
                assert!(stored.split(' ').any(|g| g == gram), "{query}: {gram}");
            }
        }
        assert_eq!(index_grams("only spaced words here"), "");
    }

    #[test]
    fn a_query_is_read_up_to_its_limit() {
        let long = "wörd ".repeat(QUERY_MAX_CHARS);
        let read = normalize(&long);
        assert!(read.chars().count() <= QUERY_MAX_CHARS);
        assert!(!read.ends_with(' '));
        let a = analyse(&long);
        assert_eq!(a.words, ["wörd"], "repeated words are searched once");
    }

    #[test]
    fn past_the_term_limit_words_are_ignored() {
        let query = (0..15)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let a = analyse(&query);
        assert_eq!(a.words.len(), MAX_TERMS);
        assert_eq!(a.ignored.len(), 5);
    }

    #[test]
    fn a_word_longer_than_the_index_holds_is_ignored() {
        let word = "x".repeat(WORD_MAX_CHARS + 1);
        assert!(analyse(&word).is_empty());
        assert_eq!(analyse(&word).ignored, [word]);
    }
}
