//! Creates that may be repeated make one post: a client retrying, with the same
//! `Idempotency-Key`, a create whose answer it never got (the proxy delays the answer
//! past the client's timeout), and an admin double-submitting the add form.

use std::time::Duration;

use fault_proxy::{Direction, Fault, FaultProxy};
use fault_suite::measure::{figure, ms, timed, within};
use fault_suite::services::{ADMIN_PASSWORD, ADMIN_USER, API_TOKEN};
use fault_suite::{tls, Scenario};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::blog::{posts_direct, Api, Problems, START_LIMIT};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

async fn create_with_key(
    client: &Client,
    base: &str,
    key: &str,
    title: &str,
    body: &str,
) -> reqwest::Result<Response> {
    client
        .post(format!("{base}/v1/posts"))
        .bearer_auth(API_TOKEN)
        .header("Idempotency-Key", key)
        .json(&json!({ "title": title, "body": body }))
        .send()
        .await
}

pub async fn a_create_retried_after_a_timeout_makes_one_post(db: Db) {
    let scenario = Scenario::new("idempotent-retry");
    let posts = posts_direct(&scenario, &db, &[]).await;
    let proxy = FaultProxy::start(posts.addr).await.expect("a proxy");
    let via_proxy = format!("https://{}", proxy.local_addr());
    let api = Api::new(&posts.url, Duration::from_secs(5));
    let client = tls::client()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("an HTTP client");
    let key = "fault-suite-7d4b0c1e-retry";
    let title = "created once, asked twice";
    let body = "The answer to the first attempt was lost.";

    // The client's connection is open, its TLS handshake done, before the fault: the
    // create's request reaches posts-service at once, only its answer is late.
    let warm_up = client
        .get(format!("{via_proxy}/healthz"))
        .send()
        .await
        .expect("posts-service answers through the proxy");
    assert_eq!(warm_up.status(), StatusCode::OK);
    // Read to its end, so that the connection goes back to the client's pool.
    warm_up.bytes().await.expect("the health answer's body");
    // The answer is held past the client's patience; the create itself goes through.
    proxy.set_fault(Fault::Latency {
        direction: Direction::Downstream,
        delay: CLIENT_TIMEOUT * 3,
        jitter: Duration::ZERO,
    });
    let (first, first_took) = timed(create_with_key(&client, &via_proxy, key, title, body)).await;
    let first_timed_out = first.as_ref().err().is_some_and(reqwest::Error::is_timeout);
    let committed = within(
        Duration::from_secs(5),
        Duration::from_millis(50),
        || async { api.count_titled(title).await == 1 },
    )
    .await;
    proxy.clear();

    let retry = create_with_key(&client, &via_proxy, key, title, body)
        .await
        .expect("the retry is answered");
    let retry_status = retry.status();
    let replayed = retry
        .headers()
        .get("idempotent-replayed")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let retry_post: Value = retry.json().await.unwrap_or(Value::Null);
    let stored: Vec<Value> = api
        .all_posts()
        .await
        .expect("posts-service lists its posts")
        .into_iter()
        .filter(|post| post["title"] == title)
        .collect();
    let other_body = create_with_key(&client, &via_proxy, key, title, "another body")
        .await
        .map(|response| response.status())
        .ok();
    let after_other = api.count_titled(title).await;

    figure(
        scenario.name(),
        format!(
            "create timed out at the client after {} (timed out: {first_timed_out}), committed: {}; \
             retry with the same key: {retry_status}, Idempotent-Replayed: {replayed:?}, id {}; \
             posts with that title: {}; same key, other body: {other_body:?}",
            ms(first_took),
            committed.is_some(),
            retry_post["id"],
            stored.len()
        ),
    );
    let mut problems = Problems::default();
    problems.check(first_timed_out && committed.is_some(), || {
        format!("the setup failed: first attempt {first:?}, committed {committed:?}")
    });
    problems.check(retry_status == StatusCode::CREATED, || {
        format!("the retry answered {retry_status}, not the first result (201)")
    });
    problems.check(replayed.as_deref() == Some("true"), || {
        format!("the retry's Idempotent-Replayed is {replayed:?}")
    });
    problems.check(stored.len() == 1, || {
        format!("{} posts were made: {stored:?}", stored.len())
    });
    problems.check(
        stored.len() == 1 && retry_post["id"] == stored[0]["id"],
        || {
            format!(
                "the retry answered post {}, not the one made",
                retry_post["id"]
            )
        },
    );
    problems.check(other_body == Some(StatusCode::UNPROCESSABLE_ENTITY), || {
        format!("the same key with another body answered {other_body:?}, not 422")
    });
    problems.check(after_other == 1, || {
        format!("the same key with another body made a post: {after_other} now")
    });
    problems.assert_none(&scenario);
}

/// A browser: cookies kept, redirects shown.
fn browser() -> Client {
    tls::client()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client")
}

/// The hidden fields of the form with class `class` in `html`, as the browser would
/// send them back.
fn hidden_fields(html: &str, class: &str) -> Vec<(String, String)> {
    let marker = format!("class=\"{class}\"");
    let Some(start) = html.find(&marker) else {
        return Vec::new();
    };
    let form = &html[start..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    form.split("<input")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            if !tag.contains("type=\"hidden\"") {
                return None;
            }
            Some((attribute(tag, "name")?, unescape(&attribute(tag, "value")?)))
        })
        .collect()
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_owned())
}

fn unescape(html: &str) -> String {
    html.replace("&#43;", "+")
        .replace("&#61;", "=")
        .replace("&#47;", "/")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

async fn submit(browser: &Client, url: String, fields: &[(String, String)]) -> Response {
    let body = serde_urlencoded::to_string(fields).expect("form fields encode");
    browser
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("render-service answers")
}

fn answer(response: &Response) -> String {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    format!("{} {location}", response.status().as_u16())
}

pub async fn a_double_submitted_add_form_makes_one_post(db: Db) {
    let scenario = Scenario::new("idempotent-form");
    let posts = posts_direct(&scenario, &db, &[]).await;
    let mut render = scenario.render_service(&posts.url, &[]);
    render
        .wait_for("/healthz", StatusCode::OK, START_LIMIT)
        .await;
    let api = Api::new(&posts.url, Duration::from_secs(5));
    let browser = browser();

    let login = browser
        .get(render.at("/login"))
        .send()
        .await
        .expect("the login page")
        .text()
        .await
        .expect("its HTML");
    // The login form's own hidden fields (its CSRF token, where to go next), then ours.
    let mut login_form = hidden_fields(&login, "login-form");
    login_form.push(("username".to_owned(), ADMIN_USER.to_owned()));
    login_form.push(("password".to_owned(), ADMIN_PASSWORD.to_owned()));
    let logged_in = submit(&browser, render.at("/login"), &login_form).await;
    assert_eq!(
        logged_in.status(),
        StatusCode::SEE_OTHER,
        "the admin logs in: {}",
        answer(&logged_in)
    );

    let form = browser
        .get(render.at("/add"))
        .send()
        .await
        .expect("the add form")
        .text()
        .await
        .expect("its HTML");
    let title = "submitted twice by an impatient admin";
    let mut fields = hidden_fields(&form, "post-form");
    assert!(
        fields.iter().any(|(name, _)| name == "csrf_token"),
        "the add form carries a CSRF token: {fields:?}"
    );
    let hidden: Vec<String> = fields.iter().map(|(name, _)| name.clone()).collect();
    fields.push(("title".to_owned(), title.to_owned()));
    fields.push(("body".to_owned(), "Clicked *Save* twice.".to_owned()));

    // A double click: the second submit leaves while the first is on its way.
    let (first, second) = tokio::join!(
        submit(&browser, render.at("/add"), &fields),
        submit(&browser, render.at("/add"), &fields)
    );
    let after_double = api.count_titled(title).await;
    // And once more after both answered, as a browser resubmitting the page would.
    let third = submit(&browser, render.at("/add"), &fields).await;
    let stored = api.count_titled(title).await;

    let answers = [answer(&first), answer(&second), answer(&third)];
    figure(
        scenario.name(),
        format!(
            "add form (hidden fields {hidden:?}) submitted twice at once, then again: answers {answers:?}; \
             posts made: {after_double} after the double submit, {stored} after the third"
        ),
    );
    let mut problems = Problems::default();
    problems.check(after_double == 1 && stored == 1, || {
        format!("{stored} posts were made ({after_double} by the double submit), not 1")
    });
    problems.check(
        answers
            .iter()
            .any(|answer| answer.starts_with("303 /posts/")),
        || format!("no submit was answered with the new post: {answers:?}"),
    );
    problems.check(
        answers.iter().all(|answer| !answer.starts_with('5')),
        || format!("a submit failed: {answers:?}"),
    );
    problems.assert_none(&scenario);
}
