//! `GET /v1/search?q=&page=`: the visible posts matching a reader's words, best first.
//! Token or not, only visible posts are searched.
//!
//! A search waits for one of `SEARCH_CONCURRENCY` turns, at most half of
//! `SEARCH_TIMEOUT_MS` (then a 503), and MariaDB stops its statement after
//! `SEARCH_TIMEOUT_MS`: a flood of unique queries, which no cache absorbs, holds at most
//! that many database connections, and no search answers later than one and a half
//! times the limit.

use http::StatusCode;
use posts_api::search::{MAX_PAGE, QUERY_MAX_CHARS};
use warp::reply::Response;

use super::reply::json;
use crate::error::ApiError;
use crate::state::AppState;

/// The search's answer: a page of results, or what was set aside when nothing in the
/// query can be searched for (no statement runs then).
pub async fn search(raw_query: String, state: AppState) -> Result<Response, ApiError> {
    let (query, page) = search_query(&raw_query)?;
    let limits = &state.search;
    let turn = tokio::time::timeout(limits.timeout / 2, limits.turns.acquire())
        .await
        .map_err(|_| ApiError::SearchBusy)?
        .map_err(|_| ApiError::SearchBusy)?;
    let results = state.store.search(&query, page, limits.timeout).await;
    drop(turn);
    Ok(json(StatusCode::OK, &results?))
}

/// `q` (required: 1 to [`QUERY_MAX_CHARS`] characters after trimming) and `page` (1 to
/// [`MAX_PAGE`], default 1); other parameters are ignored.
fn search_query(raw: &str) -> Result<(String, u32), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| ApiError::BadRequest("The query string is malformed.".into()))?;
    let mut query = None;
    let mut page = 1;
    for (name, value) in pairs {
        match name.as_str() {
            "q" => query = Some(value),
            "page" => {
                page = value
                    .parse::<u32>()
                    .ok()
                    .filter(|page| (1..=MAX_PAGE).contains(page))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "page must be a whole number from 1 to {MAX_PAGE}."
                        ))
                    })?;
            }
            _ => {}
        }
    }
    let query = query.unwrap_or_default();
    let chars = query.trim().chars().count();
    if chars == 0 || chars > QUERY_MAX_CHARS {
        return Err(ApiError::BadRequest(format!(
            "q must be from 1 to {QUERY_MAX_CHARS} characters (it has {chars})."
        )));
    }
    Ok((query, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_need_words_and_pages_stay_in_range() {
        assert_eq!(search_query("q=rust").unwrap(), ("rust".to_owned(), 1));
        assert_eq!(
            search_query("q=%2Brust+-java&page=50").unwrap(),
            ("+rust -java".to_owned(), 50)
        );
        let longest = "x".repeat(QUERY_MAX_CHARS);
        assert!(search_query(&format!("q={longest}")).is_ok());
        for bad in [
            "",
            "q=",
            "q=+++",
            "page=2",
            "q=rust&page=0",
            "q=rust&page=51",
            "q=rust&page=x",
        ] {
            assert!(search_query(bad).is_err(), "{bad} was accepted");
        }
        assert!(search_query(&format!("q={longest}y")).is_err());
    }
}
