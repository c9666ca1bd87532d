//! posts-service and render-service as the operator runs them: real processes, so a
//! scenario can freeze (SIGSTOP), thaw (SIGCONT) and stop (SIGTERM) them.
//!
//! The binaries are the ones `cargo test --workspace --no-run` (tests/faults/run.sh) left next
//! to the test executable (`target/<profile>/`). A scenario fails at once, saying what to
//! run, when one is missing or older than its sources: testing a stale build would
//! measure code that is not the code under test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use tokio::process::{Child, Command};

/// The API token posts-service is started with.
pub const API_TOKEN: &str = "fault-suite-api-token";
/// The admin's user name in render-service.
pub const ADMIN_USER: &str = "admin";
/// The admin's password in render-service.
pub const ADMIN_PASSWORD: &str = "fault-suite-admin-password";
const SESSION_SECRET: &str = "fault-suite-session-secret-0123456789abcdef";

/// The repository's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The path of the workspace binary `name`, checked to exist and to be newer than its
/// sources.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/<profile>/deps/suite-… → target/<profile>/
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    let build = "build the services first: `cargo test --workspace --no-run` \
                 (tests/faults/run.sh does it, then runs the suite)";
    let built = std::fs::metadata(&path)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|_| panic!("{} is missing; {build}", path.display()));
    let root = workspace_root();
    let mut sources = vec![
        root.join("services").join(name),
        root.join("crates/service-runtime"),
        root.join("crates/posts-api"),
        root.join("crates/post-render"),
    ];
    sources.retain(|dir| dir.is_dir());
    if let Some((newest, changed)) = newest_file(&sources) {
        assert!(
            changed <= built,
            "{} is older than {}; {build}",
            path.display(),
            newest.display()
        );
    }
    path
}

/// The most recently changed source file under `dirs` (skipping `tests/` and `target/`).
fn newest_file(dirs: &[PathBuf]) -> Option<(PathBuf, SystemTime)> {
    let mut newest: Option<(PathBuf, SystemTime)> = None;
    let mut pending: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                let name = entry.file_name();
                if name != "tests" && name != "target" {
                    pending.push(path);
                }
            } else if let Ok(changed) = meta.modified() {
                if newest.as_ref().is_none_or(|(_, time)| changed > *time) {
                    newest = Some((path, changed));
                }
            }
        }
    }
    newest
}

/// A port nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free local port")
}

/// One scenario: a name, and a directory for the logs of the processes it starts.
/// When dropped, it prints how long it took.
pub struct Scenario {
    name: &'static str,
    logs: PathBuf,
    started: Instant,
}

impl Drop for Scenario {
    fn drop(&mut self) {
        crate::measure::figure(
            self.name,
            format!(
                "scenario took {:.1} s",
                self.started.elapsed().as_secs_f64()
            ),
        );
    }
}

impl Scenario {
    /// A scenario whose logs go to `artifacts/faults/<name>/`.
    pub fn new(name: &'static str) -> Scenario {
        let logs = workspace_root().join("artifacts/faults").join(name);
        std::fs::create_dir_all(&logs).expect("cannot create the log directory");
        Scenario {
            name,
            logs,
            started: Instant::now(),
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Starts posts-service over `database_url` (not waiting for it), with `extra`
    /// variables on top of the required ones. It reaches MariaDB over TLS, verifying the
    /// server against the suite's CA, and serves HTTPS ([`crate::tls`]).
    pub fn posts_service(&self, database_url: &str, extra: &[(&str, &str)]) -> Service {
        let certs = crate::tls::certs();
        let mut env = vec![
            ("DATABASE_URL", database_url.to_owned()),
            ("API_TOKEN", API_TOKEN.to_owned()),
            ("DATABASE_TLS", "true".to_owned()),
            ("DATABASE_CA_FILE", path_text(&certs.ca_file())),
            ("TLS_CERT_FILE", path_text(&certs.posts.cert_file)),
            ("TLS_KEY_FILE", path_text(&certs.posts.key_file)),
        ];
        env.extend(
            extra
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        Service::spawn("posts-service", "https", &self.logs, env)
    }

    /// Starts render-service in front of `posts_url` (not waiting for it), an `https`
    /// URL it trusts through the suite's CA.
    pub fn render_service(&self, posts_url: &str, extra: &[(&str, &str)]) -> Service {
        let mut env = vec![
            ("POSTS_SERVICE_URL", posts_url.to_owned()),
            ("POSTS_CA_FILE", path_text(&crate::tls::certs().ca_file())),
            ("POSTS_API_TOKEN", API_TOKEN.to_owned()),
            ("ADMIN_USER", ADMIN_USER.to_owned()),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("SESSION_SECRET", SESSION_SECRET.to_owned()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        Service::spawn("render-service", "http", &self.logs, env)
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// A running service process; killed when dropped (thawed first if frozen, since
/// SIGKILL works on a stopped process too).
pub struct Service {
    name: &'static str,
    child: Child,
    /// Its public listener.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:port` (posts-service) or `http://127.0.0.1:port`.
    pub url: String,
    /// Its `/metrics`.
    pub metrics_url: String,
    /// Its log (text format).
    pub log: PathBuf,
}

impl Service {
    fn spawn(name: &'static str, scheme: &str, logs: &Path, env: Vec<(&str, String)>) -> Service {
        let binary = binary(name);
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("cannot open the service log");
        let stdout = file.try_clone().expect("cannot share the log file");
        let child = Command::new(&binary)
            .env_clear()
            .env("LISTEN_ADDR", addr.to_string())
            .env("METRICS_ADDR", metrics_addr.to_string())
            .env("LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        Service {
            name,
            child,
            addr,
            url: format!("{scheme}://{addr}"),
            metrics_url: format!("http://{metrics_addr}/metrics"),
            log,
        }
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process has not been reaped")
    }

    /// Sends `signal` (`STOP`, `CONT`, `TERM`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill -s {signal} {} failed", self.name);
    }

    /// Whether the process still runs (a frozen one does).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("cannot wait for the process"))
    }

    /// Polls `path` until it answers `status`; how long that took. Fails with the log's
    /// tail after `limit`, or at once when the process exits.
    pub async fn wait_for(&mut self, path: &str, status: StatusCode, limit: Duration) -> Duration {
        let client = crate::tls::client()
            .timeout(Duration::from_millis(500))
            .build()
            .expect("an HTTP client");
        let started = Instant::now();
        loop {
            let answered = client.get(self.at(path)).send().await;
            if answered.as_ref().map(|response| response.status()).ok() == Some(status) {
                return started.elapsed();
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "{} exited ({exit}) while waiting for {path} to be {status}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            assert!(
                started.elapsed() < limit,
                "{} did not answer {path} with {status} within {limit:?} (last: {answered:?}):\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(25)..].join("\n");
        format!("(last lines of {})\n{tail}", self.log.display())
    }

    /// One metric's value from `/metrics` (its first sample, whatever its labels);
    /// `None` when the service does not export it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = reqwest::get(&self.metrics_url)
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metric_value(&text, name)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // A frozen process dies of SIGKILL too, but thaw it so its log ends cleanly.
            let _ = std::process::Command::new("kill")
                .args(["-s", "CONT", &pid.to_string()])
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// The value of the first sample of metric `name` in a Prometheus text page.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    #[test]
    fn metric_values_are_read_with_or_without_labels() {
        let text = "# HELP render_circuit_state 1 when open\n\
                    render_circuit_state_changes_total 3\n\
                    render_circuit_state{upstream=\"posts-service\"} 1\n";
        assert_eq!(metric_value(text, "render_circuit_state"), Some(1.0));
        assert_eq!(
            metric_value(text, "render_circuit_state_changes_total"),
            Some(3.0)
        );
        assert_eq!(metric_value(text, "render_circuit"), None);
    }
}
