//! Holds the running server to `openapi.yaml`: every documented (operation, status) is
//! produced here, and each response's status, content type, required headers and body
//! schema must be what the document says. A status the server sends that the document
//! does not list fails, and so does a documented one this test cannot produce.

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::helpers::{id_of, TestApp, TOKEN};

type Operation = (String, String, u16);

struct Contract {
    document: Value,
    exercised: BTreeSet<Operation>,
}

impl Contract {
    fn load() -> Contract {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("openapi.yaml is readable");
        let document: Value = serde_yaml::from_str(&text).expect("openapi.yaml is valid YAML");
        assert!(document["openapi"].as_str().unwrap().starts_with("3."));
        Contract {
            document,
            exercised: BTreeSet::new(),
        }
    }

    fn documented(&self) -> BTreeSet<Operation> {
        let mut operations = BTreeSet::new();
        for (path, item) in self.document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if method == "parameters" {
                    continue;
                }
                for status in operation["responses"].as_object().unwrap().keys() {
                    operations.insert((path.clone(), method.clone(), status.parse().unwrap()));
                }
            }
        }
        operations
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => self
                .document
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {reference}")),
            None => value,
        }
    }

    fn schema_validator(&self, schema: &Value) -> jsonschema::Validator {
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.document["components"].clone(),
        });
        for (key, value) in schema.as_object().unwrap() {
            root[key] = value.clone();
        }
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .expect("schema compiles")
    }

    /// Sends `request` and checks the response against `path` + `method`.
    async fn exercise(&mut self, path: &str, method: &str, request: RequestBuilder) {
        let response = request.send().await.expect("the server answers");
        self.check(path, method, response).await;
    }

    /// Sends each of `requests` in turn, checking every response against `path` +
    /// `method`.
    async fn exercise_each(
        &mut self,
        path: &str,
        method: &str,
        requests: impl IntoIterator<Item = RequestBuilder>,
    ) {
        for request in requests {
            self.exercise(path, method, request).await;
        }
    }

    /// Checks `response` against the document's entry for `path` + `method`.
    async fn check(&mut self, path: &str, method: &str, response: Response) {
        let status = response.status().as_u16();
        let context = format!("{} {path} -> {status}", method.to_uppercase());
        let operation = &self.document["paths"][path][method];
        assert!(operation.is_object(), "{context}: operation not documented");
        let documented = operation["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{context}: status not documented"));
        let documented = self.resolve(documented).clone();

        if let Some(headers) = documented["headers"].as_object() {
            for (name, header) in headers {
                let header = self.resolve(header);
                let value = response.headers().get(name.as_str());
                if header["required"] == true {
                    let value = value
                        .unwrap_or_else(|| panic!("{context}: header {name} missing"))
                        .to_str()
                        .unwrap();
                    let validator = self.schema_validator(&header["schema"]);
                    assert!(
                        validator.is_valid(&json!(value)),
                        "{context}: header {name}: {value:?} does not match its schema"
                    );
                }
            }
        }

        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
        let body = response.bytes().await.expect("body");
        match documented["content"].as_object() {
            None => assert!(body.is_empty(), "{context}: body should be empty"),
            Some(content) => {
                let content_type =
                    content_type.unwrap_or_else(|| panic!("{context}: no content type"));
                let media = content.get(&content_type).unwrap_or_else(|| {
                    panic!("{context}: content type {content_type} not documented")
                });
                if content_type.ends_with("json") {
                    let value: Value = serde_json::from_slice(&body)
                        .unwrap_or_else(|_| panic!("{context}: body is not JSON"));
                    let validator = self.schema_validator(&media["schema"]);
                    let errors: Vec<String> = validator
                        .iter_errors(&value)
                        .map(|e| e.to_string())
                        .collect();
                    assert!(errors.is_empty(), "{context}: {errors:?} in {value}");
                }
            }
        }
        self.exercised
            .insert((path.to_owned(), method.to_owned(), status));
    }
}

fn with_token(request: RequestBuilder) -> RequestBuilder {
    request.bearer_auth(TOKEN)
}

pub async fn server_conforms_to_openapi_document(db: Db) {
    let mut spec = Contract::load();
    let app = TestApp::spawn(&db).await;
    // A server whose database does not exist: everything that needs it is a 503.
    let mut dead_config = posts_service::Config::new("mysql://root@127.0.0.1:9/none", TOKEN);
    dead_config.migrate_on_start = false;
    dead_config.db_timeout_ms = 500;
    let dead = TestApp::spawn_unready(dead_config).await;

    let post = json!({ "title": "Contract", "body": "checked" });
    let send =
        |app: &TestApp, method: Method, path: &str| app.client.request(method, app.url(path));
    let authed = |app: &TestApp, method: Method, path: &str| with_token(send(app, method, path));
    let collection = "/v1/posts";
    let item = "/v1/posts/{id}";

    // GET /v1/posts
    app.create_ok("one", "x").await;
    let full = json!({
        "title": "Everything", "body": "b", "slug": "everything",
        "tags": ["One", "two"], "status": "draft", "published_at": "2030-01-01T00:00:00Z"
    });
    let response = authed(&app, Method::POST, collection)
        .json(&full)
        .send()
        .await
        .unwrap();
    spec.check(collection, "post", response).await;
    // An acting user that is no account: 403.
    spec.exercise(
        collection,
        "post",
        authed(&app, Method::POST, collection)
            .header("X-Acting-User", "999999")
            .json(&post),
    )
    .await;
    spec.exercise_each(
        collection,
        "get",
        [
            send(&app, Method::GET, "/v1/posts?limit=1"),
            send(&app, Method::GET, "/v1/posts?limit=0"),
            send(&app, Method::GET, "/v1/posts?status=draft"),
            authed(&app, Method::GET, "/v1/posts?status=all"),
            authed(&app, Method::GET, "/v1/posts?tag=one&status=all"),
            send(&app, Method::GET, "/v1/posts?tag=Not-A-Slug"),
            send(&dead, Method::GET, "/v1/posts"),
        ],
    )
    .await;

    // GET /v1/post-summaries
    spec.exercise_each(
        "/v1/post-summaries",
        "get",
        [
            send(&app, Method::GET, "/v1/post-summaries?limit=1"),
            send(&app, Method::GET, "/v1/post-summaries?before=x"),
            send(&app, Method::GET, "/v1/post-summaries?status=scheduled"),
            authed(&app, Method::GET, "/v1/post-summaries?status=all"),
            authed(&app, Method::GET, "/v1/post-summaries?tag=two&status=all"),
            send(&app, Method::GET, "/v1/post-summaries?tag=one"),
            send(&app, Method::GET, "/v1/post-summaries?tag=no-such-tag"),
            send(&dead, Method::GET, "/v1/post-summaries"),
        ],
    )
    .await;

    // GET /v1/search
    spec.exercise_each(
        "/v1/search",
        "get",
        [
            send(&app, Method::GET, "/v1/search?q=one"),
            send(&app, Method::GET, "/v1/search?q=a+to"),
            send(&app, Method::GET, "/v1/search?q=one&page=0"),
            send(&dead, Method::GET, "/v1/search?q=one"),
        ],
    )
    .await;

    // GET /v1/sitemap, GET /v1/sitemap/posts
    spec.exercise_each(
        "/v1/sitemap",
        "get",
        [
            send(&app, Method::GET, "/v1/sitemap"),
            send(&dead, Method::GET, "/v1/sitemap"),
        ],
    )
    .await;
    spec.exercise_each(
        "/v1/sitemap/posts",
        "get",
        [
            send(&app, Method::GET, "/v1/sitemap/posts?limit=2"),
            send(&app, Method::GET, "/v1/sitemap/posts?after=x"),
            send(&dead, Method::GET, "/v1/sitemap/posts"),
        ],
    )
    .await;

    // POST /v1/posts
    let created = authed(&app, Method::POST, collection)
        .json(&post)
        .send()
        .await
        .unwrap();
    let created_body: Value = {
        let bytes = created.bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let keyed = |key: &str| authed(&app, Method::POST, collection).header("Idempotency-Key", key);
    spec.exercise_each(
        collection,
        "post",
        [
            authed(&app, Method::POST, collection).json(&post),
            // Created, then replayed (with `Idempotent-Replayed`).
            keyed("contract-1").json(&post),
            keyed("contract-1").json(&post),
            keyed("contract-1").json(&json!({ "title": "Another", "body": "post" })),
            keyed("").json(&post),
            authed(&app, Method::POST, collection)
                .header("content-type", "application/json")
                .body("{"),
            send(&app, Method::POST, collection).json(&post),
            authed(&app, Method::POST, collection)
                .header("content-type", "application/json")
                .body(vec![b' '; 300 * 1024]),
            authed(&app, Method::POST, collection).body("title=x"),
            // HTML comes only from the service's own renderer.
            authed(&app, Method::POST, collection)
                .json(&json!({"title": "t", "body": "b", "html": "<script>x</script>"})),
            authed(&app, Method::POST, collection).json(&json!({"title": "", "body": ""})),
            authed(&app, Method::POST, collection)
                .json(&json!({"title": "t", "body": "b", "slug": "everything"})),
            authed(&app, Method::POST, collection).json(&json!({
                "title": "t", "body": "b", "slug": "Bad", "tags": [""],
                "published_at": "1900-01-01T00:00:00Z"
            })),
            authed(&dead, Method::POST, collection).json(&post),
        ],
    )
    .await;

    // GET /v1/posts/{id}
    let id = id_of(&created_body);
    let path = format!("/v1/posts/{id}");
    spec.exercise_each(
        item,
        "get",
        [
            send(&app, Method::GET, &path),
            send(&app, Method::GET, "/v1/posts/abc"),
            send(&app, Method::GET, "/v1/posts/everything"),
            authed(&app, Method::GET, "/v1/posts/everything"),
            send(&dead, Method::GET, "/v1/posts/1"),
        ],
    )
    .await;

    // PUT /v1/posts/{id}
    let put =
        |app: &TestApp, path: &str| authed(app, Method::PUT, path).header("If-Match", "\"1\"");
    spec.exercise_each(
        item,
        "put",
        [
            put(&app, &path)
                .header("X-Acting-User", "999999")
                .json(&post), // 403
            put(&app, &path).json(&post),
            put(&app, &path).json(&post), // now stale: 412
            put(&app, &path)
                .header("content-type", "application/json")
                .body("[]"),
            send(&app, Method::PUT, &path)
                .header("If-Match", "\"2\"")
                .json(&post),
            put(&app, "/v1/posts/999999").json(&post),
            put(&app, &path)
                .header("content-type", "application/json")
                .body(vec![b' '; 300 * 1024]),
            put(&app, &path).body("x"),
            authed(&app, Method::PUT, &path)
                .header("If-Match", "\"2\"")
                .json(&json!({"title": " ", "body": ""})),
            authed(&app, Method::PUT, &path).json(&post),
            put(&dead, "/v1/posts/1").json(&post),
        ],
    )
    .await;

    // DELETE /v1/posts/{id}
    spec.exercise_each(
        item,
        "delete",
        [
            send(&app, Method::DELETE, &path),
            authed(&app, Method::DELETE, &path).header("X-Acting-User", "999999"), // 403
            authed(&app, Method::DELETE, &path).header("If-Match", "1"),           // malformed: 400
            authed(&app, Method::DELETE, &path).header("If-Match", "\"1\""),
            authed(&app, Method::DELETE, &path),
            authed(&app, Method::DELETE, &path),
            authed(&dead, Method::DELETE, "/v1/posts/1"),
        ],
    )
    .await;

    // The internal API: sessions and failed logins.
    let sessions = "/internal/v1/sessions";
    let session = "/internal/v1/sessions/{key}";
    let key = "ab".repeat(32);
    let new_session = json!({ "key": key, "idle_secs": 60, "lifetime_secs": 600 });
    let session_path = format!("/internal/v1/sessions/{key}");
    spec.exercise_each(
        sessions,
        "post",
        [
            authed(&app, Method::POST, sessions).json(&new_session),
            authed(&app, Method::POST, sessions).json(&new_session),
            authed(&app, Method::POST, sessions)
                .json(&json!({ "key": "not-hex", "idle_secs": 60, "lifetime_secs": 600 })),
            send(&app, Method::POST, sessions).json(&new_session),
            authed(&app, Method::POST, sessions)
                .header("content-type", "application/json")
                .body(vec![b' '; 300 * 1024]),
            authed(&app, Method::POST, sessions).body("key=x"),
            authed(&dead, Method::POST, sessions).json(&new_session),
        ],
    )
    .await;
    spec.exercise_each(
        session,
        "get",
        [
            authed(&app, Method::GET, &session_path),
            send(&app, Method::GET, &session_path),
            authed(&dead, Method::GET, &session_path),
        ],
    )
    .await;
    spec.exercise_each(
        session,
        "delete",
        [
            send(&app, Method::DELETE, &session_path),
            authed(&app, Method::DELETE, &session_path),
        ],
    )
    .await;
    // Ended: both reading and ending it again are 404.
    spec.exercise(session, "get", authed(&app, Method::GET, &session_path))
        .await;
    spec.exercise_each(
        session,
        "delete",
        [
            authed(&app, Method::DELETE, &session_path),
            authed(&dead, Method::DELETE, &session_path),
        ],
    )
    .await;

    let failures = "/internal/v1/login-failures";
    let failure = json!({ "client": "203.0.113.7" });
    spec.exercise_each(
        failures,
        "post",
        [
            authed(&app, Method::POST, failures).json(&failure),
            authed(&app, Method::POST, failures).json(&json!({ "client": "" })),
            send(&app, Method::POST, failures).json(&failure),
            authed(&app, Method::POST, failures)
                .header("content-type", "application/json")
                .body(vec![b' '; 300 * 1024]),
            authed(&app, Method::POST, failures).body("client=x"),
            authed(&dead, Method::POST, failures).json(&failure),
        ],
    )
    .await;
    let count = "/internal/v1/login-failures?client=203.0.113.7";
    spec.exercise_each(
        failures,
        "get",
        [
            authed(&app, Method::GET, count),
            authed(&app, Method::GET, failures),
            send(&app, Method::GET, count),
            authed(&dead, Method::GET, count),
        ],
    )
    .await;

    // The internal API: accounts.
    let logins = "/internal/v1/logins";
    let users = "/internal/v1/users";
    let password = "a long and unusual passphrase";
    let as_user = |app: &TestApp, method: Method, path: &str, id: u64| {
        authed(app, method, path).header("X-Acting-User", id.to_string())
    };
    let new_user = |username: &str, role: &str| json!({ "username": username, "display_name": username, "role": role, "password": password });
    let too_large = |request: RequestBuilder| {
        request
            .header("content-type", "application/json")
            .body(vec![b' '; 300 * 1024])
    };
    let created = authed(&app, Method::POST, users)
        .json(&new_user("olga", "owner"))
        .send()
        .await
        .unwrap();
    let owner = created.json::<Value>().await.unwrap()["id"]
        .as_u64()
        .unwrap();
    spec.exercise_each(
        users,
        "post",
        [
            as_user(&app, Method::POST, users, owner).json(&new_user("ann", "author")),
            as_user(&app, Method::POST, users, owner).json(&new_user("ann", "author")), // 409
            as_user(&app, Method::POST, users, owner).json(&json!({ "username": "ann" })), // 400
            as_user(&app, Method::POST, users, owner)
                .json(&json!({ "username": "Bad Name", "display_name": "x", "role": "author", "password": "short" })),
            send(&app, Method::POST, users).json(&new_user("bob", "author")),
            too_large(authed(&app, Method::POST, users)),
            authed(&app, Method::POST, users).body("username=x"),
            authed(&dead, Method::POST, users).json(&new_user("bob", "author")),
        ],
    )
    .await;
    let list: Value = authed(&app, Method::GET, users)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let author = list
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["username"] == "ann")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    spec.exercise(
        users,
        "post",
        as_user(&app, Method::POST, users, author).json(&new_user("bob", "author")), // 403
    )
    .await;
    spec.exercise_each(
        users,
        "get",
        [
            as_user(&app, Method::GET, users, owner),
            authed(&app, Method::GET, users).header("X-Acting-User", "ann"), // 400
            send(&app, Method::GET, users),
            as_user(&app, Method::GET, users, author),
            authed(&dead, Method::GET, users),
        ],
    )
    .await;
    spec.exercise_each(
        logins,
        "post",
        [
            authed(&app, Method::POST, logins)
                .json(&json!({ "username": "ann", "password": password })),
            authed(&app, Method::POST, logins).json(&json!({ "username": "ann" })),
            authed(&app, Method::POST, logins)
                .json(&json!({ "username": "ann", "password": "wrong" })),
            too_large(authed(&app, Method::POST, logins)),
            authed(&app, Method::POST, logins).body("username=ann"),
            authed(&dead, Method::POST, logins)
                .json(&json!({ "username": "ann", "password": password })),
        ],
    )
    .await;
    let user_item = "/internal/v1/users/{id}";
    let author_path = format!("/internal/v1/users/{author}");
    let owner_path = format!("/internal/v1/users/{owner}");
    spec.exercise_each(
        user_item,
        "patch",
        [
            as_user(&app, Method::PATCH, &author_path, owner)
                .json(&json!({ "display_name": "Ann" })),
            as_user(&app, Method::PATCH, &author_path, owner).json(&json!({ "nickname": "Ann" })),
            send(&app, Method::PATCH, &author_path).json(&json!({ "enabled": true })),
            as_user(&app, Method::PATCH, &owner_path, author).json(&json!({ "enabled": false })),
            as_user(&app, Method::PATCH, "/internal/v1/users/999999", owner)
                .json(&json!({ "enabled": true })),
            as_user(&app, Method::PATCH, &owner_path, owner).json(&json!({ "enabled": false })), // 409
            authed(&app, Method::PATCH, &author_path).body("enabled=true"),
            as_user(&app, Method::PATCH, &author_path, owner).json(&json!({ "display_name": " " })),
            authed(&dead, Method::PATCH, &author_path).json(&json!({ "enabled": true })),
        ],
    )
    .await;
    let password_item = "/internal/v1/users/{id}/password";
    let author_password = format!("/internal/v1/users/{author}/password");
    let new_password =
        json!({ "current_password": password, "new_password": "another long passphrase" });
    spec.exercise_each(
        password_item,
        "put",
        [
            as_user(&app, Method::PUT, &author_password, author).json(&new_password),
            as_user(&app, Method::PUT, &author_password, author)
                .json(&json!({ "new_password": 1 })),
            send(&app, Method::PUT, &author_password).json(&new_password),
            as_user(
                &app,
                Method::PUT,
                &format!("/internal/v1/users/{owner}/password"),
                author,
            )
            .json(&new_password), // 403
            authed(&app, Method::PUT, "/internal/v1/users/999999/password").json(&new_password),
            authed(&app, Method::PUT, &author_password).body("new_password=x"),
            authed(&app, Method::PUT, &author_password).json(&json!({ "new_password": "short" })),
            authed(&dead, Method::PUT, &author_password).json(&new_password),
        ],
    )
    .await;

    // Operations
    spec.exercise("/healthz", "get", send(&app, Method::GET, "/healthz"))
        .await;
    spec.exercise_each(
        "/readyz",
        "get",
        [
            send(&app, Method::GET, "/readyz"),
            send(&dead, Method::GET, "/readyz"),
        ],
    )
    .await;

    let documented = spec.documented();
    let missing: Vec<_> = documented.difference(&spec.exercised).collect();
    assert!(
        missing.is_empty(),
        "documented but never produced: {missing:?}"
    );
    dead.stop().await;
    app.stop().await;
}
