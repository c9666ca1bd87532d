//! posts-service reaching MariaDB over TLS: against a server that refuses connections
//! without TLS (`--require-secure-transport=ON`), the service with `DATABASE_TLS` and
//! the CA that signed the server's certificate starts, writes and reads; a client that
//! trusts another CA is refused, and its error does not carry the password.

use mysql_async::prelude::Queryable;
use posts_service::db::{self, PoolSettings};
use posts_service::Config;
use reqwest::StatusCode;
use test_mariadb::harness::Db;
use test_mariadb::tls::TestCa;
use test_mariadb::MariaDb;

use crate::helpers::{TestApp, TOKEN};

const PASSWORD: &str = "tls-test-db-password";

pub async fn the_service_talks_to_a_mariadb_that_requires_tls_trusting_only_its_ca(_db: Db) {
    let ca = TestCa::new("database test CA");
    let cert = ca.server("mariadb", &["127.0.0.1"]);
    let mariadb = MariaDb::start_with_tls(&cert, &ca.ca_file()).await;
    let root_url = mariadb.fresh_database().await;
    let database = root_url
        .rsplit_once('/')
        .and_then(|(_, rest)| rest.split_once('?'))
        .map(|(name, _)| name.to_owned())
        .expect("a database name in the URL");
    let mut conn = mariadb.connect().await.expect("a TLS connection");
    let cipher: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    assert!(
        cipher.is_some_and(|(_, cipher)| !cipher.is_empty()),
        "the test's own connection is not encrypted"
    );
    conn.query_drop(format!("CREATE USER 'blog'@'%' IDENTIFIED BY '{PASSWORD}'"))
        .await
        .unwrap();
    conn.query_drop(format!("GRANT ALL ON `{database}`.* TO 'blog'@'%'"))
        .await
        .unwrap();
    let _ = conn.disconnect().await;
    let url = root_url.replacen("root@", &format!("blog:{PASSWORD}@"), 1);
    let settings = PoolSettings { min: 0, max: 2 };

    // The server refuses a connection without TLS (MariaDB 10.11 says "access denied";
    // the same URL over TLS is let in below, so it is the transport that is refused).
    let plain = db::connect(&url, settings, None).unwrap();
    let err = plain.get_conn().await.unwrap_err().to_string();
    assert!(
        err.contains("Access denied") || err.contains("insecure transport"),
        "{err}"
    );
    let _ = plain.disconnect().await;

    // With DATABASE_TLS and the CA, the service starts, migrates, writes and reads.
    let mut config = Config::new(url.clone(), TOKEN);
    config.database_tls = true;
    config.database_ca_file = Some(ca.ca_file());
    let app = TestApp::spawn_with(config).await;
    let post = app.create_ok("Encrypted on the wire", "Both ways.").await;
    let id = post["id"].as_u64().unwrap();
    let response = app.get(id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.fetch("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;

    // Trusting another CA: refused, and the error names the certificate, not the password.
    let other = TestCa::new("another CA");
    let ssl = db::ssl_opts(true, Some(&other.ca_file())).unwrap();
    let untrusting = db::connect(&url, settings, ssl.as_ref()).unwrap();
    let err = untrusting.get_conn().await.unwrap_err().to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    let _ = untrusting.disconnect().await;

    mariadb.remove().await;
}
