//! `GET /v1/search`: visible posts matching a reader's words, over MariaDB's full-text
//! index, whatever the input; and the search rows of posts written before search.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::helpers::{assert_problem, id_of, TestApp, TOKEN};

/// The search page for `q` (and `page`), which must be a 200.
async fn search(app: &TestApp, q: &str, page: Option<u32>) -> Value {
    let mut url = reqwest::Url::parse(&app.url("/v1/search")).unwrap();
    url.query_pairs_mut().append_pair("q", q);
    if let Some(page) = page {
        url.query_pairs_mut().append_pair("page", &page.to_string());
    }
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "q={q:?}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn titles(page: &Value) -> Vec<&str> {
    page["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|post| post["title"].as_str().unwrap())
        .collect()
}

/// The corpus: English, German, Chinese and Japanese posts, and the ones readers must
/// never find.
async fn corpus(app: &TestApp) {
    let tomorrow = (OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&Rfc3339)
        .unwrap();
    for post in [
        json!({"title": "Ownership in Rust", "body": "The borrow checker keeps **memory** safe."}),
        json!({"title": "Gardening notes", "body": "Tomatoes need sun. Rust on tools is bad."}),
        json!({"title": "Grüße aus Köln", "body": "Der Dom, die Brücke und das Kölsch."}),
        json!({"title": "北京旅行", "body": "我们在北京看了长城，天气很好。"}),
        json!({"title": "東京の天気", "body": "今日は東京の天気が良いです。"}),
        json!({"title": "Secret draft", "body": "Unreleased zeppelin plans.", "status": "draft"}),
        json!({"title": "Scheduled", "body": "Zeppelin launch tomorrow.", "published_at": tomorrow}),
    ] {
        app.create_json_ok(post).await;
    }
}

pub async fn words_find_visible_posts_best_first(db: Db) {
    let app = TestApp::spawn(&db).await;
    corpus(&app).await;

    let rust = search(&app, "rust", None).await;
    // The title match ranks first; both are found; the query is echoed as read.
    assert_eq!(titles(&rust), ["Ownership in Rust", "Gardening notes"]);
    assert_eq!(rust["terms"], json!(["rust"]));
    assert_eq!(rust["page"], 1);
    assert_eq!(rust["has_more"], false);
    // Summaries: no body, no html; a teaser and the slug.
    let first = &rust["posts"][0];
    assert!(
        first.get("body").is_none() && first.get("html").is_none(),
        "{first}"
    );
    assert_eq!(first["slug"], "ownership-in-rust");
    assert!(first["excerpt"]
        .as_str()
        .unwrap()
        .starts_with("The borrow checker"));

    // Every word is required; case and markup do not matter.
    assert_eq!(
        titles(&search(&app, "MEMORY rust", None).await),
        ["Ownership in Rust"]
    );
    assert_eq!(
        titles(&search(&app, "memory tomatoes", None).await),
        Vec::<&str>::new()
    );

    // German: umlauts are part of their word, in any case.
    assert_eq!(
        titles(&search(&app, "köln", None).await),
        ["Grüße aus Köln"]
    );
    assert_eq!(
        titles(&search(&app, "KÖLSCH", None).await),
        ["Grüße aus Köln"]
    );
    assert_eq!(
        titles(&search(&app, "Brücke", None).await),
        ["Grüße aus Köln"]
    );

    // Chinese and Japanese have no spaces: a phrase inside a sentence is found, and
    // only where it appears whole.
    assert_eq!(titles(&search(&app, "长城", None).await), ["北京旅行"]);
    assert_eq!(titles(&search(&app, "北京", None).await), ["北京旅行"]);
    assert_eq!(
        titles(&search(&app, "東京の天気", None).await),
        ["東京の天気"]
    );
    assert_eq!(
        titles(&search(&app, "天気が良い", None).await),
        ["東京の天気"]
    );
    assert_eq!(
        titles(&search(&app, "京北", None).await),
        Vec::<&str>::new()
    );
    // Mixed with a word.
    assert_eq!(
        titles(&search(&app, "天気 rust", None).await),
        Vec::<&str>::new()
    );

    // Drafts and scheduled posts are never found, token or not.
    assert_eq!(
        titles(&search(&app, "zeppelin", None).await),
        Vec::<&str>::new()
    );
    let with_token = app.fetch_with_token("/v1/search?q=zeppelin").await;
    let with_token: Value = with_token.json().await.unwrap();
    assert_eq!(titles(&with_token), Vec::<&str>::new());
}

pub async fn short_words_stopwords_and_operators_never_reach_sql(db: Db) {
    let app = TestApp::spawn(&db).await;
    corpus(&app).await;

    // Too short or too common to be indexed: said, and nothing searched.
    let nothing = search(&app, "a to of the", None).await;
    assert_eq!(nothing["terms"], json!([]));
    assert_eq!(nothing["ignored"], json!(["a", "to", "of", "the"]));
    assert_eq!(nothing["posts"], json!([]));
    // Set aside beside a real word, which is still searched.
    let mixed = search(&app, "the rust", None).await;
    assert_eq!(mixed["ignored"], json!(["the"]));
    assert_eq!(titles(&mixed).len(), 2);

    // Every boolean-mode operator, and SQL, as input: a 200, read as words.
    for q in [
        "+rust",
        "-rust",
        "rust*",
        "\"rust\"",
        "~rust",
        "(rust)",
        "<rust",
        ">rust",
        "@rust",
        "rust @8",
        "+-*~()<>@\"",
        "\"unbalanced",
        "rust' OR 1=1 --",
        "%_\\",
        "🦀 rust 🦀",
        "*",
        "@",
        "()",
    ] {
        let page = search(&app, q, None).await;
        let found = titles(&page);
        if page["terms"] == json!(["rust"]) {
            assert_eq!(found.len(), 2, "{q:?}: {page}");
        } else {
            assert!(found.is_empty(), "{q:?}: {page}");
        }
    }
    // The longest query there is, and emoji alone.
    let longest: String = "ß".repeat(1000);
    search(&app, &longest, None).await;
    search(&app, "🦀🦀🦀", None).await;
    // Over the limit, empty, or a page out of range: a 400 naming the parameter.
    for bad in [
        format!("/v1/search?q={}", "x".repeat(1001)),
        "/v1/search?q=%20%20".to_owned(),
        "/v1/search".to_owned(),
        "/v1/search?q=rust&page=0".to_owned(),
        "/v1/search?q=rust&page=51".to_owned(),
    ] {
        let problem = assert_problem(app.fetch(&bad).await, StatusCode::BAD_REQUEST).await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("q ") || detail.starts_with("page "),
            "{bad}: {detail}"
        );
    }
}

pub async fn results_come_in_pages_and_follow_edits_and_deletes(db: Db) {
    let app = TestApp::spawn(&db).await;
    let mut ids = Vec::new();
    for n in 0..23 {
        let post = app
            .create_json_ok(json!({"title": format!("Walrus {n}"), "body": "About walruses."}))
            .await;
        ids.push(id_of(&post));
    }
    let mut seen = Vec::new();
    for page in 1..=3 {
        let results = search(&app, "walrus", Some(page)).await;
        assert_eq!(results["has_more"], page < 3, "page {page}");
        seen.extend(titles(&results).into_iter().map(str::to_owned));
    }
    assert_eq!(seen.len(), 23);
    // Equal relevance: newest first.
    assert_eq!(seen[0], "Walrus 22");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 23, "every post once");

    // An edit is searched by its new words at once; a deleted post is gone.
    let response = app.update(ids[0], Some("*"), "Narwhal", "Tusks.").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(titles(&search(&app, "narwhal", None).await), ["Narwhal"]);
    assert_eq!(
        titles(&search(&app, "walrus", Some(3)).await),
        ["Walrus 2", "Walrus 1"]
    );
    let response = app.delete(ids[0], None).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        titles(&search(&app, "tusks", None).await),
        Vec::<&str>::new()
    );
}

pub async fn a_busy_search_is_a_503_never_a_wait_without_end(db: Db) {
    use mysql_async::prelude::Queryable;
    // One turn. A search holds it while its table is locked; a second one waits half
    // the time limit for a turn, then is told to come back.
    let database_url = db.fresh_database().await;
    let mut config = posts_service::Config::new(database_url.clone(), TOKEN);
    config.search_concurrency = 1;
    config.search_timeout_ms = 8_000;
    config.db_timeout_ms = 30_000;
    let app = TestApp::spawn_with(config).await;
    app.create_json_ok(json!({"title": "Busy bees", "body": "Buzzing."}))
        .await;
    let pool = mysql_async::Pool::new(database_url.as_str());
    let mut locker = pool.get_conn().await.unwrap();
    locker
        .query_drop("LOCK TABLES post_search WRITE")
        .await
        .unwrap();
    let first = tokio::spawn(reqwest::get(app.url("/v1/search?q=bees")));
    let mut watcher = pool.get_conn().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: u64 = watcher
            .query_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE INFO LIKE '%post_search s%' AND STATE LIKE '%lock%'",
            )
            .await
            .unwrap()
            .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first search never reached its table"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let second = app.fetch("/v1/search?q=bees").await;
    let waited = started.elapsed();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.headers()["retry-after"], "1");
    let problem: Value = second.json().await.unwrap();
    assert_eq!(problem["detail"], "Search is busy; try again shortly.");
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(8),
        "waited {waited:?} for a turn"
    );
    // The first search goes on once its table is free, and takes the turn back.
    locker.query_drop("UNLOCK TABLES").await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(titles(&search(&app, "bees", None).await), ["Busy bees"]);
}

pub async fn posts_written_before_search_are_indexed_in_the_background(db: Db) {
    use mysql_async::prelude::Queryable;
    let database_url = db.fresh_database().await;
    let app = TestApp::spawn_with(posts_service::Config::new(database_url.clone(), TOKEN)).await;
    for n in 0..30 {
        app.create_json_ok(json!({"title": format!("Old post {n}"), "body": "Ancient lore."}))
            .await;
    }
    app.stop().await;
    // As the previous release left them: no searchable rows.
    let pool = mysql_async::Pool::new(database_url.as_str());
    let mut conn = pool.get_conn().await.unwrap();
    conn.query_drop("DELETE FROM post_search").await.unwrap();

    let app = TestApp::spawn_with(posts_service::Config::new(database_url, TOKEN)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = search(&app, "ancient lore", Some(3)).await;
        if titles(&found).len() == 10 {
            break;
        }
        assert!(Instant::now() < deadline, "not indexed in time: {found}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let indexed: u64 = conn
        .query_first("SELECT COUNT(*) FROM post_search")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(indexed, 30);
    assert!(app
        .metrics()
        .await
        .contains("posts_search_indexed_total 30"));
}

pub async fn fuzzed_queries_never_fail_or_leak_sql(db: Db) {
    let app = TestApp::spawn(&db).await;
    corpus(&app).await;
    // Queries made of the pieces that trip full-text search and SQL: operators,
    // quotes, wildcards, escapes, stopwords, short and long words, scripts written
    // without spaces, emoji, control characters.
    let long = "x".repeat(90);
    let pieces: Vec<&str> = vec![
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
        "'",
        "`",
        "%",
        "_",
        "\\",
        ";",
        "--",
        "/*",
        "*/",
        " ",
        "  ",
        "\t",
        "\n",
        "\u{0}",
        "\u{7f}",
        "the",
        "a",
        "of",
        "rust",
        "RUST",
        "memory",
        "köln",
        "ß",
        "北京",
        "東京の",
        "天気",
        "🦀",
        "é",
        "e\u{301}",
        "OR 1=1",
        "UNION SELECT",
        "MATCH",
        "AGAINST",
        "IN BOOLEAN MODE",
        "\u{202e}",
        &long,
        "\u{fffd}",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    for _ in 0..400 {
        let count = 1 + next(12);
        let q: String = (0..count).map(|_| pieces[next(pieces.len())]).collect();
        let mut url = reqwest::Url::parse(&app.url("/v1/search")).unwrap();
        url.query_pairs_mut().append_pair("q", &q);
        let response = reqwest::get(url).await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        if q.trim().is_empty() {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{q:?}: {body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{q:?}: {body}");
        }
        let lower = body.to_lowercase();
        for leak in [
            "syntax",
            "sqlstate",
            "mariadb",
            "post_search",
            "server version",
        ] {
            assert!(!lower.contains(leak), "{q:?} answered {body}");
        }
    }
}
