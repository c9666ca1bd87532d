//! The XSS corpus (`crates/post-render/tests/xss-corpus.txt`, OWASP filter-evasion families plus Markdown)
//! in a real browser: every payload goes in as a post's title, body and a tag through the
//! admin form, then headless Chromium loads the index, the feed, each post page, each
//! edit form and a search for the payload (`/search?q=<payload>`, whose results list the
//! payloads' posts). A payload counts as executed if it opens a dialog, sets the
//! `window.xssHit` marker, puts the marker into `document.title` or navigates the
//! page away; a page that still carries an event handler, a script or a script URL
//! (which would run on a click) counts as armed. Both must be zero.
//!
//! The corpus runs twice: with the Content-Security-Policy as served, and through a
//! proxy in this test that strips it, so that the sanitiser and the escaping, not the
//! CSP, are what stop every payload. Before the corpus, the proxy's control pages
//! (which do run script) show that each detector fires.

use std::time::Instant;

use bytes::Bytes;
use fantoccini::Client;
use futures_util::FutureExt;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use tokio::net::TcpListener;
use warp::Filter;

use crate::browser::{click, fill, find, wait_for_path, Chromium};
use crate::helpers::{spawn_blog_with, Blog, ADMIN_PASSWORD, ADMIN_USER};

/// Posts created and checked together: one index page and within the feed's 20.
const BATCH: usize = 10;

/// What a page load showed.
#[derive(Default)]
struct Findings {
    /// Dialogs, markers, navigation: script ran.
    executed: Vec<String>,
    /// Live event handlers, scripts or script URLs in the page.
    armed: Vec<String>,
}

impl Findings {
    fn is_clean(&self) -> bool {
        self.executed.is_empty() && self.armed.is_empty()
    }
}

/// Run in the page after load: the markers a payload would set and any markup that
/// would run script on interaction. The blog's own pages run no script at all: their one
/// script element is the post page's JSON-LD in the head (data, never run), and the
/// only script-capable URL of the template is the empty `data:,` favicon.
const CHECK_SCRIPT: &str = r#"
const armed = [];
const jsonLd = (el) => el.parentElement === document.head && el.attributes.length === 1 &&
  el.getAttribute('type') === 'application/ld+json';
const urlAttributes = ['href', 'src', 'action', 'formaction', 'xlink:href', 'data',
  'background', 'lowsrc', 'dynsrc', 'poster', 'codebase', 'cite', 'srcset'];
for (const el of document.getElementsByTagName('*')) {
  const tag = el.tagName.toLowerCase();
  if (tag === 'script' && jsonLd(el)) {
    continue;
  }
  if (['script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base'].includes(tag)) {
    armed.push('<' + tag + '> element');
  }
  if (tag === 'meta' && el.hasAttribute('http-equiv')) {
    armed.push('<meta http-equiv> element');
  }
  for (const attribute of el.attributes) {
    const name = attribute.name.toLowerCase();
    const value = attribute.value.replace(/[\u0000-\u0020]/g, '').toLowerCase();
    if (name.startsWith('on')) {
      armed.push('<' + tag + '> has ' + name);
    }
    if (name === 'srcdoc') {
      armed.push('<' + tag + '> has srcdoc');
    }
    const favicon = tag === 'link' && el.getAttribute('rel') === 'icon' && attribute.value === 'data:,';
    if (urlAttributes.includes(name) && /^(javascript|vbscript|data):/.test(value) && !favicon) {
      armed.push('<' + tag + '> ' + name + '=' + attribute.value.slice(0, 60));
    }
  }
}
return {
  marker: window.xssHit === 1,
  title: String(document.title).includes('XSS' + 'HIT'),
  url: String(location.href),
  armed: armed,
};
"#;

/// Lets timers, focus, media errors and animations fire before the check.
const SETTLE_SCRIPT: &str = "const done = arguments[arguments.length - 1]; setTimeout(done, 120);";

/// The payloads of `crates/post-render/tests/xss-corpus.txt`, escapes resolved.
pub fn corpus() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../crates/post-render/tests/xss-corpus.txt"
    );
    let text = std::fs::read_to_string(path).expect("the XSS corpus is readable");
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("//"))
        .map(unescape)
        .collect()
}

/// `\n`, `\t` and `\\` in a corpus line; any other backslash stays as it is.
fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('n') => {
                    out.push('\n');
                    chars.next();
                    continue;
                }
                Some('t') => {
                    out.push('\t');
                    chars.next();
                    continue;
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// A payload as a title: one line, no control characters, at most 128 characters.
fn title_of(payload: &str, index: usize) -> String {
    let flat: String = payload
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title: String = flat.trim().chars().take(128).collect();
    let title = title.trim().to_owned();
    if title.is_empty() {
        format!("payload {index}")
    } else {
        title
    }
}

/// The payload as one tag (the post page and the edit form show tags): no commas or
/// control characters, at most 32 characters.
fn tag_of(payload: &str, index: usize) -> String {
    let flat: String = payload
        .chars()
        .map(|c| if c.is_control() || c == ',' { ' ' } else { c })
        .collect();
    let tag: String = flat.trim().chars().take(32).collect();
    let tag = tag.trim().to_owned();
    if tag.is_empty() {
        format!("tag {index}")
    } else {
        tag
    }
}

pub async fn xss_corpus_runs_nowhere_with_csp(db: Db) {
    run_corpus(db, false).await;
}

pub async fn xss_corpus_runs_nowhere_without_csp(db: Db) {
    run_corpus(db, true).await;
}

async fn run_corpus(db: Db, strip_csp: bool) {
    let payloads = corpus();
    assert!(
        payloads.len() >= 100,
        "the corpus has {} payloads",
        payloads.len()
    );
    for payload in &payloads {
        // The document.title detector looks for this; a payload must only build it.
        assert!(!payload.contains("XSSHIT"), "{payload}");
    }
    // Without the page cache every load shows the batch just written; every payload is
    // searched for, more than SEARCH_PER_MINUTE allows by default.
    let blog = spawn_blog_with(&db, |config| {
        config.page_cache_ttl_ms = 0;
        config.search_per_minute = 60_000;
    })
    .await;
    let proxy = spawn_proxy(blog.url.clone(), strip_csp).await;
    blog.login().await;

    let csp = reqwest::get(format!("{proxy}/login"))
        .await
        .expect("the proxy answers")
        .headers()
        .contains_key("content-security-policy");
    assert_eq!(csp, !strip_csp, "the proxy keeps or strips the CSP");

    let mut capabilities = serde_json::Map::new();
    // Dialogs stay open until the test looks for them.
    capabilities.insert("unhandledPromptBehavior".to_owned(), json!("ignore"));
    let chromium = Chromium::start(capabilities).await;
    let outcome = std::panic::AssertUnwindSafe(drive(&chromium.client, &blog, &proxy, &payloads))
        .catch_unwind()
        .await;
    chromium.close().await;
    match outcome {
        Ok(report) => {
            let label = if strip_csp {
                "CSP stripped by the test's proxy"
            } else {
                "CSP as served"
            };
            println!(
                "xss corpus ({label}): {} payloads, {} page loads in {:.1} s: {} executed, {} armed",
                payloads.len(),
                report.loads,
                report.seconds,
                report.executed.len(),
                report.armed.len()
            );
            assert!(
                report.executed.is_empty() && report.armed.is_empty(),
                "{label}: executed {:#?}\narmed {:#?}",
                report.executed,
                report.armed
            );
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

struct Report {
    loads: usize,
    seconds: f64,
    executed: Vec<String>,
    armed: Vec<String>,
}

async fn drive(client: &Client, blog: &Blog, proxy: &str, payloads: &[String]) -> Report {
    // The detectors work: each control page runs script in one way.
    for (kind, expect_executed) in [
        ("dialog", true),
        ("marker", true),
        ("title", true),
        ("navigate", true),
        ("armed", false),
        ("clean", false),
    ] {
        let url = format!("{proxy}/__xss-control/{kind}");
        let found = visit(client, &url).await;
        if kind == "clean" {
            assert!(
                found.is_clean(),
                "{kind}: {:?} {:?}",
                found.executed,
                found.armed
            );
        } else if expect_executed {
            assert!(
                !found.executed.is_empty(),
                "control {kind} was not detected"
            );
        } else {
            assert!(!found.armed.is_empty(), "control {kind} was not detected");
        }
    }

    // The browser logs in through the form, as the admin whose pages show most.
    client
        .goto(&format!("{proxy}/login"))
        .await
        .expect("open /login");
    fill(client, "#username", ADMIN_USER).await;
    fill(client, "#password", ADMIN_PASSWORD).await;
    click(client, "form.login-form button[type=submit]").await;
    wait_for_path(client, |p| p == "/").await;
    find(client, "a[href='/add']").await;

    let started = Instant::now();
    let mut report = Report {
        loads: 0,
        seconds: 0.0,
        executed: Vec::new(),
        armed: Vec::new(),
    };
    for (batch_number, batch) in payloads.chunks(BATCH).enumerate() {
        let mut ids = Vec::new();
        for (offset, payload) in batch.iter().enumerate() {
            let index = batch_number * BATCH + offset;
            let tags = tag_of(payload, index);
            let id = blog
                .add_post_with(&title_of(payload, index), payload, &[("tags", &tags)])
                .await;
            ids.push((id, index));
        }
        let batch_names = format!(
            "payloads {}..={}",
            batch_number * BATCH,
            batch_number * BATCH + batch.len() - 1
        );
        let mut pages = vec![
            ("/".to_owned(), batch_names.clone()),
            ("/feed.xml".to_owned(), batch_names),
        ];
        for (id, index) in &ids {
            let which = format!("payload {index} {:?}", payloads[*index]);
            pages.push((blog.post_path(*id).await, which.clone()));
            pages.push((format!("/edit/{id}"), which.clone()));
            let query =
                serde_urlencoded::to_string([("q", &payloads[*index])]).expect("a query encodes");
            pages.push((format!("/search?{query}"), which));
        }
        for (path, which) in pages {
            let found = visit(client, &format!("{proxy}{path}")).await;
            report.loads += 1;
            for what in found.executed {
                report.executed.push(format!("{path} ({which}): {what}"));
            }
            for what in found.armed {
                report.armed.push(format!("{path} ({which}): {what}"));
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report
}

/// Loads `url`, waits for late events, and reports what ran or could run.
async fn visit(client: &Client, url: &str) -> Findings {
    let mut found = Findings::default();
    if let Err(err) = client.goto(url).await {
        assert!(err.is_unexpected_alert_open(), "cannot load {url}: {err}");
    }
    let _ = client.execute_async(SETTLE_SCRIPT, vec![]).await;
    for _ in 0..10 {
        while let Ok(text) = client.get_alert_text().await {
            found.executed.push(format!("dialog {text:?}"));
            let _ = client.dismiss_alert().await;
            if found.executed.len() > 20 {
                break;
            }
        }
        match client.execute(CHECK_SCRIPT, vec![]).await {
            Ok(result) => {
                record(&mut found, url, &result);
                return found;
            }
            Err(err) if err.is_unexpected_alert_open() => continue,
            Err(err) => panic!("cannot inspect {url}: {err}"),
        }
    }
    // Script that keeps opening dialogs: note it and leave the page.
    found.executed.push("dialogs kept opening".to_owned());
    for _ in 0..50 {
        let _ = client.dismiss_alert().await;
        if client.goto("about:blank").await.is_ok() {
            break;
        }
    }
    found
}

fn record(found: &mut Findings, url: &str, result: &Value) {
    if result["marker"] == true {
        found.executed.push("window.xssHit was set".to_owned());
    }
    if result["title"] == true {
        found
            .executed
            .push("document.title carries the marker".to_owned());
    }
    let now = result["url"].as_str().unwrap_or_default();
    if now != url {
        found.executed.push(format!("navigated to {now}"));
    }
    for what in result["armed"].as_array().into_iter().flatten() {
        found
            .armed
            .push(what.as_str().unwrap_or_default().to_owned());
    }
}

/// Pages that do run script, served by the proxy (never by render-service), to show
/// that each detector fires.
fn control_page(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "dialog" => "<!doctype html><title>c</title><img src=x onerror=alert(1)>",
        "marker" => "<!doctype html><title>c</title><script>window.xssHit=1</script>",
        "title" => "<!doctype html><title>c</title><script>document.title='XSS'+'HIT'</script>",
        "navigate" => {
            "<!doctype html><title>c</title><script>history.replaceState(null,'','/elsewhere')</script>"
        }
        "armed" => "<!doctype html><title>c</title><a href=\"javascript:void(0)\">x</a>",
        "clean" => "<!doctype html><title>c</title><p>nothing runs here</p>",
        _ => return None,
    })
}

/// A reverse proxy in front of render-service that can strip the CSP header, so that
/// production code needs no switch to turn it off. Returns its base URL.
async fn spawn_proxy(upstream: String, strip_csp: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let url = format!("http://{}", listener.local_addr().expect("proxy address"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("proxy client");
    let route = warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  body: Bytes| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move {
                    if let Some(kind) = path.as_str().strip_prefix("/__xss-control/") {
                        let page = control_page(kind).unwrap_or("<!doctype html>unknown control");
                        let mut response = warp::reply::Response::new(page.into());
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("text/html; charset=utf-8"),
                        );
                        return response;
                    }
                    forward(
                        &client,
                        &upstream,
                        method,
                        path.as_str(),
                        &query,
                        headers,
                        body,
                        strip_csp,
                    )
                    .await
                }
            },
        );
    tokio::spawn(warp::serve(route).incoming(listener).run());
    url
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    method: Method,
    path: &str,
    query: &str,
    headers: HeaderMap,
    body: Bytes,
    strip_csp: bool,
) -> warp::reply::Response {
    let mut target = format!("{upstream}{path}");
    if !query.is_empty() {
        target.push('?');
        target.push_str(query);
    }
    let mut request = client.request(method, target).body(body);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            request = request.header(name, value);
        }
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(err) => {
            let mut response = warp::reply::Response::new(format!("proxy: {err}").into());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            return response;
        }
    };
    let status = answer.status();
    let mut answer_headers = answer.headers().clone();
    answer_headers.remove("transfer-encoding");
    answer_headers.remove("connection");
    answer_headers.remove("content-length");
    if strip_csp {
        answer_headers.remove("content-security-policy");
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = warp::reply::Response::new(bytes.into());
    *response.status_mut() = status;
    *response.headers_mut() = answer_headers;
    response
}
