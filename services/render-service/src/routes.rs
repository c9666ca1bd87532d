//! The wiring: every page's routes composed into the one filter the server runs, with
//! rejections answered ([`crate::web::respond::recover`]) and the security headers
//! added ([`crate::site::with_security_headers`]). One line per page module.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

use crate::pages::{
    admin, assets, delete, editor, feed, health, index, post, search, session, sitemap, tags,
};
use crate::site::with_security_headers;
use crate::state::AppState;
use crate::web::respond;

/// `/metrics`, for the metrics listener alone.
pub fn metrics_routes(state: &Arc<AppState>) -> BoxedFilter<(Response,)> {
    let site = state.site.clone();
    health::metrics_routes(state)
        .recover(move |rejection| respond::recover(site.clone(), rejection))
        .unify()
        .boxed()
}

/// Every page of the blog, with error pages and security headers.
pub fn routes(state: Arc<AppState>) -> BoxedFilter<(Response,)> {
    let site = state.site.clone();
    let https = site.https;
    index::routes(&state)
        .or(post::routes(&state))
        .unify()
        .or(editor::routes(&state))
        .unify()
        .or(delete::routes(&state))
        .unify()
        .or(admin::routes(&state))
        .unify()
        .or(session::routes(&state))
        .unify()
        .or(feed::routes(&state))
        .unify()
        .or(sitemap::routes(&state))
        .unify()
        .or(tags::routes(&state))
        .unify()
        .or(search::routes(&state))
        .unify()
        .or(health::routes(&state))
        .unify()
        .or(assets::routes())
        .unify()
        .recover(move |rejection| respond::recover(site.clone(), rejection))
        .unify()
        .map(move |response| with_security_headers(response, https))
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Registry;
    use service_runtime::metrics::RouteSlot;

    use crate::auth::Auth;
    use crate::page_cache::PageCache;
    use crate::posts_client::PostsClient;
    use crate::site::Site;
    use crate::Config;

    fn blog() -> BoxedFilter<(Response,)> {
        blog_with(crate::state::Readiness::ready())
    }

    fn blog_with(readiness: crate::state::Readiness) -> BoxedFilter<(Response,)> {
        // posts-service on a closed port: pages fail fast, which is all these tests need.
        let config = Config::new("http://127.0.0.1:9", "token", "admin", "pw", "s".repeat(32));
        let registry = Registry::new();
        let state = AppState {
            posts: PostsClient::new(&config, &registry).unwrap(),
            pages: PageCache::new(config.page_cache(), &registry).unwrap(),
            auth: Auth::new(&config),
            login_limiter: Arc::new(crate::login_limit::LoginLimiter::new(&registry).unwrap()),
            search_limiter: Arc::new(
                crate::search_limit::SearchLimiter::new(config.search_per_minute, &registry)
                    .unwrap(),
            ),
            proxies: crate::forwarded::ProxyTrust::None,
            site: Arc::new(Site {
                blog_title: "Blog".into(),
                stylesheet: "/static/style.css",
                public_url: None,
                https: false,
                zone: crate::zone::BlogZone::utc(),
            }),
            registry,
            readiness,
        };
        routes(Arc::new(state))
    }

    async fn label(method: &str, path: &str) -> &'static str {
        let slot = RouteSlot::default();
        warp::test::request()
            .method(method)
            .path(path)
            .extension(slot.clone())
            .reply(&blog())
            .await;
        slot.template()
    }

    #[tokio::test]
    async fn every_route_names_its_template_and_nothing_else_does() {
        for (method, path, template) in [
            ("GET", "/", "/"),
            ("GET", "/?before=5", "/"),
            ("GET", "/posts/42", "/posts/{slug}"),
            ("GET", "/posts/+5", "/posts/{slug}"),
            ("GET", "/posts/005", "/posts/{slug}"),
            ("GET", "/posts/a-slug", "/posts/{slug}"),
            ("GET", "/admin", "/admin"),
            ("GET", "/edit/7", "/edit/{id}"),
            ("POST", "/edit/7", "/edit/{id}"),
            ("GET", "/delete/7", "/delete/{id}"),
            ("GET", "/add", "/add"),
            ("GET", "/login", "/login"),
            ("POST", "/logout", "/logout"),
            ("GET", "/feed.xml", "/feed.xml"),
            ("GET", "/robots.txt", "/robots.txt"),
            ("GET", "/sitemap.xml", "/sitemap.xml"),
            ("GET", "/sitemaps/tags.xml", "/sitemaps/tags.xml"),
            (
                "GET",
                "/sitemaps/posts-50000.xml",
                "/sitemaps/posts-{after}.xml",
            ),
            ("GET", "/tags/rust", "/tags/{slug}"),
            ("GET", "/tags/rust?before=5", "/tags/{slug}"),
            ("GET", "/tags/Not%20A%20Slug", "/tags/{slug}"),
            ("GET", "/tags/rust/feed.xml", "/tags/{slug}/feed.xml"),
            ("GET", "/tags/rust/other", "unmatched"),
            ("GET", "/search", "/search"),
            ("GET", "/search?q=rust&page=2", "/search"),
            ("GET", "/search?q=%3Cscript%3E&page=x", "/search"),
            ("GET", "/search/rust", "unmatched"),
            ("GET", "/static/style.0123abcd.css", "/static/{file}"),
            ("GET", "/healthz", "/healthz"),
            ("GET", "/metrics", "unmatched"),
            ("GET", "/posts/1/2", "unmatched"),
            ("GET", "/wp-admin.php", "unmatched"),
        ] {
            assert_eq!(label(method, path).await, template, "{method} {path}");
        }
    }

    #[tokio::test]
    async fn readiness_is_render_services_own_and_ends_with_shutdown() {
        // posts-service is on a closed port here: ready all the same.
        let readiness = crate::state::Readiness::ready();
        let blog = blog_with(readiness.clone());
        let response = warp::test::request().path("/readyz").reply(&blog).await;
        assert_eq!(response.status(), http::StatusCode::OK);
        readiness.draining();
        let response = warp::test::request().path("/readyz").reply(&blog).await;
        assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
