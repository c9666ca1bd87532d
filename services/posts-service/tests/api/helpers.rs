//! Starting the real posts-service against a fresh database, and a client for it.

use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use posts_service::{Application, Config};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;
use tokio::sync::oneshot;

/// The token every test server is configured with.
pub const TOKEN: &str = "test-token-for-writes";

/// A running posts-service and a client pointed at it.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// A plain client (no token attached by default).
    pub client: Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// A server over a fresh, empty database on the shared container.
    ///
    /// These servers check what is answered, not how fast: each database operation may
    /// take 10 s instead of the shipped 1.5 s, so a write's transaction that a busy
    /// two-core machine stalls is not a 503. The outage and resilience tests, which are
    /// about those bounds, configure their own.
    pub async fn spawn(db: &Db) -> TestApp {
        let database_url = db.fresh_database().await;
        let mut config = Config::new(database_url, TOKEN);
        config.db_timeout_ms = 10_000;
        Self::spawn_with(config).await
    }

    /// A server with the given configuration, once its database start-up (connect,
    /// migrate) has finished.
    pub async fn spawn_with(config: Config) -> TestApp {
        let app = Application::build(config)
            .await
            .expect("posts-service failed to start");
        tokio::time::timeout(Duration::from_secs(60), app.database().started())
            .await
            .expect("posts-service did not finish its database start-up within 60 s");
        Self::run(app)
    }

    /// A server with the given configuration, at once: its database may be away, come
    /// later, or never be migrated.
    pub async fn spawn_unready(config: Config) -> TestApp {
        let app = Application::build(config)
            .await
            .expect("posts-service failed to start");
        Self::run(app)
    }

    fn run(app: Application) -> TestApp {
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            metrics_addr,
            client: Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("cannot build an HTTP client"),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Asks the server to stop and waits until it has.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        if let Some(server) = self.server.take() {
            server.await.expect("server task panicked");
        }
    }

    /// Sends the shutdown signal without waiting (as SIGTERM would).
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether the server has finished shutting down.
    pub fn is_stopped(&self) -> bool {
        self.server
            .as_ref()
            .is_none_or(|server| server.is_finished())
    }

    /// The metrics listener's `/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_addr)
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `GET {path}` without the token.
    pub async fn fetch(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request failed")
    }

    /// `GET {path}` with the token.
    pub async fn fetch_with_token(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request failed")
    }

    /// The text of the metrics listener's `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.metrics_url())
            .send()
            .await
            .expect("request failed")
            .text()
            .await
            .expect("metrics text")
    }

    /// `POST /v1/posts` with the token.
    pub async fn create(&self, title: &str, body: &str) -> Response {
        self.client
            .post(self.url("/v1/posts"))
            .bearer_auth(TOKEN)
            .json(&json!({ "title": title, "body": body }))
            .send()
            .await
            .expect("request failed")
    }

    /// Creates a post and returns its JSON, asserting 201.
    pub async fn create_ok(&self, title: &str, body: &str) -> Value {
        let response = self.create(title, body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("post JSON")
    }

    /// Creates a post from this JSON (any of the input's fields) with the token,
    /// asserting 201; its JSON.
    pub async fn create_json_ok(&self, post: Value) -> Value {
        let response = self
            .client
            .post(self.url("/v1/posts"))
            .bearer_auth(TOKEN)
            .json(&post)
            .send()
            .await
            .expect("request failed");
        assert_eq!(response.status(), StatusCode::CREATED, "create {post}");
        response.json().await.expect("post JSON")
    }

    /// The JSON of `GET {path}`, with the token or without, asserting 200.
    pub async fn read_json(&self, path: &str, token: bool) -> Value {
        let response = if token {
            self.fetch_with_token(path).await
        } else {
            self.fetch(path).await
        };
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON")
    }

    /// `GET /v1/posts/{id}`.
    pub async fn get(&self, id: u64) -> Response {
        self.client
            .get(self.url(&format!("/v1/posts/{id}")))
            .send()
            .await
            .expect("request failed")
    }

    /// `PUT /v1/posts/{id}` with the token and the given `If-Match` (if any).
    pub async fn update(
        &self,
        id: u64,
        if_match: Option<&str>,
        title: &str,
        body: &str,
    ) -> Response {
        let mut request = self
            .client
            .put(self.url(&format!("/v1/posts/{id}")))
            .bearer_auth(TOKEN)
            .json(&json!({ "title": title, "body": body }));
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request.send().await.expect("request failed")
    }

    /// `DELETE /v1/posts/{id}` with the token and the given `If-Match` (if any).
    pub async fn delete(&self, id: u64, if_match: Option<&str>) -> Response {
        let mut request = self
            .client
            .delete(self.url(&format!("/v1/posts/{id}")))
            .bearer_auth(TOKEN);
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request.send().await.expect("request failed")
    }

    /// `GET /v1/posts` with a raw query string.
    pub async fn list(&self, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/v1/posts{query}")))
            .send()
            .await
            .expect("request failed")
    }
}

/// Asserts an RFC 9457 problem with this status and returns it.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = response.json().await.expect("problem JSON");
    assert_eq!(problem["status"], status.as_u16());
    for field in ["type", "title", "detail"] {
        assert!(
            problem[field].is_string(),
            "problem lacks {field}: {problem}"
        );
    }
    problem
}

/// The `posts-service` binary.
pub const BINARY: &str = env!("CARGO_BIN_EXE_posts-service");

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary on a free port with nothing in its environment but `DATABASE_URL`,
/// the test token, `LISTEN_ADDR` and `extra`, its stderr piped: the child and its
/// `http://127.0.0.1:port`.
pub fn spawn_binary(database_url: &str, extra: &[(&str, String)]) -> (Child, String) {
    let port = free_port();
    let child = Command::new(BINARY)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("API_TOKEN", TOKEN)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .envs(extra.iter().map(|(name, value)| (name, value)))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

/// Sends SIGTERM to `child` (spawned with its stderr piped), waits for it and asserts
/// that it exited cleanly; its stderr, to read to the end.
pub async fn stop_with_sigterm(mut child: Child) -> ChildStderr {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stderr = child.stderr.take().unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    stderr
}

/// The id of a post JSON.
pub fn id_of(post: &Value) -> u64 {
    post["id"].as_u64().expect("post has a numeric id")
}
