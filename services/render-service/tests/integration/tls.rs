//! render-service calling posts-service over HTTPS: with `POSTS_CA_FILE` naming the CA
//! that signed posts-service's certificate, pages render; with another CA, or a URL whose
//! host the certificate does not name, pages are the clean 503 page and nothing of the
//! TLS error reaches the reader.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use service_runtime::tls::TlsFiles;
use test_mariadb::harness::Db;
use test_mariadb::tls::TestCa;

use crate::helpers::{browser, render_config, spawn_render_service, API_TOKEN};
use crate::resilience::assert_unavailable_page;

pub async fn pages_render_over_https_and_fail_cleanly_with_an_untrusted_certificate(db: Db) {
    let ca = TestCa::new("blog test CA");
    let cert = ca.server("posts-service", &["localhost"]);
    let mut config = posts_service::Config::new(db.fresh_database().await, API_TOKEN);
    config.server = config.server.with_tls(TlsFiles {
        cert_file: cert.cert_file.clone(),
        key_file: cert.key_file.clone(),
    });
    let app = posts_service::Application::build(config)
        .await
        .expect("posts-service starts");
    let port = app.local_addr().port();
    let posts_task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let posts_url = format!("https://localhost:{port}");

    let ca_pem = std::fs::read(ca.ca_file()).unwrap();
    let api = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca_pem).unwrap()])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    while !api
        .get(format!("{posts_url}/readyz"))
        .send()
        .await
        .is_ok_and(|response| response.status() == StatusCode::OK)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "posts-service never became ready over https"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let post: serde_json::Value = api
        .post(format!("{posts_url}/v1/posts"))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "title": "Sent encrypted", "body": "Over *TLS*." }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slug = post["slug"]
        .as_str()
        .expect("the new post's slug")
        .to_owned();

    // Trusting the CA: the pages render.
    let mut trusting = render_config(&posts_url);
    trusting.posts_ca_file = Some(ca.ca_file());
    let (url, render_task) = spawn_render_service(trusting).await;
    let client = browser();
    for path in ["/".to_owned(), format!("/posts/{slug}")] {
        let response = client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Sent encrypted"), "{path}: {html}");
    }
    render_task.abort();

    // Trusting another CA, or asking for a name the certificate does not carry: no
    // page, and nothing of why in it.
    let other = TestCa::new("another CA");
    let mut wrong_ca = render_config(&posts_url);
    wrong_ca.posts_ca_file = Some(other.ca_file());
    let mut wrong_name = render_config(&format!("https://127.0.0.1:{port}"));
    wrong_name.posts_ca_file = Some(ca.ca_file());
    for config in [wrong_ca, wrong_name] {
        let (url, render_task) = spawn_render_service(config).await;
        for path in ["/".to_owned(), format!("/posts/{slug}")] {
            let response = client.get(format!("{url}{path}")).send().await.unwrap();
            let status = response.status();
            let html = response.text().await.unwrap();
            assert_unavailable_page(status, &html);
            for leak in ["certificate", "Certificate", "issuer", "localhost", "TLS"] {
                assert!(!html.contains(leak), "{path} shows {leak:?}: {html}");
            }
        }
        render_task.abort();
    }
    posts_task.abort();
}
