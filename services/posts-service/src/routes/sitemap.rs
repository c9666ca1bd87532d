//! Handlers of the sitemap's two calls: what render-service's `/sitemap.xml` lists.
//! Both answer the readers' view (visible posts only), token or not.

use http::StatusCode;
use posts_api::sitemap::SITEMAP_MAX_URLS;
use warp::reply::Response;

use super::reply::json;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/sitemap`: the number of visible posts, where each page of them starts, and
/// the tags that have one.
pub async fn outline(state: AppState) -> Result<Response, ApiError> {
    let outline = state.store.sitemap_outline().await?;
    Ok(json(StatusCode::OK, &outline))
}

/// `GET /v1/sitemap/posts?after=ID&through=ID&limit=N`: a page of visible posts, in id
/// order.
pub async fn posts(raw_query: String, state: AppState) -> Result<Response, ApiError> {
    let (after, through, limit) = page_query(&raw_query)?;
    let page = state.store.sitemap_posts(after, through, limit).await?;
    Ok(json(StatusCode::OK, &page))
}

/// `after` (default 0), `through` (default: no bound) and `limit` (1 to 50,000, default
/// 50,000); others are ignored.
fn page_query(raw: &str) -> Result<(u64, u64, u32), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|_| ApiError::BadRequest("The query string is malformed.".into()))?;
    let mut after = 0;
    let mut through = u64::MAX;
    let mut limit = SITEMAP_MAX_URLS;
    for (name, value) in pairs {
        match name.as_str() {
            "after" => {
                after = value
                    .parse::<u64>()
                    .map_err(|_| ApiError::BadRequest("after must be a post id.".into()))?;
            }
            "through" => {
                through = value
                    .parse::<u64>()
                    .map_err(|_| ApiError::BadRequest("through must be a post id.".into()))?;
            }
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=SITEMAP_MAX_URLS).contains(limit))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be a whole number from 1 to {SITEMAP_MAX_URLS}."
                        ))
                    })?;
            }
            _ => {}
        }
    }
    Ok((after, through, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_queries_default_and_bound_their_values() {
        assert_eq!(page_query("").unwrap(), (0, u64::MAX, SITEMAP_MAX_URLS));
        assert_eq!(
            page_query("after=41&limit=7&through=90").unwrap(),
            (41, 90, 7)
        );
        for bad in [
            "after=x",
            "after=-1",
            "limit=0",
            "limit=50001",
            "limit=ten",
            "through=-2",
        ] {
            assert!(page_query(bad).is_err(), "{bad} was accepted");
        }
    }
}
