//! Accounts and roles: the first owner from `ADMIN_USER`, logins, the accounts API,
//! and who may write which post (`X-Acting-User`).

use posts_service::Config;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use test_mariadb::harness::Db;

use crate::helpers::{assert_problem, TestApp, TOKEN};

/// A password that breaks no rule.
const GOOD: &str = "a long and unusual passphrase";

async fn spawn_with_owner(url: &str, user: &str, password: &str) -> TestApp {
    let mut config = Config::new(url, TOKEN);
    config.db_timeout_ms = 10_000;
    config.admin_user = Some(user.to_owned());
    config.admin_password = Some(service_runtime::config::Secret::new(password));
    TestApp::spawn_with(config).await
}

fn with_actor(request: RequestBuilder, actor: Option<u64>) -> RequestBuilder {
    let request = request.bearer_auth(TOKEN);
    match actor {
        Some(id) => request.header("X-Acting-User", id.to_string()),
        None => request,
    }
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/internal/v1/logins"))
        .bearer_auth(TOKEN)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("request failed")
}

async fn create_user(
    app: &TestApp,
    actor: Option<u64>,
    username: &str,
    role: &str,
    password: &str,
) -> reqwest::Response {
    with_actor(app.client.post(app.url("/internal/v1/users")), actor)
        .json(&json!({
            "username": username,
            "display_name": format!("{username} display"),
            "role": role,
            "password": password,
        }))
        .send()
        .await
        .expect("request failed")
}

async fn create_user_ok(app: &TestApp, actor: Option<u64>, username: &str, role: &str) -> u64 {
    let response = create_user(app, actor, username, role, GOOD).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {username}");
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["username"], username);
    assert_eq!(user["role"], role);
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    user["id"].as_u64().unwrap()
}

async fn patch_user(
    app: &TestApp,
    actor: Option<u64>,
    id: u64,
    changes: Value,
) -> reqwest::Response {
    with_actor(
        app.client
            .patch(app.url(&format!("/internal/v1/users/{id}"))),
        actor,
    )
    .json(&changes)
    .send()
    .await
    .expect("request failed")
}

async fn set_password(
    app: &TestApp,
    actor: Option<u64>,
    id: u64,
    change: Value,
) -> reqwest::Response {
    with_actor(
        app.client
            .put(app.url(&format!("/internal/v1/users/{id}/password"))),
        actor,
    )
    .json(&change)
    .send()
    .await
    .expect("request failed")
}

async fn user_list(app: &TestApp, actor: Option<u64>) -> reqwest::Response {
    with_actor(app.client.get(app.url("/internal/v1/users")), actor)
        .send()
        .await
        .expect("request failed")
}

pub async fn the_first_owner_comes_from_admin_user_once(db: Db) {
    let url = db.fresh_database().await;
    // A short password that an existing deployment may use is accepted for the first
    // owner (the rules apply to passwords set through the API).
    let app = spawn_with_owner(&url, "Chief", "hunter2").await;
    let response = login(&app, "chief", "hunter2").await;
    assert_eq!(response.status(), StatusCode::OK);
    let owner: Value = response.json().await.unwrap();
    assert_eq!(owner["username"], "chief");
    assert_eq!(owner["display_name"], "chief");
    assert_eq!(owner["role"], "owner");
    assert!(owner.get("password_hash").is_none());
    // The username is read in lower case at login too.
    assert_eq!(
        login(&app, "CHIEF", "hunter2").await.status(),
        StatusCode::OK
    );
    app.stop().await;

    // Once an account exists, other values change nothing.
    let app = spawn_with_owner(&url, "other", "another password").await;
    assert_eq!(
        login(&app, "chief", "hunter2").await.status(),
        StatusCode::OK
    );
    assert_problem(
        login(&app, "other", "another password").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let users: Value = user_list(&app, None).await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    app.stop().await;
}

pub async fn a_failed_login_is_one_answer_whatever_the_reason(db: Db) {
    let url = db.fresh_database().await;
    let app = spawn_with_owner(&url, "owner", GOOD).await;
    let owner = login(&app, "owner", GOOD)
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let author = create_user_ok(&app, Some(owner), "ann", "author").await;
    assert_eq!(login(&app, "ann", GOOD).await.status(), StatusCode::OK);
    let disabled = patch_user(&app, Some(owner), author, json!({ "enabled": false })).await;
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(disabled.json::<Value>().await.unwrap()["enabled"], false);

    let mut details = Vec::new();
    for (username, password) in [
        ("nobody", GOOD),              // unknown user
        ("owner", "not the password"), // wrong password
        ("ann", GOOD),                 // disabled account
        (&"x".repeat(40)[..], GOOD),   // cannot be a username
        ("\u{713a7}Ç", GOOD),          // nor can a name that is not ASCII
        ("ÖWNER", GOOD),               // not even one that lowercases to a username
    ] {
        let problem = assert_problem(
            login(&app, username, password).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        details.push(problem["detail"].clone());
    }
    assert!(
        details.windows(2).all(|pair| pair[0] == pair[1]),
        "{details:?}"
    );
    // A disabled account cannot act either.
    let post = with_actor(app.client.post(app.url("/v1/posts")), Some(author))
        .json(&json!({ "title": "t", "body": "b" }))
        .send()
        .await
        .unwrap();
    assert_problem(post, StatusCode::FORBIDDEN).await;
    app.stop().await;
}

pub async fn accounts_are_checked_and_unique(db: Db) {
    let app = TestApp::spawn(&db).await;
    // Without an acting user the call is the service's own.
    let owner = create_user_ok(&app, None, "olga", "owner").await;
    assert_problem(
        create_user(&app, Some(owner), "olga", "editor", GOOD).await,
        StatusCode::CONFLICT,
    )
    .await;

    // Each broken rule is a field error.
    let problem = assert_problem(
        create_user(&app, Some(owner), "Bad Name", "author", "password").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "password", "password"], "{problem}");
    let messages = |problem: &Value| -> Vec<String> {
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|error| error["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let problem = assert_problem(
        create_user(&app, Some(owner), "sam.smith", "author", "SAM.SMITH").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(messages(&problem).contains(&"password must be at least 12 characters".to_owned()));
    let problem = assert_problem(
        create_user(&app, Some(owner), "samuelsmith1", "author", "SAMUELSMITH1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(messages(&problem), ["password must not be the username"]);
    // A common password of 12 characters, in another case.
    let problem = assert_problem(
        create_user(&app, Some(owner), "sam", "author", "QAZWSXEDCRFV").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        messages(&problem),
        ["password is one of the most common passwords"]
    );
    let long_name = with_actor(app.client.post(app.url("/internal/v1/users")), Some(owner))
        .json(&json!({ "username": "sam", "display_name": "é".repeat(65), "role": "author", "password": GOOD }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(long_name, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "display_name");

    // Nothing refused was stored.
    let users: Value = user_list(&app, Some(owner)).await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
    app.stop().await;
}

pub async fn only_owners_manage_accounts_and_users_change_their_own_password(db: Db) {
    let app = TestApp::spawn(&db).await;
    let owner = create_user_ok(&app, None, "olga", "owner").await;
    let editor = create_user_ok(&app, Some(owner), "ed", "editor").await;
    let author = create_user_ok(&app, Some(owner), "ann", "author").await;

    for actor in [editor, author] {
        assert_problem(
            create_user(&app, Some(actor), "new", "author", GOOD).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_problem(
            patch_user(&app, Some(actor), actor, json!({ "role": "owner" })).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert_problem(user_list(&app, Some(actor)).await, StatusCode::FORBIDDEN).await;
        assert_problem(
            set_password(
                &app,
                Some(actor),
                owner,
                json!({ "new_password": "taken over by me" }),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    // An unknown acting user is refused too.
    assert_problem(
        create_user(&app, Some(9999), "new", "author", GOOD).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    // The owner manages the others...
    let changed = patch_user(
        &app,
        Some(owner),
        author,
        json!({ "role": "editor", "display_name": "  Ann A.  " }),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        (changed["role"].as_str(), changed["display_name"].as_str()),
        (Some("editor"), Some("Ann A."))
    );
    assert_problem(
        patch_user(&app, Some(owner), 9999, json!({ "enabled": false })).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // ...but cannot lock themselves out.
    assert_problem(
        patch_user(&app, Some(owner), owner, json!({ "enabled": false })).await,
        StatusCode::CONFLICT,
    )
    .await;
    // An owner resets another's password without the current one.
    let reset = set_password(
        &app,
        Some(owner),
        editor,
        json!({ "new_password": "reset by the owner" }),
    )
    .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login(&app, "ed", "reset by the owner").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&app, "ed", GOOD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Users change their own with the current one, under the rules.
    let without = set_password(
        &app,
        Some(author),
        author,
        json!({ "new_password": "my new passphrase" }),
    )
    .await;
    let problem = assert_problem(without, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "current_password");
    let wrong = set_password(
        &app,
        Some(author),
        author,
        json!({ "current_password": "not my password", "new_password": "my new passphrase" }),
    )
    .await;
    assert_problem(wrong, StatusCode::FORBIDDEN).await;
    let weak = set_password(
        &app,
        Some(author),
        author,
        json!({ "current_password": GOOD, "new_password": "short" }),
    )
    .await;
    let problem = assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "new_password");
    assert_eq!(login(&app, "ann", GOOD).await.status(), StatusCode::OK);
    let changed = set_password(
        &app,
        Some(author),
        author,
        json!({ "current_password": GOOD, "new_password": "my new passphrase" }),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login(&app, "ann", "my new passphrase").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login(&app, "ann", GOOD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

async fn write_post(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    actor: Option<u64>,
    post: Option<Value>,
) -> reqwest::Response {
    let mut request = with_actor(app.client.request(method, app.url(path)), actor);
    if let Some(post) = post {
        request = request.header("If-Match", "*").json(&post);
    }
    request.send().await.expect("request failed")
}

async fn create_post(app: &TestApp, actor: Option<u64>, title: &str) -> Value {
    let response = write_post(
        app,
        reqwest::Method::POST,
        "/v1/posts",
        actor,
        Some(json!({ "title": title, "body": "text", "status": "draft" })),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {title}");
    response.json().await.unwrap()
}

async fn title_of(app: &TestApp, id: u64) -> Option<String> {
    let response = app.fetch_with_token(&format!("/v1/posts/{id}")).await;
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let post: Value = response.json().await.unwrap();
    post["title"].as_str().map(str::to_owned)
}

pub async fn each_role_writes_the_posts_it_may_and_nothing_else(db: Db) {
    let app = TestApp::spawn(&db).await;
    let owner = create_user_ok(&app, None, "olga", "owner").await;
    let editor = create_user_ok(&app, Some(owner), "ed", "editor").await;
    let author = create_user_ok(&app, Some(owner), "ann", "author").await;
    let other = create_user_ok(&app, Some(owner), "bob", "author").await;
    let names = [(owner, "olga"), (editor, "ed"), (author, "ann")];

    for (actor, name) in names {
        let edits_all = actor != author;
        // Create: the acting user is the author, and reads say so.
        let mine = create_post(&app, Some(actor), &format!("{name}'s post")).await;
        let mine_id = mine["id"].as_u64().unwrap();
        let expected_author = json!({ "id": actor, "name": format!("{name} display") });
        assert_eq!(mine["author"], expected_author, "{name}");
        let read = app.read_json(&format!("/v1/posts/{mine_id}"), true).await;
        assert_eq!(read["author"], expected_author);
        for list in ["/v1/posts?status=all", "/v1/post-summaries?status=all"] {
            let page = app.read_json(list, true).await;
            let item = page["posts"]
                .as_array()
                .expect("posts")
                .iter()
                .find(|item| item["id"] == mine_id)
                .cloned()
                .expect("listed");
            assert_eq!(item["author"], expected_author, "{list}");
        }

        // Update and publish their own.
        let update = write_post(
            &app,
            reqwest::Method::PUT,
            &format!("/v1/posts/{mine_id}"),
            Some(actor),
            Some(json!({ "title": "own, edited", "body": "text", "status": "published" })),
        )
        .await;
        assert_eq!(update.status(), StatusCode::OK, "{name} updates own");
        let updated: Value = update.json().await.unwrap();
        assert_eq!(updated["status"], "published");
        assert_eq!(
            updated["author"], expected_author,
            "an edit keeps the author"
        );

        // Update someone else's.
        let others = create_post(&app, Some(other), "bob's post").await;
        let others_id = others["id"].as_u64().unwrap();
        let update = write_post(
            &app,
            reqwest::Method::PUT,
            &format!("/v1/posts/{others_id}"),
            Some(actor),
            Some(json!({ "title": "taken over", "body": "text", "status": "published" })),
        )
        .await;
        if edits_all {
            assert_eq!(update.status(), StatusCode::OK, "{name} updates another's");
            assert_eq!(
                title_of(&app, others_id).await.as_deref(),
                Some("taken over")
            );
            let post: Value = update.json().await.unwrap();
            assert_eq!(post["author"]["id"], other, "the author stays the writer");
        } else {
            assert_problem(update, StatusCode::FORBIDDEN).await;
            assert_eq!(
                title_of(&app, others_id).await.as_deref(),
                Some("bob's post")
            );
        }

        // Delete someone else's.
        let delete = write_post(
            &app,
            reqwest::Method::DELETE,
            &format!("/v1/posts/{others_id}"),
            Some(actor),
            None,
        )
        .await;
        if edits_all {
            assert_eq!(
                delete.status(),
                StatusCode::NO_CONTENT,
                "{name} deletes another's"
            );
            assert_eq!(title_of(&app, others_id).await, None);
        } else {
            assert_problem(delete, StatusCode::FORBIDDEN).await;
            assert!(title_of(&app, others_id).await.is_some(), "not deleted");
        }

        // Delete their own.
        let delete = write_post(
            &app,
            reqwest::Method::DELETE,
            &format!("/v1/posts/{mine_id}"),
            Some(actor),
            None,
        )
        .await;
        assert_eq!(
            delete.status(),
            StatusCode::NO_CONTENT,
            "{name} deletes own"
        );
        assert_eq!(title_of(&app, mine_id).await, None);

        // Accounts: only the owner.
        let created = create_user(&app, Some(actor), &format!("new.{name}"), "author", GOOD).await;
        if actor == owner {
            assert_eq!(created.status(), StatusCode::CREATED);
        } else {
            assert_problem(created, StatusCode::FORBIDDEN).await;
        }
    }

    // An author's write to a post no account wrote is refused too; the service's own
    // writes (no acting user) change any post, and leave it without an author.
    let unowned = app.create_ok("no account", "text").await;
    let unowned_id = unowned["id"].as_u64().unwrap();
    assert_eq!(unowned["author"], Value::Null);
    let refused = write_post(
        &app,
        reqwest::Method::PUT,
        &format!("/v1/posts/{unowned_id}"),
        Some(author),
        Some(json!({ "title": "mine now", "body": "text" })),
    )
    .await;
    assert_problem(refused, StatusCode::FORBIDDEN).await;
    let bobs = create_post(&app, Some(other), "bob again").await;
    let bobs_id = bobs["id"].as_u64().unwrap();
    let service = write_post(
        &app,
        reqwest::Method::PUT,
        &format!("/v1/posts/{bobs_id}"),
        None,
        Some(json!({ "title": "by the service", "body": "text" })),
    )
    .await;
    assert_eq!(service.status(), StatusCode::OK);
    // An author's write to a post that does not exist is a 404, as without the header.
    let missing = write_post(
        &app,
        reqwest::Method::DELETE,
        "/v1/posts/999999",
        Some(author),
        None,
    )
    .await;
    assert_problem(missing, StatusCode::NOT_FOUND).await;
    // A malformed header is a 400, and writes nothing.
    let malformed = app
        .client
        .post(app.url("/v1/posts"))
        .bearer_auth(TOKEN)
        .header("X-Acting-User", "ann")
        .json(&json!({ "title": "t", "body": "b" }))
        .send()
        .await
        .unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST).await;
    // A renamed account's posts show its new name.
    let renamed = patch_user(
        &app,
        Some(owner),
        other,
        json!({ "display_name": "Robert" }),
    )
    .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let read = app.read_json(&format!("/v1/posts/{bobs_id}"), true).await;
    assert_eq!(read["author"], json!({ "id": other, "name": "Robert" }));
    app.stop().await;
}
