//! The SQL of search: the query over `post_search`'s FULLTEXT index (its rows are
//! written with each post: [`super::search_text`]).
//!
//! A query is never passed to MariaDB as typed: [`posts_api::search::analyse`] reads
//! it into words and phrases, and the boolean-mode query is built from those alone
//! (letters, digits and `_`), bound as a parameter. A phrase of a script written
//! without spaces is looked for through its character pairs in the index, then checked
//! whole with `LIKE` on those candidates only (its `%` and `_` escaped), so the check's
//! cost is bounded by the index's answer, never a scan of every post.
//!
//! Every search runs under MariaDB's own statement time limit
//! (`SET STATEMENT max_statement_time`): a query that matches most of a large blog is
//! stopped by the server, not only abandoned by the client. It answers like a busy
//! database, a 503.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Params, Row, Value};
use posts_api::search::{self, Analysed, PAGE_SIZE};
use posts_api::SearchPage;

use super::error::StoreError;
use super::operation::sql;
use super::posts::{PostStore, SUMMARY_COLUMNS, VISIBLE};
use super::slugs;

/// `LIKE` pattern matching `text` anywhere, its wildcards escaped (`\` is the default
/// escape character).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The search statement for `analysed` and its parameters (the page's offset and the
/// row limit last): visible posts matching every word and pair, each phrase checked
/// whole, by relevance (a word in the title counts three times) then publication time.
fn search_statement(analysed: &Analysed, time_limit: Duration, offset: u32) -> (String, Params) {
    let against = analysed.boolean_query();
    let mut phrase_checks = String::new();
    let mut params: Vec<Value> = vec![
        analysed.any_query().into(),
        against.clone().into(),
        against.into(),
    ];
    for phrase in &analysed.phrases {
        phrase_checks.push_str(" AND (s.title_text LIKE ? OR s.body_text LIKE ?)");
        let pattern = contains_pattern(phrase);
        params.push(pattern.clone().into());
        params.push(pattern.into());
    }
    params.push((PAGE_SIZE + 1).into());
    params.push(offset.into());
    let seconds = time_limit.as_secs_f64();
    let statement = format!(
        "SET STATEMENT max_statement_time = {seconds:.3} FOR \
         SELECT {SUMMARY_COLUMNS}, \
         2 * MATCH (s.title_text) AGAINST (? IN BOOLEAN MODE) \
         + MATCH (s.title_text, s.body_text, s.grams) AGAINST (? IN BOOLEAN MODE) AS score \
         FROM post_search s STRAIGHT_JOIN posts ON posts.id = s.post_id \
         WHERE MATCH (s.title_text, s.body_text, s.grams) AGAINST (? IN BOOLEAN MODE) \
         AND {VISIBLE}{phrase_checks} \
         ORDER BY score DESC, COALESCE(published_at, created_at) DESC, id DESC \
         LIMIT ? OFFSET ?"
    );
    (statement, Params::Positional(params))
}

impl PostStore {
    /// Page `page` (from 1) of the visible posts matching `query`, best first; no
    /// statement runs when nothing in it can be searched for. The server stops the
    /// statement after `time_limit`.
    pub async fn search(
        &self,
        query: &str,
        page: u32,
        time_limit: Duration,
    ) -> Result<SearchPage, StoreError> {
        let analysed = search::analyse(query);
        let mut result = SearchPage {
            query: search::normalize(query),
            terms: analysed.terms(),
            ignored: analysed.ignored.clone(),
            posts: Vec::new(),
            page,
            has_more: false,
        };
        if analysed.is_empty() {
            return Ok(result);
        }
        let offset = page.saturating_sub(1) * PAGE_SIZE;
        let (statement, params) = search_statement(&analysed, time_limit, offset);
        let pool = self.pool().clone();
        let (rows, tags) = self
            .bounded("search", async move {
                let mut conn = pool.get_conn().await?;
                let mut rows: Vec<Row> =
                    sql("SELECT post_search", conn.exec(statement, params)).await?;
                rows.truncate(PAGE_SIZE as usize + 1);
                let ids: Vec<u64> = rows
                    .iter()
                    .take(PAGE_SIZE as usize)
                    .filter_map(|row| row.get::<u64, _>(0))
                    .collect();
                let tags = slugs::tags_of(&mut conn, &ids).await?;
                Ok::<_, StoreError>((rows, tags))
            })
            .await?;
        result.has_more = rows.len() > PAGE_SIZE as usize;
        result.posts = self
            .summaries_of(rows.into_iter().take(PAGE_SIZE as usize).collect(), tags)
            .await?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_a_phrase_are_matched_literally() {
        assert_eq!(contains_pattern("東京%_\\"), "%東京\\%\\_\\\\%");
    }

    #[test]
    fn the_statement_binds_every_input_and_checks_each_phrase() {
        let analysed = search::analyse("rust 東京 'x' OR 1=1 --");
        let (statement, params) = search_statement(&analysed, Duration::from_millis(1500), 20);
        assert!(statement.starts_with("SET STATEMENT max_statement_time = 1.500 FOR SELECT"));
        assert!(!statement.contains("rust") && !statement.contains("東京"));
        assert_eq!(statement.matches("LIKE ?").count(), 2);
        let Params::Positional(values) = params else {
            panic!("positional parameters");
        };
        // Three MATCHes, one phrase's two LIKEs, the limit and the offset.
        assert_eq!(values.len(), 7);
        assert_eq!(values[5], Value::from(PAGE_SIZE + 1));
        assert_eq!(values[6], Value::from(20u32));
    }
}
