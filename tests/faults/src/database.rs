//! A MariaDB container seen from outside, for process faults the `docker` CLI applies:
//! `docker kill -s KILL` (mariadbd dies as in a power cut), `docker start` (InnoDB
//! recovers from its log), `docker pause` (the cgroup freezer: SIGSTOP for every
//! process of the container).
//!
//! A container started again may publish its port on another host port, so scenarios
//! reach the database through a [`fault_proxy::FaultProxy`] they retarget
//! ([`host_addr`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokio::process::Command;

/// Runs `docker ARGS`; its standard output. Panics with docker's error otherwise.
pub async fn docker(args: &[&str]) -> String {
    try_docker(args)
        .await
        .unwrap_or_else(|error| panic!("docker {} failed: {error}", args.join(" ")))
}

/// Runs `docker ARGS`; its standard output, or its standard error when it failed.
async fn try_docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .await
        .expect("cannot run docker");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `docker kill -s SIGNAL id`.
pub async fn kill(container: &str, signal: &str) {
    docker(&["kill", "-s", signal, container]).await;
}

/// `docker wait id`: returns once the container has stopped (after a `kill`, before a
/// `start`, or the start finds it still running and does nothing).
pub async fn wait_stopped(container: &str) {
    docker(&["wait", container]).await;
}

/// `docker start id`.
pub async fn start(container: &str) {
    docker(&["start", container]).await;
}

/// `docker pause id`: every process of the container frozen.
///
/// The cgroup freezer now and then gives up ("unable to freeze") when a process is in
/// uninterruptible I/O; runc thaws the container again when that happens, so this tries
/// up to five times, a second apart, before it panics with docker's error.
pub async fn pause(container: &str) {
    const TRIES: u32 = 5;
    for attempt in 1..=TRIES {
        let Err(error) = try_docker(&["pause", container]).await else {
            return;
        };
        assert!(
            attempt < TRIES,
            "docker pause failed {TRIES} times: {error}"
        );
        eprintln!(
            "docker pause failed (try {attempt} of {TRIES}): {}",
            error.trim()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `docker unpause id`.
pub async fn unpause(container: &str) {
    docker(&["unpause", container]).await;
}

/// Where the container's port 3306 is published on the host now.
pub async fn host_addr(container: &str) -> SocketAddr {
    let published = docker(&["port", container, "3306/tcp"]).await;
    let port = published
        .lines()
        .find_map(|line| line.rsplit(':').next()?.trim().parse::<u16>().ok())
        .unwrap_or_else(|| panic!("port 3306 is not published: {published:?}"));
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The URL of the database named in `url` (a test-mariadb URL), reached at `addr`
/// instead (a proxy in front of the server).
pub fn url_via(url: &str, addr: SocketAddr) -> String {
    let name = database_name(url);
    format!("mysql://root@{addr}/{name}?prefer_socket=false")
}

/// The database part of a `mysql://user@host:port/NAME?options` URL.
pub fn database_name(url: &str) -> &str {
    let after_host = url
        .strip_prefix("mysql://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, path)| path)
        .unwrap_or_else(|| panic!("not a database URL: {url}"));
    after_host.split('?').next().unwrap_or(after_host)
}

/// Waits until the server at `addr` answers `SELECT 1` over TLS; how long that took.
pub async fn wait_until_accepting(addr: SocketAddr, limit: Duration) -> Duration {
    let started = Instant::now();
    let url = format!("mysql://root@{addr}/?prefer_socket=false");
    let opts = mysql_async::OptsBuilder::from_opts(
        mysql_async::Opts::from_url(&url).expect("a valid database URL"),
    )
    .ssl_opts(crate::tls::ssl_opts());
    loop {
        let attempt = tokio::time::timeout(Duration::from_secs(2), async {
            let mut conn = mysql_async::Conn::new(opts.clone()).await?;
            conn.query_drop("SELECT 1").await?;
            conn.disconnect().await
        })
        .await;
        if let Ok(Ok(())) = attempt {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "MariaDB at {addr} did not accept queries within {limit:?}: {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten_to_the_proxy() {
        let url = "mysql://root@127.0.0.1:32768/test_abc?prefer_socket=false";
        assert_eq!(database_name(url), "test_abc");
        assert_eq!(
            url_via(url, SocketAddr::from(([127, 0, 0, 1], 4000))),
            "mysql://root@127.0.0.1:4000/test_abc?prefer_socket=false"
        );
    }
}
