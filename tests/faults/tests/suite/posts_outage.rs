//! posts-service blackholed (the proxy holds every byte), frozen (SIGSTOP) or refusing
//! (the proxy is down): once render-service's circuit breaker is open
//! (`render_circuit_state` 1), pages it has a good copy of come stale
//! (`X-Cache: stale`) with p99 ≤ 100 ms, a page it has none of is the 503 page within
//! the upstream timeout, and its `/readyz` stays 200 all along, so Kubernetes keeps
//! sending readers to it. When the fault ends, pages are fresh again.

use std::time::{Duration, Instant};

use fault_proxy::{Fault, FaultProxy};
use fault_suite::measure::{figure, ms, within, Latencies};
use fault_suite::{tls, Scenario, Service};
use reqwest::{Client, StatusCode};
use test_mariadb::harness::Db;

use crate::blog::{posts_direct, render_behind_proxy, slug_of, Api, Problems};

/// render-service's upstream timeout in these scenarios (`POSTS_REQUEST_TIMEOUT_MS`).
const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(2000);
/// How long a rendered page is fresh (`PAGE_CACHE_TTL_MS`).
const PAGE_TTL: Duration = Duration::from_millis(1000);
/// The promise for stale pages once the breaker is open.
const STALE_P99: Duration = Duration::from_millis(100);
/// Stale pages asked for, one after another, for the percentiles.
const SAMPLES: usize = 200;
/// The most time spent sampling (200 fast answers take about a second).
const SAMPLING_LIMIT: Duration = Duration::from_secs(8);
/// How long the breaker may take to open while readers keep asking.
const BREAKER_LIMIT: Duration = Duration::from_secs(12);

/// How posts-service is taken away.
#[derive(Clone, Copy)]
enum Outage {
    Blackholed,
    Frozen,
    Refusing,
}

impl Outage {
    fn describe(self) -> &'static str {
        match self {
            Outage::Blackholed => "posts-service blackholed",
            Outage::Frozen => "posts-service frozen (SIGSTOP)",
            Outage::Refusing => "posts-service refusing connections",
        }
    }

    fn begin(self, proxy: &FaultProxy, posts: &Service) {
        match self {
            Outage::Blackholed => proxy.set_fault(Fault::Blackhole { close_after: None }),
            Outage::Frozen => posts.signal("STOP"),
            Outage::Refusing => proxy.set_fault(Fault::Down),
        }
    }

    fn end(self, proxy: &FaultProxy, posts: &Service) {
        match self {
            Outage::Frozen => posts.signal("CONT"),
            Outage::Blackholed | Outage::Refusing => proxy.clear(),
        }
    }
}

/// A reader: no cookies, redirects shown.
fn reader() -> Client {
    tls::client()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// One page: status, `X-Cache`, body, time taken; `None` for no answer at all.
async fn fetch(
    client: &Client,
    render: &Service,
    path: &str,
) -> (Option<(StatusCode, String, String)>, Duration) {
    let started = Instant::now();
    let answer = match client.get(render.at(path)).send().await {
        Ok(response) => {
            let status = response.status();
            let cache = response
                .headers()
                .get("x-cache")
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            response.text().await.ok().map(|body| (status, cache, body))
        }
        Err(_) => None,
    };
    (answer, started.elapsed())
}

async fn readyz(client: &Client, render: &Service) -> Option<StatusCode> {
    client
        .get(render.at("/readyz"))
        .send()
        .await
        .ok()
        .map(|response| response.status())
}

async fn cached_pages_are_served_stale_while(outage: Outage, db: Db, name: &'static str) {
    let scenario = Scenario::new(name);
    let posts = posts_direct(&scenario, &db, &[]).await;
    let timeout = UPSTREAM_TIMEOUT.as_millis().to_string();
    let ttl = PAGE_TTL.as_millis().to_string();
    let (proxy, render) = render_behind_proxy(
        &scenario,
        &posts,
        &[
            ("POSTS_REQUEST_TIMEOUT_MS", timeout.as_str()),
            ("PAGE_CACHE_TTL_MS", ttl.as_str()),
        ],
    )
    .await;
    let api = Api::new(&posts.url, Duration::from_secs(5));
    // Each post's page, by its slug (`/posts/{id}` only redirects there).
    let mut pages = Vec::new();
    for n in 1..=4 {
        let post = api
            .create_ok(&format!("post {n}"), "Some *Markdown*.")
            .await;
        pages.push(format!("/posts/{}", slug_of(&post)));
    }
    let client = reader();
    // Three posts, the index and the feed get a good copy; the fourth post never does.
    let cached: Vec<String> = pages[..3]
        .iter()
        .cloned()
        .chain(["/".to_owned(), "/feed.xml".to_owned()])
        .collect();
    let uncached = pages[3].clone();
    for path in &cached {
        let (answer, _) = fetch(&client, &render, path).await;
        assert!(
            matches!(&answer, Some((StatusCode::OK, _, _))),
            "{path} before the outage: {answer:?}"
        );
    }

    let warmed = Instant::now();
    let mut problems = Problems::default();
    let mut not_ready = Vec::new();
    outage.begin(&proxy, &posts);

    // Readers keep coming (four at a time) until the breaker opens.
    let opened = within(BREAKER_LIMIT, Duration::from_millis(1), || async {
        let asks: Vec<_> = cached
            .iter()
            .take(4)
            .map(|path| {
                let (client, url) = (client.clone(), render.at(path));
                tokio::spawn(async move { client.get(url).send().await.map(|_| ()) })
            })
            .collect();
        for ask in asks {
            let _ = ask.await;
        }
        render.metric("render_circuit_state").await == Some(1.0)
    })
    .await;
    let breaker = render.metric("render_circuit_state").await;
    not_ready.extend(
        readyz(&client, &render)
            .await
            .filter(|s| *s != StatusCode::OK),
    );

    // Past the copies' freshness, so that what comes is the last good copy, not a hit.
    tokio::time::sleep(
        (warmed + PAGE_TTL + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    // Then one reader after another, over the pages with a good copy.
    let mut stale = Latencies::default();
    let mut not_stale = Vec::new();
    let sampling = Instant::now();
    for n in 0..SAMPLES {
        if sampling.elapsed() > SAMPLING_LIMIT {
            // Not fast: enough samples to show it, without waiting out 200 timeouts.
            break;
        }
        let path = &cached[n % cached.len()];
        let (answer, took) = fetch(&client, &render, path).await;
        stale.push(took);
        match answer {
            Some((StatusCode::OK, cache, _)) if cache == "stale" => {}
            Some((status, cache, _)) => not_stale.push(format!("{path}: {status} X-Cache {cache}")),
            None => not_stale.push(format!("{path}: no answer")),
        }
    }
    let (uncached_answer, uncached_took) = fetch(&client, &render, &uncached).await;
    let ready_during = readyz(&client, &render).await;
    not_ready.extend(ready_during.filter(|s| *s != StatusCode::OK));
    let health = client
        .get(render.at("/healthz"))
        .send()
        .await
        .map(|r| r.status())
        .ok();

    outage.end(&proxy, &posts);
    let fresh_again = within(
        Duration::from_secs(15),
        Duration::from_millis(50),
        || async {
            let (answer, _) = fetch(&client, &render, &cached[0]).await;
            matches!(answer, Some((StatusCode::OK, cache, _)) if cache != "stale")
        },
    )
    .await;

    not_stale.dedup();
    figure(
        name,
        format!(
            "{}: breaker open after {}; stale pages {}; page without a copy: {} in {}; render /readyz during the outage: {:?}; fresh pages again {} after the fault ended",
            outage.describe(),
            opened.map_or(format!("never ({} s)", BREAKER_LIMIT.as_secs()), ms),
            stale.summary(),
            uncached_answer.as_ref().map_or("no answer".to_owned(), |(s, _, _)| s.to_string()),
            ms(uncached_took),
            ready_during,
            fresh_again.map_or("never (15 s)".to_owned(), ms),
        ),
    );
    problems.check(opened.is_some(), || {
        format!(
            "render_circuit_state never became 1 within {BREAKER_LIMIT:?} of the outage \
             (last value: {breaker:?}, None = not exported)"
        )
    });
    problems.check(not_stale.is_empty(), || {
        format!("pages with a good copy not served stale: {not_stale:?}")
    });
    problems.check(stale.percentile(99.0) <= STALE_P99, || {
        format!(
            "stale pages p99 {} > {}",
            ms(stale.percentile(99.0)),
            ms(STALE_P99)
        )
    });
    problems.check(
        matches!(&uncached_answer, Some((StatusCode::SERVICE_UNAVAILABLE, _, body)) if body.contains("taking a short break")),
        || format!("{uncached} (no good copy) answered {uncached_answer:?}, not the 503 page"),
    );
    problems.check(
        uncached_took <= UPSTREAM_TIMEOUT + Duration::from_millis(250),
        || {
            format!(
                "{uncached} took {}, more than the upstream timeout",
                ms(uncached_took)
            )
        },
    );
    problems.check(not_ready.is_empty(), || {
        format!("render-service /readyz during the outage: {not_ready:?}")
    });
    problems.check(health == Some(StatusCode::OK), || {
        format!("render-service /healthz during the outage: {health:?}")
    });
    problems.check(fresh_again.is_some(), || {
        "pages were not fresh again within 15 s of the fault ending".to_owned()
    });
    problems.assert_none(&scenario);
}

pub async fn blackholed_posts_service_gives_stale_pages_fast(db: Db) {
    cached_pages_are_served_stale_while(Outage::Blackholed, db, "posts-service-blackholed").await;
}

pub async fn frozen_posts_service_gives_stale_pages_fast(db: Db) {
    cached_pages_are_served_stale_while(Outage::Frozen, db, "posts-service-frozen").await;
}

pub async fn refusing_posts_service_gives_stale_pages_fast(db: Db) {
    cached_pages_are_served_stale_while(Outage::Refusing, db, "posts-service-refusing").await;
}
