//! A real browser: headless Chromium, driven through chromedriver with fantoccini,
//! logs in, adds, edits and deletes a post, and leaves screenshots of the index (desktop
//! and phone width) in `artifacts/screenshots/` for people to look at.
//!
//! Needs `chromium` and `chromium-driver` (`services/render-service/tests/browser-deps.sh`).
//! It does not skip: without chromedriver it fails and says so.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use test_mariadb::harness::Db;

use crate::helpers::{spawn_blog, Blog, ADMIN_PASSWORD, ADMIN_USER};

const DEPS_HINT: &str =
    "run services/render-service/tests/browser-deps.sh to install chromium and chromium-driver";

/// chromedriver as a child process, stopped (by its pid) when dropped.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start() -> ChromeDriver {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let port = free_port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start `{binary}` ({err}): {DEPS_HINT}"));
        let driver = ChromeDriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 20 s: {DEPS_HINT}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn chromium_binary() -> Option<String> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Some(path);
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|path| Path::new(path).exists())
    .map(str::to_owned)
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots");
    std::fs::create_dir_all(&dir).expect("create artifacts/screenshots");
    dir
}

/// A headless Chromium session with its own chromedriver and profile, ended by
/// [`Chromium::close`] (the xss tests use it too).
pub struct Chromium {
    /// The WebDriver session.
    pub client: Client,
    driver: ChromeDriver,
    profile: PathBuf,
}

impl Chromium {
    /// Starts chromedriver and a headless Chromium session; `capabilities` are added to
    /// the session's (for example `unhandledPromptBehavior`).
    pub async fn start(capabilities: serde_json::Map<String, serde_json::Value>) -> Chromium {
        let driver = ChromeDriver::start();
        let profile = std::env::temp_dir().join(format!(
            "render-service-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&profile).expect("create a Chromium profile dir");

        let mut options = json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        if let Some(binary) = chromium_binary() {
            options["binary"] = json!(binary);
        }
        let mut all = capabilities;
        all.insert("browserName".to_owned(), json!("chrome"));
        all.insert("goog:chromeOptions".to_owned(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(all)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|err| panic!("cannot start a Chromium session ({err}): {DEPS_HINT}"));
        Chromium {
            client,
            driver,
            profile,
        }
    }

    /// Ends the session, chromedriver and the profile.
    pub async fn close(self) {
        let _ = self.client.close().await;
        drop(self.driver);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub async fn browser_adds_edits_and_deletes_a_post(db: Db) {
    let blog = spawn_blog(&db).await;
    let chromium = Chromium::start(serde_json::Map::new()).await;
    let outcome = std::panic::AssertUnwindSafe(drive(&chromium.client, &blog))
        .catch_unwind()
        .await;
    chromium.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

pub(crate) async fn find(client: &Client, css: &str) -> Element {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no `{css}` on the page: {err}"))
}

async fn text_of(client: &Client, css: &str) -> String {
    find(client, css).await.text().await.expect("element text")
}

pub(crate) async fn fill(client: &Client, css: &str, text: &str) {
    let field = find(client, css).await;
    field.clear().await.expect("clear a field");
    field.send_keys(text).await.expect("type into a field");
}

pub(crate) async fn click(client: &Client, css: &str) {
    find(client, css).await.click().await.expect("click");
}

async fn path(client: &Client) -> String {
    client
        .current_url()
        .await
        .expect("current url")
        .path()
        .to_owned()
}

/// Waits until the browser shows a page at `predicate`-matching path.
pub(crate) async fn wait_for_path(client: &Client, predicate: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let current = path(client).await;
        if predicate(&current) {
            return current;
        }
        assert!(Instant::now() < deadline, "still at {current}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let file = screenshot_dir().join(name);
    std::fs::write(&file, png).unwrap_or_else(|err| panic!("write {}: {err}", file.display()));
}

async fn drive(client: &Client, blog: &Blog) {
    client
        .set_window_size(1280, 1000)
        .await
        .expect("window size");

    // Log in through the form.
    client.goto(&blog.at("/login")).await.expect("open /login");
    fill(client, "#username", ADMIN_USER).await;
    fill(client, "#password", ADMIN_PASSWORD).await;
    click(client, "form.login-form button[type=submit]").await;
    wait_for_path(client, |p| p == "/").await;
    assert_eq!(text_of(client, ".flash").await, "You were logged in");

    // Add: first an empty title, which keeps the text and explains.
    click(client, "a[href='/add']").await;
    wait_for_path(client, |p| p == "/add").await;
    fill(client, "#body", "Typed in a *real* browser.").await;
    click(client, "form.post-form button[type=submit]").await;
    let error = text_of(client, "#title-error").await;
    assert!(error.contains("title"), "{error}");
    let kept = find(client, "#body").await.prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("Typed in a *real* browser."));
    save_screenshot(client, "editor-error.png").await;
    fill(client, "#title", "Hello from Chromium").await;
    click(client, "form.post-form button[type=submit]").await;
    let post_path = wait_for_path(client, |p| p.starts_with("/posts/")).await;
    assert_eq!(
        text_of(client, ".flash").await,
        "New entry was successfully posted"
    );
    assert_eq!(
        text_of(client, "h1.post-title").await,
        "Hello from Chromium"
    );
    assert_eq!(text_of(client, ".post-body em").await, "real");
    let slug = post_path.trim_start_matches("/posts/").to_owned();
    let id = blog.post_by_key(&slug).await["id"].as_u64().unwrap();

    // Edit.
    click(client, &format!("a[href='/edit/{id}']")).await;
    wait_for_path(client, |p| p.starts_with("/edit/")).await;
    fill(client, "#title", "Hello again from Chromium").await;
    fill(client, "#body", "Edited in a **real** browser.").await;
    click(client, "form.post-form button[type=submit]").await;
    wait_for_path(client, |p| p == post_path).await;
    assert_eq!(
        text_of(client, ".flash").await,
        "Entry was successfully updated"
    );
    assert_eq!(
        text_of(client, "h1.post-title").await,
        "Hello again from Chromium"
    );
    assert_eq!(text_of(client, ".post-body strong").await, "real");

    // Delete: the link only asks; the button deletes.
    click(client, &format!("a[href='/delete/{id}']")).await;
    wait_for_path(client, |p| p.starts_with("/delete/")).await;
    assert!(text_of(client, "h1").await.contains("Delete"));
    click(client, "form.confirm-form button[type=submit]").await;
    wait_for_path(client, |p| p == "/").await;
    assert_eq!(text_of(client, ".flash").await, "Entry was deleted");
    let (status, _) = blog.get_via_api(id).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);

    // Screenshots of a blog with a few posts, as a reader sees it.
    for (title, body) in [
        (
            "Welcome to the blog",
            "This is where we write about building small, sturdy web services in Rust.\n\nPosts are written in **Markdown** and rendered on the server.",
        ),
        (
            "Keyset pagination, explained",
            "OFFSET gets slower as the table grows. Paging by the last id seen keeps every page equally fast, whether it is the first or the thousandth. Here is how the posts API does it, and why the index links to `/?before=ID` instead of `/?page=N`.",
        ),
        (
            "Graceful shutdown with warp 0.4",
            concat!(
                "When Kubernetes sends SIGTERM, a server should stop accepting connections, ",
                "finish the requests it has, and exit. Here is the loop both services share.\n\n",
                "## The three steps\n\n",
                "1. Stop accepting: drop the listener.\n",
                "2. Drain: let in-flight requests finish, up to a timeout.\n",
                "3. Close the pools, then return from `main`.\n\n",
                "```rust\n",
                "app.run_until_stopped(shutdown::signal()).await;\n",
                "```\n\n",
                "> A pod that exits too early drops requests; one that never exits is killed.\n\n",
                "Read more in the [warp docs](https://docs.rs/warp).",
            ),
        ),
    ] {
        blog.create_via_api(title, body).await;
    }
    click(client, ".site-nav button.link-button").await;
    // The page was already `/` (the delete redirected there): wait for the new page,
    // recognisable by its login link, before reading its flash.
    find(client, ".site-nav a[href='/login']").await;
    assert_eq!(text_of(client, ".flash").await, "You were logged out");
    client.goto(&blog.url).await.expect("open /");
    find(client, ".post-list").await;
    save_screenshot(client, "index.png").await;
    let first = find(client, ".post-summary-title a").await;
    first.click().await.expect("open a post");
    wait_for_path(client, |p| p.starts_with("/posts/")).await;
    save_screenshot(client, "post.png").await;

    client
        .goto(&blog.at("/posts/999999"))
        .await
        .expect("open a missing post");
    find(client, ".error-page").await;
    save_screenshot(client, "not-found.png").await;

    client.set_window_size(390, 844).await.expect("phone size");
    client.goto(&blog.url).await.expect("open /");
    find(client, ".post-list").await;
    save_screenshot(client, "index-phone.png").await;
}

pub async fn browser_follows_tags_and_finds_posts_by_search(db: Db) {
    let blog = spawn_blog(&db).await;
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for post in [
        json!({"title": "Sourdough at home", "body": "A starter needs flour, water and patience.", "tags": ["Baking"]}),
        json!({"title": "Tomatoes in pots", "body": "Sun, water, and a deep pot.", "tags": ["Garden"]}),
        json!({"title": "Secret loaf", "body": "An unreleased patience recipe.", "tags": ["Baking"], "status": "draft"}),
        json!({"title": "Tomorrow's loaf", "body": "Patience until tomorrow.", "tags": ["Baking"], "published_at": tomorrow}),
    ] {
        blog.create_with_via_api(post).await;
    }
    let chromium = Chromium::start(serde_json::Map::new()).await;
    let outcome = std::panic::AssertUnwindSafe(discover(&chromium.client, &blog))
        .catch_unwind()
        .await;
    chromium.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The texts of every element matching `css`.
async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.expect("elements") {
        texts.push(element.text().await.expect("element text"));
    }
    texts
}

async fn discover(client: &Client, blog: &Blog) {
    // A tag link on the index leads to the tag's page: only its visible posts.
    client.goto(&blog.url).await.expect("open /");
    find(client, ".post-list").await;
    click(client, ".post-tags a[href='/tags/baking']").await;
    wait_for_path(client, |p| p == "/tags/baking").await;
    find(client, ".post-list").await;
    assert_eq!(
        texts(client, ".post-summary-title").await,
        ["Sourdough at home"]
    );

    // The search box in the header finds a post by a word of its body, and never the
    // draft or the scheduled post that have the same word.
    fill(client, "#site-search-q", "patience").await;
    find(client, "form.site-search #site-search-q")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("press Enter");
    wait_for_path(client, |p| p == "/search").await;
    find(client, ".post-list").await;
    assert_eq!(
        texts(client, ".post-summary-title").await,
        ["Sourdough at home"]
    );
    // The query stays in the form, and a result leads to its post.
    let kept = find(client, "#search-q").await.prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("patience"));
    click(client, ".post-summary-title a").await;
    wait_for_path(client, |p| p == "/posts/sourdough-at-home").await;

    // A word of the draft alone finds nothing, and says so.
    fill(client, "#site-search-q", "unreleased").await;
    find(client, "#site-search-q")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("press Enter");
    wait_for_path(client, |p| p == "/search").await;
    let nothing = find(client, ".empty-state").await.text().await.unwrap();
    assert!(nothing.contains("Nothing found"), "{nothing}");
}
