//! Server-side sessions and login throttling, through HTTP: a copied cookie dies with
//! logout and with idle time, ids change at login, `__Host-` cookies behind HTTPS, and
//! login floods get 429 without locking the admin out, on one replica or two, whatever
//! the client writes in `X-Forwarded-For` behind trusted proxies or a count of them.

use std::time::Duration;

use reqwest::header::{COOKIE, RETRY_AFTER};
use reqwest::{Client, StatusCode};
use test_mariadb::harness::Db;

use crate::helpers::{
    browser, csrf_token, location, render_config, set_cookies, spawn_blog, spawn_blog_with,
    spawn_posts_service, spawn_render_service, Blog, ADMIN_PASSWORD, ADMIN_USER,
};

/// Logs `blog`'s browser in; returns the `name=value` of the session cookie it got.
async fn login_and_copy_the_cookie(blog: &Blog) -> String {
    let response = blog.submit_login().await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    session_pair(&set_cookies(response.headers()), "blog_session")
}

fn session_pair(cookies: &[String], name: &str) -> String {
    let prefix = format!("{name}=");
    cookies
        .iter()
        .find(|cookie| cookie.starts_with(&prefix))
        .and_then(|cookie| cookie.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
        .to_owned()
}

/// `GET /add` with only this cookie, as someone who copied it would send it.
async fn replay(url: &str, cookie: &str) -> reqwest::Response {
    browser()
        .get(format!("{url}/add"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("render-service answers")
}

pub async fn copied_session_cookie_is_refused_after_logout(db: Db) {
    let blog = spawn_blog(&db).await;
    let copied = login_and_copy_the_cookie(&blog).await;
    assert_eq!(replay(&blog.url, &copied).await.status(), StatusCode::OK);

    let token = blog.csrf_token("/add").await;
    let response = blog.post_form("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let replayed = replay(&blog.url, &copied).await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert!(
        location(&replayed).starts_with("/login"),
        "{}",
        location(&replayed)
    );
}

pub async fn copied_session_cookie_is_refused_after_idle_time(db: Db) {
    // 3 s idle, used every 1.2 s: wide enough margins for a loaded CI machine (with 2 s,
    // one slow replay let the session lapse while in use)
    let blog = spawn_blog_with(&db, |config| config.session_idle_secs = 3).await;
    let copied = login_and_copy_the_cookie(&blog).await;
    // In use, the session outlives its idle time.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(replay(&blog.url, &copied).await.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let replayed = replay(&blog.url, &copied).await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert!(location(&replayed).starts_with("/login"));
}

pub async fn every_login_gets_a_new_session_id(db: Db) {
    let blog = spawn_blog(&db).await;
    let first = login_and_copy_the_cookie(&blog).await;
    let other = blog.new_browser();
    let response = other.submit_login().await;
    let second = session_pair(&set_cookies(response.headers()), "blog_session");
    assert_ne!(first, second);
    let id = second.split_once('=').unwrap().1.split('.').next().unwrap();
    assert_eq!(id.len(), 43, "256 bits in base64url: {second}");
    // Both are sessions of their own: ending one leaves the other.
    assert_eq!(replay(&blog.url, &first).await.status(), StatusCode::OK);
    assert_eq!(replay(&blog.url, &second).await.status(), StatusCode::OK);
}

pub async fn secure_cookies_are_host_prefixed(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.cookie_secure = true).await;
    // A browser keeps Secure cookies off plain HTTP, so this test carries them itself.
    let client = browser();
    let form = client
        .get(format!("{}/login", blog.url))
        .send()
        .await
        .unwrap();
    let login_cookie = session_pair(&set_cookies(form.headers()), "__Host-blog_login");
    let token = csrf_token(&form.text().await.unwrap());
    let response = client
        .post(format!("{}/login", blog.url))
        .header(COOKIE, &login_cookie)
        .form(&[
            ("username", ADMIN_USER),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &token),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(response.headers());
    let session = cookies
        .iter()
        .find(|cookie| cookie.starts_with("__Host-blog_session="))
        .unwrap_or_else(|| panic!("no __Host-blog_session in {cookies:?}"));
    for attribute in ["; Path=/;", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing: {session}"
        );
    }
    assert!(!session.contains("Domain"), "{session}");
    assert!(
        cookies.iter().all(|cookie| !cookie.starts_with("blog_")),
        "{cookies:?}"
    );
    let pair = session_pair(&cookies, "__Host-blog_session");
    assert_eq!(replay(&blog.url, &pair).await.status(), StatusCode::OK);
    // The unprefixed name opens nothing.
    let unprefixed = pair.trim_start_matches("__Host-");
    assert_eq!(
        replay(&blog.url, unprefixed).await.status(),
        StatusCode::SEE_OTHER
    );
}

/// One attempt to log in from `address` (through the trusted proxy at 127.0.0.1).
async fn attempt(client: &Client, url: &str, address: &str, password: &str) -> reqwest::Response {
    attempt_with(client, url, &[address], password).await
}

/// One attempt to log in with these `X-Forwarded-For` lines, in this order.
async fn attempt_with(
    client: &Client,
    url: &str,
    forwarded_for: &[&str],
    password: &str,
) -> reqwest::Response {
    let with_lines = |mut request: reqwest::RequestBuilder| {
        for line in forwarded_for {
            request = request.header("x-forwarded-for", *line);
        }
        request
    };
    let form = with_lines(client.get(format!("{url}/login")))
        .send()
        .await
        .unwrap();
    let token = csrf_token(&form.text().await.unwrap());
    with_lines(client.post(format!("{url}/login")))
        .form(&[
            ("username", ADMIN_USER),
            ("password", password),
            ("csrf_token", &token),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("429 without a Retry-After in seconds"))
}

pub async fn login_flood_from_one_address_is_429_while_the_admin_logs_in_from_another(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.trusted_proxies = "127.0.0.1".into()).await;
    let attacker = browser();
    for n in 1..=10 {
        let response = attempt(&attacker, &blog.url, "203.0.113.7", "wrong").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "wrong password {n}"
        );
    }
    for _ in 0..5 {
        let response = attempt(&attacker, &blog.url, "203.0.113.7", "wrong").await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let seconds = retry_after(&response);
        assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
    }
    // Not even the right password is looked at from that address now.
    let response = attempt(&attacker, &blog.url, "203.0.113.7", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // A header the client sets itself is not believed without a trusted proxy.
    let direct = spawn_blog(&db).await;
    let spoofer = browser();
    for n in 1..=10 {
        let address = format!("192.0.2.{n}");
        let response = attempt(&spoofer, &direct.url, &address, "wrong").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = attempt(&spoofer, &direct.url, "192.0.2.99", "wrong").await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "keyed on the peer"
    );

    // The admin, elsewhere, is not locked out.
    let admin = browser();
    let response = attempt(&admin, &blog.url, "198.51.100.2", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/");
}

/// Ten wrong passwords with each of `attacks` (`X-Forwarded-For` lines whose left-most
/// entries change every time, the last `{n}` replaced by the attempt's number) are one
/// client's: the eleventh is refused, while the admin, at `admin_address` (which the
/// attacker also writes), logs in.
async fn spoofed_entries_neither_spread_the_limit_nor_lock_out(
    blog: &Blog,
    attack: &[&str],
    admin_address: &str,
) {
    let attacker = browser();
    for n in 1..=11 {
        let lines: Vec<String> = attack
            .iter()
            .map(|line| line.replace("{n}", &n.to_string()))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let response = attempt_with(&attacker, &blog.url, &lines, "wrong").await;
        let expected = if n <= 10 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(response.status(), expected, "attempt {n} with {lines:?}");
    }
    let admin = browser();
    let response = attempt(&admin, &blog.url, admin_address, ADMIN_PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the admin logs in"
    );
    assert_eq!(location(&response), "/");
}

pub async fn every_forwarded_for_line_is_read_behind_trusted_proxies(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.trusted_proxies = "127.0.0.1".into()).await;
    // The client's own line, naming the admin's address and then one of its choosing,
    // and the line the proxy added with the client's real address.
    spoofed_entries_neither_spread_the_limit_nor_lock_out(
        &blog,
        &["198.51.100.2, 192.0.2.{n}", "203.0.113.7"],
        "198.51.100.2",
    )
    .await;
}

pub async fn a_hop_count_believes_only_the_proxys_entry(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.trusted_proxy_hops = 1).await;
    spoofed_entries_neither_spread_the_limit_nor_lock_out(
        &blog,
        &["198.51.100.2, 192.0.2.{n}, 203.0.113.8"],
        "198.51.100.2",
    )
    .await;
    // Two proxies, each adding its own line: the client is the entry the first wrote.
    let blog = spawn_blog_with(&db, |config| config.trusted_proxy_hops = 2).await;
    spoofed_entries_neither_spread_the_limit_nor_lock_out(
        &blog,
        &["198.51.100.3, 192.0.2.{n}", "203.0.113.9", "10.0.0.{n}"],
        "198.51.100.3",
    )
    .await;
}

pub async fn ipv6_clients_behind_a_proxy_are_told_apart(db: Db) {
    let blog = spawn_blog_with(&db, |config| config.trusted_proxies = "127.0.0.1".into()).await;
    // An attacker in one /64 writing the admin's address (in another /64) to the left;
    // the proxy writes the client as `[address]:port`.
    spoofed_entries_neither_spread_the_limit_nor_lock_out(
        &blog,
        &["2001:db8:ad::1, 2001:db8:{n}::1", "[2001:db8:bad::7]:443"],
        "2001:db8:ad::1",
    )
    .await;
}

pub async fn account_bound_holds_across_two_replicas(db: Db) {
    let (posts_addr, _posts_task) = spawn_posts_service(&db).await;
    let api_url = format!("http://{posts_addr}");
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let mut config = render_config(&api_url);
        config.trusted_proxies = "127.0.0.1".into();
        replicas.push(spawn_render_service(config).await);
    }
    let client = browser();
    // 100 wrong passwords from 20 addresses, 5 each (under the per-address bound),
    // alternating between the replicas.
    for round in 0..5 {
        for host in 1..=20 {
            let address = format!("203.0.113.{host}");
            let (url, _) = &replicas[(host + round) % 2];
            let response = attempt(&client, url, &address, "wrong").await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "round {round}, {address}"
            );
        }
    }
    // The account has taken its 100: every address that gave a wrong password is
    // refused on either replica, whatever it sends.
    for (url, _) in &replicas {
        for password in ["wrong", ADMIN_PASSWORD] {
            let response = attempt(&client, url, "203.0.113.1", password).await;
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(retry_after(&response) > 60, "the hour's bound");
        }
    }
    // The admin from an address with no wrong password logs in.
    let admin = browser();
    let response = attempt(&admin, &replicas[1].0, "198.51.100.2", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    for (_, task) in replicas {
        task.abort();
    }
}

pub async fn admin_pages_are_503_while_sessions_cannot_be_checked(db: Db) {
    let blog = spawn_blog(&db).await;
    blog.login().await;
    let reader = blog.new_browser();
    let (status, _) = reader.page("/").await;
    assert_eq!(status, StatusCode::OK);
    blog.stop_posts_service().await;
    // The admin cannot be verified: not the login form (nothing is wrong with the
    // session), the 503 page.
    let response = blog.get("/add").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Readers still get the page from the cache (fresh or the last good copy).
    let response = reader.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok());
    assert!(matches!(cache, Some("hit" | "stale")), "{cache:?}");
}
