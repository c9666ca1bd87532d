//! `GET /search?q=…&page=N`: the reader's search, over posts-service's
//! `GET /v1/search`.
//!
//! - No `q` (or one of white space only): the search form alone.
//! - The query is read as posts-service reads it ([`posts_api::search::normalize`]:
//!   trimmed, runs of white space made one space, the first 1,000 characters). When
//!   nothing in it can be searched for ([`posts_api::search::analyse`]: words of fewer
//!   than 3 letters, very common words, operators alone), the page says so and lists
//!   what was set aside, without asking posts-service.
//! - Else one page of results, ten to a page, "More results →" going on to the next
//!   while there are more, up to page [`MAX_PAGE`]; none is "Nothing found for …".
//! - `page` absent is page 1; anything but a number from 1 to [`MAX_PAGE`] is the 404
//!   page (a made-up page number is no page of this blog).
//! - Anonymous readers share results through the page cache, keyed by the query as
//!   read and the page (with its validators, `304` and `HEAD`); signed-in users get
//!   them rendered for them, as every page. Results are never served stale: when
//!   posts-service is busy (503), slow past its timeout or unreachable, the page says
//!   search is busy (503, `Retry-After`).
//! - Each client address may make `SEARCH_PER_MINUTE` searches a minute
//!   ([`crate::search_limit`]); only searches that reach posts-service count (not the
//!   ones the page cache answers, nor queries with nothing to search for). Past it:
//!   429 with `Retry-After`.

use std::net::IpAddr;
use std::sync::Arc;

use http::{header, HeaderValue, Method, StatusCode};
use posts_api::search::{analyse, normalize, MAX_PAGE};
use service_runtime::metrics::route;
use service_runtime::request_id::RequestId;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::error::PageError;
use crate::page_cache::{CachedPage, PageKey};
use crate::search_limit::retry_after_secs;
use crate::state::{with_state, AppState};
use crate::templates::{
    quoted_list, render, Chrome, PostSummary, SearchOutcome, SearchResults, SearchView,
};
use crate::web::client::client_address;
use crate::web::respond::page;
use crate::web::visitor::{visitor, Visitor};

/// What the busy page tells a client: try again in this many seconds.
const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// The longest query shown in the page's `<title>`, in characters.
const TITLE_QUERY_CHARS: usize = 60;

pub fn routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let search = warp::path!("search")
        .and(route("/search", Method::GET))
        .and(with_state(state))
        .and(visitor(state))
        .and(client_address(state))
        .and(raw_query())
        .then(render_search);
    page(&state.site, search)
}

/// The request's query string; empty without one.
fn raw_query() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or_else(|_| async { Ok::<_, std::convert::Infallible>((String::new(),)) })
}

/// `?q=…&page=N` as sent.
#[derive(Debug, Default, PartialEq, Eq)]
struct SearchParams {
    /// The first `q`; empty without one.
    q: String,
    /// The first `page`, if any.
    page: Option<String>,
}

impl SearchParams {
    /// Reads a query string: the first `q` and the first `page`, other parameters
    /// ignored. Form encoding cannot fail to read: a stray `%` is text, and bytes that
    /// are not UTF-8 become U+FFFD.
    fn parse(raw: &str) -> SearchParams {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        SearchParams {
            q: first("q").unwrap_or_default(),
            page: first("page"),
        }
    }
}

/// The page asked for: absent or empty is page 1; else digits naming 1 to [`MAX_PAGE`],
/// or `None` (the 404 page).
fn page_number(raw: Option<&str>) -> Option<u32> {
    let Some(raw) = raw.filter(|raw| !raw.is_empty()) else {
        return Some(1);
    };
    if raw.len() > 3 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse()
        .ok()
        .filter(|page| (1..=MAX_PAGE).contains(page))
}

/// The address of a page of results for `query` (as read).
pub fn search_href(query: &str, page: u32) -> String {
    let encoded = if page == 1 {
        serde_urlencoded::to_string([("q", query)])
    } else {
        serde_urlencoded::to_string([("q", query), ("page", &page.to_string())])
    };
    format!("/search?{}", encoded.unwrap_or_default())
}

/// The page's title: "Search", or "Search: {query}" with a long query cut short.
fn title(query: &str) -> String {
    if query.is_empty() {
        return "Search".to_owned();
    }
    match query.char_indices().nth(TITLE_QUERY_CHARS) {
        Some((cut, _)) => format!("Search: {}…", query[..cut].trim_end()),
        None => format!("Search: {query}"),
    }
}

async fn render_search(
    state: Arc<AppState>,
    mut visitor: Visitor,
    client: IpAddr,
    raw_query: String,
) -> Result<Response, PageError> {
    let params = SearchParams::parse(&raw_query);
    let page = page_number(params.page.as_deref()).ok_or(PageError::NotFound)?;
    let query = normalize(&params.q);
    if query.is_empty() {
        return answer(&state, visitor, StatusCode::OK, query, SearchOutcome::Form);
    }
    let analysed = analyse(&query);
    if analysed.is_empty() {
        let outcome = SearchOutcome::NothingSearchable(quoted_list(&analysed.ignored));
        return answer(&state, visitor, StatusCode::OK, query, outcome);
    }

    let key = PageKey::Search {
        query: Arc::from(query.as_str()),
        page,
    };
    let shared = visitor.sees_shared_pages();
    if !(shared && state.pages.is_fresh(&key)) {
        if let Err(wait) = state.search_limiter.check(client) {
            let retry_after = retry_after_secs(wait);
            tracing::warn!(client = %client, retry_after, "search refused: SEARCH_PER_MINUTE reached");
            let mut response = answer(
                &state,
                visitor,
                StatusCode::TOO_MANY_REQUESTS,
                query,
                SearchOutcome::TooMany,
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Ok(response);
        }
    }

    let rendered = if shared {
        let render = {
            let state = state.clone();
            let request_id = visitor.request_id.clone();
            let query = query.clone();
            async move {
                let html = results_html(
                    &state,
                    |title| Visitor::shared_chrome(&state, title),
                    &query,
                    page,
                    &request_id,
                )
                .await?;
                Ok(CachedPage::new(StatusCode::OK, html))
            }
        };
        match state.pages.get_or_render(key, render).await {
            Ok((page, served)) => return Ok(visitor.shared_page(&state, &page, served)),
            Err(error) => error,
        }
    } else {
        let request_id = visitor.request_id.clone();
        let html = results_html(
            &state,
            |title| visitor.chrome(&state, title),
            &query,
            page,
            &request_id,
        )
        .await;
        match html {
            Ok(html) => return Ok(visitor.page(StatusCode::OK, html)),
            Err(error) => error,
        }
    };
    match rendered {
        // Busy, timed out, unreachable or the circuit open: never old results.
        PageError::Upstream(cause) => {
            tracing::info!(error = %cause, "search page: posts-service cannot search now");
            let mut response = answer(
                &state,
                visitor,
                StatusCode::SERVICE_UNAVAILABLE,
                query,
                SearchOutcome::Busy,
            )?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(BUSY_RETRY_AFTER_SECS),
            );
            Ok(response)
        }
        other => Err(other),
    }
}

/// The search page for this visitor, not shared: the form, a message, busy or refused.
fn answer(
    state: &AppState,
    mut visitor: Visitor,
    status: StatusCode,
    query: String,
    outcome: SearchOutcome,
) -> Result<Response, PageError> {
    let html = render(&SearchView {
        chrome: visitor.chrome(state, title(&query)),
        query,
        outcome,
    })?;
    Ok(visitor.page(status, html))
}

/// A page of results for `query`, its frame made by `chrome` once they are known.
async fn results_html(
    state: &AppState,
    chrome: impl FnOnce(String) -> Chrome,
    query: &str,
    page: u32,
    request_id: &RequestId,
) -> Result<String, PageError> {
    let found = state.posts.search(query, page, request_id).await?;
    let outcome = if found.terms.is_empty() {
        // posts-service reads queries by the same rules: this does not happen, but if it
        // did, its reading is the one to show.
        SearchOutcome::NothingSearchable(quoted_list(&found.ignored))
    } else {
        SearchOutcome::Results(SearchResults {
            posts: found.posts.iter().map(PostSummary::new).collect(),
            page,
            ignored: quoted_list(&found.ignored),
            more_href: (found.has_more && page < MAX_PAGE).then(|| search_href(query, page + 1)),
            earlier_href: (page > 1).then(|| search_href(query, page - 1)),
            first_href: search_href(query, 1),
        })
    };
    Ok(render(&SearchView {
        chrome: chrome(title(query)),
        query: query.to_owned(),
        outcome,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_q_and_page_are_read_and_nothing_fails_to_read() {
        assert_eq!(SearchParams::parse(""), SearchParams::default());
        assert_eq!(
            SearchParams::parse("q=rust+web&page=2&q=other&x=1"),
            SearchParams {
                q: "rust web".into(),
                page: Some("2".into())
            }
        );
        for raw in [
            "q=%",
            "q=%ff%fe",
            "q=%E6%9D%B1%E4%BA%AC",
            "&&=&q",
            "q=a=b",
            "page",
        ] {
            let params = SearchParams::parse(raw);
            assert!(params.q.len() <= raw.len() * 3, "{raw}: {params:?}");
        }
        assert_eq!(SearchParams::parse("q=%E6%9D%B1%E4%BA%AC").q, "東京");
        assert_eq!(SearchParams::parse("q=%ff").q, "\u{fffd}");
    }

    #[test]
    fn pages_are_1_to_50_and_anything_else_is_none() {
        assert_eq!(page_number(None), Some(1));
        assert_eq!(page_number(Some("")), Some(1));
        assert_eq!(page_number(Some("1")), Some(1));
        assert_eq!(page_number(Some("07")), Some(7));
        assert_eq!(page_number(Some("50")), Some(MAX_PAGE));
        for bad in [
            "0",
            "51",
            "-1",
            "+2",
            "two",
            "1.0",
            " 3",
            "99999999999",
            "1e2",
        ] {
            assert_eq!(page_number(Some(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn result_links_carry_the_query_encoded() {
        assert_eq!(search_href("rust web", 1), "/search?q=rust+web");
        assert_eq!(
            search_href("a&page=9 <b>", 2),
            "/search?q=a%26page%3D9+%3Cb%3E&page=2"
        );
        let href = search_href("東京", 3);
        assert_eq!(
            SearchParams::parse(href.strip_prefix("/search?").unwrap()),
            SearchParams {
                q: "東京".into(),
                page: Some("3".into())
            }
        );
    }

    #[test]
    fn a_long_query_is_cut_short_in_the_title() {
        assert_eq!(title(""), "Search");
        assert_eq!(title("rust"), "Search: rust");
        let long = "東".repeat(1000);
        let cut = title(&long);
        assert_eq!(
            cut.chars().count(),
            "Search: ".len() + TITLE_QUERY_CHARS + 1
        );
        assert!(cut.ends_with('…'));
    }
}
