//! The search page (`/search?q=…&page=N`) over posts-service's `GET /v1/search`: what a
//! reader finds (visible posts only, by a word of the body, in Chinese and Japanese
//! too), what it says about words it cannot search for, that no input is an error,
//! that hostile input is escaped, that each address has its limit, that anonymous
//! readers share results through the page cache, and that search is "busy", never stale
//! or an error, when posts-service cannot answer.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use test_mariadb::harness::Db;

use crate::helpers::{spawn_blog, spawn_blog_with, unescape, x_cache, Blog};

/// `/search?q=<q>`, encoded as a browser's GET form encodes it.
fn search_path(q: &str) -> String {
    format!(
        "/search?{}",
        serde_urlencoded::to_string([("q", q)]).expect("encodes")
    )
}

/// The series of successful searches render-service asked posts-service for.
const SEARCH_CALLS: &str =
    r#"upstream_requests_total{operation="search",outcome="ok",upstream="posts-service"}"#;

/// Searches posts-service was asked for, so far.
async fn search_calls(blog: &Blog) -> f64 {
    blog.metric(SEARCH_CALLS).await.unwrap_or(0.0)
}

/// The value of the search form's field on a page.
fn query_field(html: &str) -> String {
    let marker = r#"id="search-q" name="q" value=""#;
    let start = html.find(marker).expect("the search form") + marker.len();
    let end = html[start..].find('"').expect("a closing quote") + start;
    unescape(&html[start..end])
}

pub async fn a_post_is_found_by_a_word_of_its_body_and_a_draft_never(db: Db) {
    let blog = spawn_blog(&db).await;
    let found = blog
        .create_with_via_api(json!({
            "title": "Notes from the garden",
            "body": "Leaves turn light into sugar by photosynthesis, every day.",
        }))
        .await;
    blog.create_with_via_api(json!({
        "title": "Secret draft", "body": "More about photosynthesis.", "status": "draft"
    }))
    .await;
    blog.create_with_via_api(json!({
        "title": "Future post", "body": "Photosynthesis again.",
        "published_at": "2099-01-01T00:00:00Z"
    }))
    .await;
    blog.create_with_via_api(json!({"title": "Unrelated", "body": "Nothing green here."}))
        .await;

    let (status, html) = blog.page(&search_path("photosynthesis")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let slug = found["slug"].as_str().unwrap();
    assert!(
        html.contains(&format!(
            r#"<a href="/posts/{slug}">Notes from the garden</a>"#
        )),
        "the title links to the post: {html}"
    );
    assert!(
        html.contains("Leaves turn light into sugar"),
        "the excerpt: {html}"
    );
    assert!(html.contains("<time datetime="), "the date: {html}");
    assert!(html.contains("Results for “photosynthesis”"), "{html}");
    for hidden in ["Secret draft", "Future post", "Unrelated"] {
        assert!(!html.contains(hidden), "{hidden}: {html}");
    }
    assert_eq!(query_field(&html), "photosynthesis");
    assert!(
        html.contains(r#"<meta name="robots" content="noindex">"#),
        "{html}"
    );

    // Case does not matter; a word no post has finds nothing, and says so.
    let (_, html) = blog.page(&search_path("PHOTOSYNTHESIS")).await;
    assert!(html.contains("Notes from the garden"), "{html}");
    let (status, html) = blog.page(&search_path("xylophonist")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Nothing found for “xylophonist”"), "{html}");

    // No query, or one of spaces only: the form alone, and nothing asked.
    let calls = search_calls(&blog).await;
    for path in ["/search", "/search?q=", "/search?q=+++", "/search?page=2"] {
        let (status, html) = blog.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(query_field(&html), "", "{path}");
        assert!(!html.contains("Nothing found"), "{path}: {html}");
    }
    assert_eq!(search_calls(&blog).await, calls);

    // Every reader page carries the search box.
    let (_, index) = blog.page("/").await;
    assert!(
        index.contains(r#"<form class="site-search" method="get" action="/search" role="search">"#),
        "{index}"
    );
}

pub async fn words_too_short_or_too_common_are_explained_without_a_search(db: Db) {
    let blog = spawn_blog(&db).await;
    let (status, html) = blog.page(&search_path("a to of")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Words must have at least 3 letters, and very common words (like “the”) are not searched."),
        "{html}"
    );
    assert!(html.contains("Not searched: “a”, “to”, “of”"), "{html}");
    let (_, html) = blog.page(&search_path("The")).await;
    assert!(html.contains("Not searched: “The”"), "{html}");
    assert_eq!(
        search_calls(&blog).await,
        0.0,
        "posts-service was not asked"
    );

    // Beside a searchable word, the ignored ones are named above the results.
    blog.create_via_api("Tea", "A pot of oolong.").await;
    let (_, html) = blog.page(&search_path("the oolong")).await;
    assert!(html.contains("Not searched: “the”."), "{html}");
    assert!(html.contains(">Tea</a>"), "{html}");
}

pub async fn any_input_is_a_page_never_an_error(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_via_api("Plants", "photosynthesis and chlorophyll in every leaf")
        .await;
    // 1,500 characters; its first 1,000 are 200 whole words.
    let long = "leaf ".repeat(300);
    let mut queries: Vec<String> = [
        "+",
        "-",
        "*",
        "~",
        "(",
        ")",
        "<",
        ">",
        "@",
        "\"",
        "+ - * ~ ( ) < > @ \"",
        "+photosynthesis -chlorophyll",
        "photo*",
        "\"photosynthesis and\"",
        "@3 photosynthesis",
        "(photosynthesis) <chlorophyll>",
        "~photosynthesis",
        "photosynthesis'); DROP TABLE posts;--",
        "%_\\",
        "🌱🌱🌱",
        "photosynthesis 🌱",
        "東京",
        "東",
        "ひらがな",
        "Ünïcödé wörds",
        "\u{0}\u{1}\u{7f}",
        "a",
        "",
    ]
    .iter()
    .map(|q| q.to_string())
    .collect();
    queries.push(long.clone());
    queries.push("東".repeat(1500));
    for q in &queries {
        let (status, html) = blog.page(&search_path(q)).await;
        assert_eq!(status, StatusCode::OK, "{q:?}: {html}");
    }
    // Operators are not operators: "+photosynthesis -chlorophyll" needs both words.
    let (_, html) = blog
        .page(&search_path("+photosynthesis -chlorophyll"))
        .await;
    assert!(html.contains(">Plants</a>"), "{html}");

    // A query over 1,000 characters is read as its first 1,000.
    let (status, html) = blog.page(&search_path(&long)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">Plants</a>"), "{html}");
    let field = query_field(&html);
    assert!(field.chars().count() <= 1000, "{}", field.chars().count());
    assert!(long.starts_with(&field));

    // Made-up query strings are pages too; a page that is not 1 to 50 is the 404 page.
    for path in [
        "/search?q=%",
        "/search?q=%ff%fe",
        "/search?q=a&q=b",
        "/search?q=photosynthesis&page=50",
        "/search?q=photosynthesis&page=",
        "/search?q=photosynthesis&other=1",
    ] {
        assert_eq!(blog.page(path).await.0, StatusCode::OK, "{path}");
    }
    for page in ["0", "51", "-1", "x", "1.5", "99999999999999"] {
        let path = format!("{}&page={page}", search_path("photosynthesis"));
        assert_eq!(blog.page(&path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
}

pub async fn chinese_and_japanese_phrases_find_their_posts(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_via_api("天気", "今日は東京の天気が良いです。")
        .await;
    blog.create_via_api("烤鸭", "北京烤鸭很好吃。").await;
    blog.create_via_api("Both", "東京 and 北京 are capitals.")
        .await;

    let (status, html) = blog.page(&search_path("東京の天気")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(">天気</a>"), "{html}");
    assert!(
        !html.contains(">烤鸭</a>") && !html.contains(">Both</a>"),
        "{html}"
    );

    let (_, html) = blog.page(&search_path("烤鸭")).await;
    assert!(html.contains(">烤鸭</a>"), "{html}");
    assert!(!html.contains(">天気</a>"), "{html}");

    // A phrase is found whole, not as its characters anywhere: 北京 is in two posts.
    let (_, html) = blog.page(&search_path("北京")).await;
    assert!(
        html.contains(">烤鸭</a>") && html.contains(">Both</a>"),
        "{html}"
    );
    assert!(!html.contains(">天気</a>"), "{html}");
    let (_, html) = blog.page(&search_path("京北")).await;
    assert!(html.contains("Nothing found for “京北”"), "{html}");
}

pub async fn results_page_on_ten_at_a_time(db: Db) {
    let blog = spawn_blog(&db).await;
    for n in 1..=12 {
        blog.create_via_api(&format!("Bread {n:02}"), "sourdough starter")
            .await;
    }
    let (_, first) = blog.page(&search_path("sourdough")).await;
    assert_eq!(first.matches(r#"class="post-summary-title""#).count(), 10);
    let more = r#"<a class="pager-older" href="/search?q=sourdough&amp;page=2">More results →</a>"#;
    assert!(
        first.contains(more) || first.contains(&more.replace("&amp;", "&#38;")),
        "{first}"
    );
    let (status, second) = blog.page("/search?q=sourdough&page=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second.matches(r#"class="post-summary-title""#).count(), 2);
    assert!(!second.contains("More results →"), "{second}");
    assert!(second.contains("← Earlier results"), "{second}");
    assert!(
        second.contains("Results for “sourdough”, page 2"),
        "{second}"
    );
    // Between them, every post once.
    for n in 1..=12 {
        let title = format!(">Bread {n:02}</a>");
        assert_eq!(
            first.matches(&title).count() + second.matches(&title).count(),
            1,
            "{title}"
        );
    }
    let (status, third) = blog.page("/search?q=sourdough&page=3").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        third.contains("There are no more results for “sourdough”."),
        "{third}"
    );
}

pub async fn a_hostile_query_is_escaped(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.create_via_api("Alerts", "alert handling").await;
    for q in [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)> alert",
        "' onfocus='alert(1)' autofocus='",
        "</title><script>alert(1)</script>",
        "javascript:alert(1)",
    ] {
        let response = blog.get(&search_path(q)).await;
        assert_eq!(response.status(), StatusCode::OK, "{q}");
        assert!(
            response.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{q}"
        );
        let html = response.text().await.unwrap();
        // Quotes and angle brackets are escaped: what is left is text.
        for raw in ["<script>alert", "<img", "</title><script>"] {
            assert!(!html.contains(raw), "{q}: {raw} in {html}");
        }
        assert!(!html.contains("' onfocus='"), "{q}: {html}");
        assert_eq!(query_field(&html), q, "{q}: the field keeps the text");
    }
}

pub async fn searches_past_the_per_address_limit_are_429(db: Db) {
    let blog = spawn_blog_with(&db, |config| {
        config.search_per_minute = 3;
        config.page_cache_ttl_ms = 60_000;
        config.trusted_proxies = "127.0.0.1".into();
    })
    .await;
    blog.create_via_api("Kites", "kite flying").await;
    let from = |address: &'static str, q: &str| {
        blog.browser
            .client
            .get(blog.at(&search_path(q)))
            .header("x-forwarded-for", address)
    };
    for q in ["kite", "flying", "kite flying"] {
        let response = from("198.51.100.7", q).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{q}");
    }
    // A repeat from the cache, and a query with nothing to search, cost nothing.
    let repeat = from("198.51.100.7", "kite").send().await.unwrap();
    assert_eq!(repeat.status(), StatusCode::OK);
    assert_eq!(x_cache(&repeat), "hit");
    let short = from("198.51.100.7", "a to").send().await.unwrap();
    assert_eq!(short.status(), StatusCode::OK);

    let refused = from("198.51.100.7", "kites").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("Too many searches from your address. Please wait a minute and try again."),
        "{html}"
    );
    assert_eq!(query_field(&html), "kites", "the form keeps the query");

    // Another address is free.
    let other = from("203.0.113.9", "kites").send().await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(blog.metric("render_search_refusals_total").await, Some(1.0));
}

pub async fn anonymous_readers_share_search_results_and_signed_in_users_do_not(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.page_cache_ttl_ms = 60_000).await;
    blog.create_via_api("Cheese", "a cheddar to remember").await;
    let path = search_path("cheddar");
    let reader = blog.new_browser();
    let first = reader.get(&path).await;
    assert_eq!(x_cache(&first), "miss");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let other = blog.new_browser();
    let second = other.get(&path).await;
    assert_eq!(x_cache(&second), "hit");
    assert!(second.text().await.unwrap().contains(">Cheese</a>"));
    // Spelled with other spaces, it is the same query.
    let spaced = other.get("/search?q=++cheddar+").await;
    assert_eq!(x_cache(&spaced), "hit");
    assert_eq!(search_calls(&blog).await, 1.0, "one call for three readers");

    let revalidated = reader
        .client
        .get(reader.at(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    let head = blog.api.head(blog.browser.at(&path)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.unwrap().is_empty());

    // The admin's search is their own, rendered for them.
    blog.browser.login().await;
    let mine = blog.get(&path).await;
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(x_cache(&mine), "none");
    let html = mine.text().await.unwrap();
    assert!(
        html.contains(">Cheese</a>") && html.contains("Log out"),
        "{html}"
    );
    assert_eq!(search_calls(&blog).await, 2.0);
}

pub async fn search_is_busy_when_posts_service_cannot_answer_never_stale(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.page_cache_ttl_ms = 200).await;
    blog.create_via_api("Mushrooms", "chanterelle season").await;
    let path = search_path("chanterelle");
    let (status, html) = blog.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">Mushrooms</a>"), "{html}");

    blog.stop_posts_service().await;
    // Within the bound the shared copy may still be served; after it, "busy", never a
    // stale copy of the results.
    let started = Instant::now();
    let response = loop {
        let response = blog.new_browser().get(&path).await;
        assert_ne!(
            x_cache(&response),
            "stale",
            "results are never served stale"
        );
        if response.status() != StatusCode::OK {
            break response;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still served after the bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Search is busy right now. Please try again in a moment."),
        "{html}"
    );
    assert!(!html.contains(">Mushrooms</a>"), "{html}");
    assert_eq!(query_field(&html), "chanterelle");
    // A query never searched before: busy too; the form alone needs nobody.
    let (status, _) = blog.page(&search_path("morel")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = blog.page("/search").await;
    assert_eq!(status, StatusCode::OK);
}
