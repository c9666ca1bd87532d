//! Least privilege in the database: posts-service runs as an account that may only
//! read and write rows, and applies migrations through a separate account
//! (`MIGRATION_DATABASE_USER`), at start or with the `migrate` command.

use mysql_async::prelude::Queryable;
use posts_service::Config;
use reqwest::StatusCode;
use service_runtime::config::Secret;
use test_mariadb::harness::Db;

use crate::helpers::{id_of, TestApp, BINARY, TOKEN};

/// ER_TABLEACCESS_DENIED_ERROR: "DROP command denied to user …".
const TABLE_ACCESS_DENIED: u16 = 1142;

const RUNTIME_PASSWORD: &str = "runtime-account-password";
const MIGRATION_PASSWORD: &str = "migration-account-password";

/// The two accounts on a fresh database, made as an operator's init script makes them:
/// the runtime account's URL and the migration account's name.
struct Accounts {
    runtime_url: String,
    migration_user: String,
}

async fn accounts(db: &Db) -> Accounts {
    let root_url = db.fresh_database().await;
    let parsed = url::Url::parse(&root_url).unwrap();
    let database = parsed.path().trim_start_matches('/').to_owned();
    let runtime_user = format!("{database}_rt");
    let migration_user = format!("{database}_ddl");
    let mut root = mysql_async::Conn::from_url(&root_url).await.unwrap();
    for statement in [
        format!("CREATE USER '{runtime_user}'@'%' IDENTIFIED BY '{RUNTIME_PASSWORD}'"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{runtime_user}'@'%'"),
        format!("CREATE USER '{migration_user}'@'%' IDENTIFIED BY '{MIGRATION_PASSWORD}'"),
        format!("GRANT ALL PRIVILEGES ON `{database}`.* TO '{migration_user}'@'%'"),
    ] {
        root.query_drop(statement).await.unwrap();
    }
    let _ = root.disconnect().await;
    let mut runtime_url = parsed;
    runtime_url.set_username(&runtime_user).unwrap();
    runtime_url.set_password(Some(RUNTIME_PASSWORD)).unwrap();
    Accounts {
        runtime_url: runtime_url.into(),
        migration_user,
    }
}

/// What `statement` got from the server as the runtime account: its error code.
async fn denied_code(runtime_url: &str, statement: &str) -> Option<u16> {
    let mut conn = mysql_async::Conn::from_url(runtime_url).await.unwrap();
    let outcome = conn.query_drop(statement).await;
    let _ = conn.disconnect().await;
    match outcome {
        Ok(()) => None,
        Err(mysql_async::Error::Server(err)) => Some(err.code),
        Err(other) => panic!("{statement}: {other}"),
    }
}

pub async fn runtime_account_cannot_change_the_schema_while_the_service_works(db: Db) {
    let accounts = accounts(&db).await;
    let mut config = Config::new(&accounts.runtime_url, TOKEN);
    config.migration_database_user = Some(accounts.migration_user.clone());
    config.migration_database_password = Some(Secret::new(MIGRATION_PASSWORD));
    // Migrated at start through the migration account, then serving as the runtime one.
    let app = TestApp::spawn_with(config).await;
    let post = app.create_ok("Least privilege", "rows only").await;
    let response = app.get(id_of(&post)).await;
    assert_eq!(response.status(), StatusCode::OK);

    for statement in [
        "DROP TABLE posts",
        "ALTER TABLE posts ADD COLUMN intruder INT",
        "CREATE TABLE intruder (id INT)",
    ] {
        assert_eq!(
            denied_code(&accounts.runtime_url, statement).await,
            Some(TABLE_ACCESS_DENIED),
            "{statement}"
        );
    }
    let response = app.get(id_of(&post)).await;
    assert_eq!(response.status(), StatusCode::OK, "the post is still there");
    app.stop().await;
}

pub async fn migrate_command_uses_the_migration_account(db: Db) {
    let accounts = accounts(&db).await;
    let migrate = |extra: Vec<(&'static str, String)>| {
        tokio::process::Command::new(BINARY)
            .arg("migrate")
            .env_clear()
            .env("DATABASE_URL", &accounts.runtime_url)
            .envs(extra)
            .output()
    };
    // The runtime account alone cannot create the schema.
    let output = migrate(Vec::new()).await.unwrap();
    assert!(!output.status.success(), "the runtime account migrated");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(RUNTIME_PASSWORD), "{stderr}");

    // The password from a file, as Docker and Kubernetes secrets give it.
    let dir = std::env::temp_dir().join(format!("posts-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join(format!("{}.password", accounts.migration_user));
    std::fs::write(&password_file, format!("{MIGRATION_PASSWORD}\n")).unwrap();
    let output = migrate(vec![
        ("MIGRATION_DATABASE_USER", accounts.migration_user.clone()),
        (
            "MIGRATION_DATABASE_PASSWORD_FILE",
            password_file.to_string_lossy().into_owned(),
        ),
    ])
    .await
    .unwrap();
    let _ = std::fs::remove_file(&password_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains(MIGRATION_PASSWORD), "{stderr}");

    // The runtime account sees the schema and may use it.
    let mut conn = mysql_async::Conn::from_url(&accounts.runtime_url)
        .await
        .unwrap();
    let tables: Vec<String> = conn.query("SHOW TABLES").await.unwrap();
    assert!(tables.contains(&"posts".to_owned()), "{tables:?}");
    let _ = conn.disconnect().await;
}
