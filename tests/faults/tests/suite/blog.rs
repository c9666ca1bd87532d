//! The pieces scenarios assemble: posts-service behind a proxy to its database,
//! render-service behind a proxy to posts-service, and a client for posts-service's API.

use std::net::SocketAddr;
use std::time::Duration;

use fault_proxy::FaultProxy;
use fault_suite::database;
use fault_suite::services::API_TOKEN;
use fault_suite::{tls, Scenario, Service};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;

/// How long a service may take to start and turn ready on a busy machine.
pub const START_LIMIT: Duration = Duration::from_secs(30);

/// posts-service over a fresh database of the shared server, reached through a proxy
/// the scenario controls; started and ready.
pub async fn posts_behind_proxy(
    scenario: &Scenario,
    db: &Db,
    extra: &[(&str, &str)],
) -> (FaultProxy, Service) {
    let url = db.fresh_database().await;
    let server = SocketAddr::from(([127, 0, 0, 1], db.server().await.host_port()));
    let proxy = FaultProxy::start(server).await.expect("a proxy");
    let mut posts = scenario.posts_service(&database::url_via(&url, proxy.local_addr()), extra);
    posts.wait_for("/readyz", StatusCode::OK, START_LIMIT).await;
    (proxy, posts)
}

/// posts-service straight over a fresh database of the shared server; started and ready.
pub async fn posts_direct(scenario: &Scenario, db: &Db, extra: &[(&str, &str)]) -> Service {
    let url = db.fresh_database().await;
    let mut posts = scenario.posts_service(&url, extra);
    posts.wait_for("/readyz", StatusCode::OK, START_LIMIT).await;
    posts
}

/// render-service in front of `posts`, through a proxy the scenario controls; started
/// and serving (its `/healthz`).
pub async fn render_behind_proxy(
    scenario: &Scenario,
    posts: &Service,
    extra: &[(&str, &str)],
) -> (FaultProxy, Service) {
    let proxy = FaultProxy::start(posts.addr).await.expect("a proxy");
    let mut render = scenario.render_service(&format!("https://{}", proxy.local_addr()), extra);
    render
        .wait_for("/healthz", StatusCode::OK, START_LIMIT)
        .await;
    (proxy, render)
}

/// A client for posts-service's JSON API at `base`.
#[derive(Clone)]
pub struct Api {
    /// The client (its timeout is the one given to [`Api::new`]).
    pub client: Client,
    /// `https://host:port`.
    pub base: String,
}

impl Api {
    /// A client whose requests give up after `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Api {
        Api {
            client: tls::client()
                .timeout(timeout)
                .build()
                .expect("an HTTP client"),
            base: base.to_owned(),
        }
    }

    /// `POST /v1/posts`.
    pub async fn create(&self, title: &str, body: &str) -> reqwest::Result<Response> {
        self.client
            .post(format!("{}/v1/posts", self.base))
            .bearer_auth(API_TOKEN)
            .json(&json!({ "title": title, "body": body }))
            .send()
            .await
    }

    /// Creates a post, asserting 201; its JSON.
    pub async fn create_ok(&self, title: &str, body: &str) -> Value {
        let response = self
            .create(title, body)
            .await
            .expect("posts-service answers");
        assert_eq!(response.status(), StatusCode::CREATED, "create {title}");
        response.json().await.expect("a post")
    }

    /// `GET /v1/posts/{id}`.
    pub async fn get(&self, id: u64) -> reqwest::Result<Response> {
        self.client
            .get(format!("{}/v1/posts/{id}", self.base))
            .send()
            .await
    }

    /// `PUT /v1/posts/{id}` at `version`.
    pub async fn update(
        &self,
        id: u64,
        version: u64,
        title: &str,
        body: &str,
    ) -> reqwest::Result<Response> {
        self.client
            .put(format!("{}/v1/posts/{id}", self.base))
            .bearer_auth(API_TOKEN)
            .header("if-match", format!("\"{version}\""))
            .json(&json!({ "title": title, "body": body }))
            .send()
            .await
    }

    /// Every post, newest first, page by page; `None` if a page fails.
    pub async fn all_posts(&self) -> Option<Vec<Value>> {
        let mut posts = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            let mut url = format!("{}/v1/posts?limit=100", self.base);
            if let Some(id) = before {
                url.push_str(&format!("&before={id}"));
            }
            let response = self.client.get(url).send().await.ok()?;
            if response.status() != StatusCode::OK {
                return None;
            }
            let page: Value = response.json().await.ok()?;
            posts.extend(page["posts"].as_array()?.iter().cloned());
            match page["next_before"].as_u64() {
                Some(id) => before = Some(id),
                None => return Some(posts),
            }
        }
    }

    /// How many posts carry `title`.
    pub async fn count_titled(&self, title: &str) -> usize {
        self.all_posts()
            .await
            .expect("posts-service lists its posts")
            .iter()
            .filter(|post| post["title"] == title)
            .count()
    }
}

/// The id of a post's JSON.
pub fn id_of(post: &Value) -> u64 {
    post["id"].as_u64().expect("a post has a numeric id")
}

/// The slug of a post as the API answers it: its page is `/posts/{slug}`.
pub fn slug_of(post: &Value) -> &str {
    post["slug"].as_str().expect("a post has a slug")
}

/// Collects what went wrong in a scenario, so that it prints every figure before it
/// fails, and fails naming every broken promise at once.
#[derive(Default)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records `message` unless `holds`.
    pub fn check(&mut self, holds: bool, message: impl FnOnce() -> String) {
        if !holds {
            self.0.push(message());
        }
    }

    /// Panics with every recorded problem, if any.
    pub fn assert_none(self, scenario: &Scenario) {
        assert!(
            self.0.is_empty(),
            "{}: {} broken promise(s):\n  - {}",
            scenario.name(),
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}
