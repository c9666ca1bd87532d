//! Starting the real thing: a posts-service on a fresh database and a render-service in
//! front of it, both on random local ports, and a "browser" (reqwest with a cookie jar
//! that does not follow redirects, so tests can assert them).

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use tokio::task::JoinHandle;

use crate::proxy::Proxy;

pub const API_TOKEN: &str = "test-api-token";
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const SESSION_SECRET: &str = "integration-test-session-secret-0123456789";

/// A running blog: posts-service + render-service.
pub struct Blog {
    /// render-service's base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// posts-service's base URL.
    pub api_url: String,
    /// render-service's `/metrics`, on its own listener.
    pub metrics_url: String,
    /// A browser-like client with a cookie jar; redirects are not followed.
    pub browser: Browser,
    /// A plain client for posts-service's API.
    pub api: reqwest::Client,
    posts_task: JoinHandle<()>,
    render_task: JoinHandle<()>,
}

impl Blog {
    /// Takes posts-service away (its listener closes), leaving render-service running.
    pub async fn stop_posts_service(&self) {
        self.posts_task.abort();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for Blog {
    fn drop(&mut self) {
        self.render_task.abort();
        self.posts_task.abort();
    }
}

/// Starts posts-service on a fresh database.
///
/// Its database operations may take 2.5 s instead of the shipped 1.5 s: a write's
/// transaction stalled by a busy two-core machine is not a 503, and posts-service still
/// answers within render-service's 3 s before render-service gives up on it. No test
/// here stalls the database itself (the resilience tests freeze posts-service).
pub async fn spawn_posts_service(db: &Db) -> (SocketAddr, JoinHandle<()>) {
    let database_url = db.fresh_database().await;
    let mut config = posts_service::Config::new(database_url, API_TOKEN);
    config.db_timeout_ms = 2_500;
    let app = posts_service::Application::build(config)
        .await
        .expect("posts-service starts");
    let addr = app.local_addr();
    let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    wait_until_ready(addr).await;
    (addr, task)
}

/// Waits for posts-service's `/readyz` (it may start before its database is migrated).
pub async fn wait_until_ready(addr: SocketAddr) {
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        let ready = client
            .get(format!("http://{addr}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|response| response.status() == StatusCode::OK);
        if ready {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "posts-service never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The configuration tests run render-service with, in front of `posts_url`.
pub fn render_config(posts_url: &str) -> render_service::Config {
    render_service::Config::new(
        posts_url,
        API_TOKEN,
        ADMIN_USER,
        ADMIN_PASSWORD,
        SESSION_SECRET,
    )
}

/// Starts render-service with `config`; returns its base URL.
pub async fn spawn_render_service(config: render_service::Config) -> (String, JoinHandle<()>) {
    let (url, _metrics_url, task) = spawn_render_service_with_metrics(config).await;
    (url, task)
}

/// Starts render-service with `config`; returns its base URL and its `/metrics` URL.
pub async fn spawn_render_service_with_metrics(
    config: render_service::Config,
) -> (String, String, JoinHandle<()>) {
    let app = render_service::Application::build(config)
        .await
        .expect("render-service starts");
    let url = format!("http://{}", app.local_addr());
    let metrics_url = format!("http://{}/metrics", app.metrics_addr());
    let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    (url, metrics_url, task)
}

/// Both services, wired together.
pub async fn spawn_blog(db: &Db) -> Blog {
    spawn_blog_with(db, |_| {}).await
}

/// Both services, with render-service's configuration adjusted by `adjust`.
pub async fn spawn_blog_with(db: &Db, adjust: impl FnOnce(&mut render_service::Config)) -> Blog {
    let (posts_addr, posts_task) = spawn_posts_service(db).await;
    assemble(posts_addr, posts_task, None, adjust).await
}

/// Both services with a [`Proxy`] between them (render-service → proxy →
/// posts-service), so a test can freeze posts-service as render-service sees it; the
/// test's own API calls (`create_via_api`, …) go straight to posts-service.
pub async fn spawn_blog_behind_proxy(
    db: &Db,
    adjust: impl FnOnce(&mut render_service::Config),
) -> (Blog, Proxy) {
    let (posts_addr, posts_task) = spawn_posts_service(db).await;
    let proxy = Proxy::start(posts_addr).await;
    let blog = assemble(posts_addr, posts_task, Some(proxy.addr), adjust).await;
    (blog, proxy)
}

async fn assemble(
    posts_addr: SocketAddr,
    posts_task: JoinHandle<()>,
    via: Option<SocketAddr>,
    adjust: impl FnOnce(&mut render_service::Config),
) -> Blog {
    let api_url = format!("http://{posts_addr}");
    let mut config = render_config(&format!("http://{}", via.unwrap_or(posts_addr)));
    adjust(&mut config);
    let (url, metrics_url, render_task) = spawn_render_service_with_metrics(config).await;
    Blog {
        url: url.clone(),
        metrics_url,
        api_url: api_url.clone(),
        browser: Browser {
            url,
            api_url: api_url.clone(),
            client: browser(),
        },
        api: reqwest::Client::new(),
        posts_task,
        render_task,
    }
}

/// A client that keeps cookies and shows redirects instead of following them.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("reqwest client builds")
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    listener.local_addr().expect("local addr").port()
}

/// One browser (cookie jar) on the blog.
pub struct Browser {
    url: String,
    /// posts-service's base URL, to look posts up.
    api_url: String,
    /// The underlying client, for requests the helpers do not cover.
    pub client: reqwest::Client,
}

impl Browser {
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// GET a page with the browser.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.at(path))
            .send()
            .await
            .expect("render-service answers")
    }

    /// GET a page; its status and HTML.
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.expect("a body"))
    }

    /// POST a form with the browser.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.at(path))
            .form(fields)
            .send()
            .await
            .expect("render-service answers")
    }

    /// The CSRF token in the form on `path`.
    pub async fn csrf_token(&self, path: &str) -> String {
        let (status, html) = self.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        csrf_token(&html)
    }

    /// Submits the login form with the admin's user name and password; the answer.
    pub async fn submit_login(&self) -> Response {
        let token = self.csrf_token("/login").await;
        self.post_form(
            "/login",
            &[
                ("username", ADMIN_USER),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &token),
                ("next", "/"),
            ],
        )
        .await
    }

    /// Logs the browser in as the admin.
    pub async fn login(&self) {
        let response = self.submit_login().await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "login redirects");
        assert_eq!(location(&response), "/");
    }

    /// Submits the add form with `csrf_token` (taken from a page the browser was shown);
    /// the answer.
    pub async fn submit_add(&self, title: &str, body: &str, csrf_token: &str) -> Response {
        self.post_form(
            "/add",
            &[("title", title), ("body", body), ("csrf_token", csrf_token)],
        )
        .await
    }

    /// Submits the edit form of post `id` with `csrf_token` (taken from a page the
    /// browser was shown) and the `version` it was loaded with; the answer.
    pub async fn submit_edit(
        &self,
        id: u64,
        title: &str,
        body: &str,
        version: &str,
        csrf_token: &str,
    ) -> Response {
        self.post_form(
            &format!("/edit/{id}"),
            &[
                ("title", title),
                ("body", body),
                ("version", version),
                ("csrf_token", csrf_token),
            ],
        )
        .await
    }

    /// Adds a post through the pages (logged in); returns its id. The add form
    /// redirects to `/posts/{slug}`; the id is asked of posts-service by that slug.
    pub async fn add_post(&self, title: &str, body: &str) -> u64 {
        self.add_post_with(title, body, &[]).await
    }

    /// Adds a post through the pages (logged in) with more form fields (`tags`, …);
    /// returns its id.
    pub async fn add_post_with(&self, title: &str, body: &str, more: &[(&str, &str)]) -> u64 {
        let token = self.csrf_token("/add").await;
        let mut fields = vec![("title", title), ("body", body), ("csrf_token", &token)];
        fields.extend_from_slice(more);
        let response = self.post_form("/add", &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = location(&response);
        let slug = location
            .strip_prefix("/posts/")
            .unwrap_or_else(|| panic!("add redirects to the post, not {location}"));
        self.post_by_key(slug).await["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no post at {location}"))
    }
}

impl Browser {
    /// Any post (drafts too) from posts-service by id or slug, with the API token.
    pub async fn post_by_key(&self, key: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/posts/{key}", self.api_url))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("posts-service answers");
        assert_eq!(response.status(), StatusCode::OK, "post {key}");
        response.json().await.expect("a post")
    }
}

impl std::ops::Deref for Blog {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

impl Blog {
    /// Another browser, with its own cookies.
    pub fn new_browser(&self) -> Browser {
        Browser {
            url: self.url.clone(),
            api_url: self.api_url.clone(),
            client: browser(),
        }
    }

    /// Creates a post directly in posts-service; returns its JSON.
    pub async fn create_via_api(&self, title: &str, body: &str) -> Value {
        let response = self
            .api
            .post(format!("{}/v1/posts", self.api_url))
            .bearer_auth(API_TOKEN)
            .json(&json!({ "title": title, "body": body }))
            .send()
            .await
            .expect("posts-service answers");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("a post")
    }

    /// Creates a post directly in posts-service; returns its id.
    pub async fn create_id_via_api(&self, title: &str, body: &str) -> u64 {
        self.create_via_api(title, body).await["id"]
            .as_u64()
            .expect("an id")
    }

    /// Deletes a post directly in posts-service (as another replica would); the status.
    pub async fn delete_via_api(&self, id: u64) -> StatusCode {
        self.api
            .delete(format!("{}/v1/posts/{id}", self.api_url))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("posts-service answers")
            .status()
    }

    /// Reads a post from posts-service: its status and JSON.
    pub async fn get_via_api(&self, id: u64) -> (StatusCode, Value) {
        let response = self
            .api
            .get(format!("{}/v1/posts/{id}", self.api_url))
            .send()
            .await
            .expect("posts-service answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Replaces a post in posts-service at `version`.
    pub async fn update_via_api(&self, id: u64, version: u32, title: &str, body: &str) -> Value {
        let response = self
            .api
            .put(format!("{}/v1/posts/{id}", self.api_url))
            .bearer_auth(API_TOKEN)
            .header("if-match", posts_api::etag::of(version))
            .json(&json!({ "title": title, "body": body }))
            .send()
            .await
            .expect("posts-service answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a post")
    }
}

impl Blog {
    /// The path of post `id`'s page, `/posts/{slug}`, as posts-service says it now.
    pub async fn post_path(&self, id: u64) -> String {
        let post = self.post_by_key(&id.to_string()).await;
        format!("/posts/{}", post["slug"].as_str().expect("a slug"))
    }

    /// Creates a post directly in posts-service from `fields` (title, body, slug,
    /// status, …); returns its JSON.
    pub async fn create_with_via_api(&self, fields: Value) -> Value {
        let response = self
            .api
            .post(format!("{}/v1/posts", self.api_url))
            .bearer_auth(API_TOKEN)
            .json(&fields)
            .send()
            .await
            .expect("posts-service answers");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("a post")
    }

    /// Changes fields of post `id` in posts-service (title and body are sent as they
    /// are; other absent fields are kept).
    pub async fn patch_via_api(&self, id: u64, fields: Value) -> Value {
        let current = self.post_by_key(&id.to_string()).await;
        let version = current["version"].as_u64().expect("a version") as u32;
        let mut body = json!({"title": current["title"], "body": current["body"]});
        for (name, value) in fields.as_object().expect("fields") {
            body[name] = value.clone();
        }
        let response = self
            .api
            .put(format!("{}/v1/posts/{id}", self.api_url))
            .bearer_auth(API_TOKEN)
            .header("if-match", posts_api::etag::of(version))
            .json(&body)
            .send()
            .await
            .expect("posts-service answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a post")
    }
}

impl Blog {
    /// render-service's metrics text.
    pub async fn metrics(&self) -> String {
        self.api
            .get(&self.metrics_url)
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text")
    }

    /// The value of the first metrics line that starts with `series` (name and labels).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics().await, series)
    }
}

/// The value of the first line of `metrics` that starts with `series`.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// The value of the first `csrf_token` field in a page.
pub fn csrf_token(html: &str) -> String {
    hidden_field(html, "csrf_token").unwrap_or_else(|| panic!("no csrf_token in {html}"))
}

/// The value of a hidden input called `name`.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The `Location` of a redirect.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `X-Cache` header of a response (`hit`, `miss`, `stale`), `none` without one.
pub fn x_cache(response: &Response) -> String {
    response
        .headers()
        .get("x-cache")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none")
        .to_owned()
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// The text of the page's flash message, if any.
pub fn flash(html: &str) -> Option<String> {
    let start = html.find(r#"<p class="flash" role="status">"#)?;
    let rest = &html[start..];
    let open_end = rest.find('>')? + 1;
    let close = rest.find("</p>")?;
    Some(rest[open_end..close].trim().to_owned())
}

/// Undoes askama's HTML escaping, for comparing text.
pub fn unescape(html: &str) -> String {
    html.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}

/// What xmllint says is wrong with `xml` against `schema` (`schema_flag` is `--schema`
/// for an XSD, `--relaxng` for a RELAX NG grammar), if anything. xmllint comes from
/// tests/xmllint-deps.sh, which the test command runs.
pub fn xmllint_errors(schema_flag: &str, schema: &str, xml: &str) -> Option<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut xmllint = Command::new("xmllint")
        .args(["--noout", schema_flag, schema, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xmllint runs (services/render-service/tests/xmllint-deps.sh installs it)");
    let mut stdin = xmllint.stdin.take().unwrap();
    stdin.write_all(xml.as_bytes()).unwrap();
    drop(stdin);
    let outcome = xmllint.wait_with_output().unwrap();
    (!outcome.status.success()).then(|| String::from_utf8_lossy(&outcome.stderr).into_owned())
}
