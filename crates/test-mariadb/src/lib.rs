//! Throwaway MariaDB for integration tests.
//!
//! # Layout
//!
//! - [`MariaDb`]: one `mariadb:10.11` container started through testcontainers-modules,
//!   handing out a fresh, empty database per test ([`MariaDb::fresh_database`]) so tests
//!   never see each other's rows; [`MariaDb::start_with_tls`] starts one that accepts
//!   only TLS connections.
//! - [`harness`]: runs a test binary's async cases on one Tokio runtime with one shared
//!   container, reports like `cargo test` (libtest-mimic), and removes the container when
//!   the run ends, pass or fail. Containers carry the label [`LABEL`] so CI can remove
//!   what a killed run left behind.
//! - [`tls`]: a throwaway CA and server certificates for tests of TLS between the parts.
//!
//! The image is never pulled here: `deploy/build-images.sh` builds it from Debian
//! packages where no registry is reachable.

pub mod harness;
pub mod tls;

use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, SslOpts};
use testcontainers_modules::mariadb::Mariadb;
use testcontainers_modules::testcontainers::core::{ContainerPort, IntoContainerPort};
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

/// The MariaDB version every deployment runs.
pub const MARIADB_TAG: &str = "10.11";

/// Label put on every test container (`docker ps --filter label=blog-platform.test`).
pub const LABEL: &str = "blog-platform.test";

const MARIADB_PORT: ContainerPort = ContainerPort::Tcp(3306);

/// A running MariaDB container whose root user has no password.
pub struct MariaDb {
    container: ContainerAsync<Mariadb>,
    host_port: u16,
    /// How this crate's own connections reach a server that requires TLS.
    ssl: Option<SslOpts>,
}

/// Where [`MariaDb::start_with_tls`] puts the server's certificate files.
const TLS_DIR: &str = "/etc/mysql/tls";

impl MariaDb {
    /// Starts a container with a random host port.
    pub async fn start() -> MariaDb {
        Self::start_with(Mariadb::default().with_tag(MARIADB_TAG)).await
    }

    /// Starts a container whose host port stays the same across `stop`/`start`, for
    /// tests that take the database away and bring it back.
    pub async fn start_on_fixed_port() -> MariaDb {
        let port = free_local_port();
        Self::start_with(
            Mariadb::default()
                .with_tag(MARIADB_TAG)
                .with_mapped_port(port, 3306.tcp()),
        )
        .await
    }

    /// Starts a container that serves TLS with `cert` (which must name `127.0.0.1`) and
    /// refuses connections without it (`--require-secure-transport=ON`). This crate's
    /// own connections trust only the CA of `ca_file`.
    pub async fn start_with_tls(cert: &tls::ServerCert, ca_file: &Path) -> MariaDb {
        let read = |path: &Path| std::fs::read(path).expect("a certificate file to copy");
        let request = Mariadb::default()
            .with_tag(MARIADB_TAG)
            .with_copy_to(format!("{TLS_DIR}/server.pem"), read(&cert.cert_file))
            .with_copy_to(format!("{TLS_DIR}/server.key"), read(&cert.key_file))
            .with_copy_to(format!("{TLS_DIR}/ca.pem"), read(ca_file));
        // mysql_async builds its TLS configuration from rustls' process-wide default.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let ssl = SslOpts::default()
            .with_root_certs(vec![read(ca_file).into()])
            .with_disable_built_in_roots(true);
        Self::start_with_args(
            request,
            &[
                &format!("--ssl-cert={TLS_DIR}/server.pem"),
                &format!("--ssl-key={TLS_DIR}/server.key"),
                &format!("--ssl-ca={TLS_DIR}/ca.pem"),
                "--require-secure-transport=ON",
            ],
            Some(ssl),
        )
        .await
    }

    async fn start_with(
        request: testcontainers_modules::testcontainers::ContainerRequest<Mariadb>,
    ) -> MariaDb {
        Self::start_with_args(request, &[], None).await
    }

    async fn start_with_args(
        request: testcontainers_modules::testcontainers::ContainerRequest<Mariadb>,
        args: &[&str],
        ssl: Option<SslOpts>,
    ) -> MariaDb {
        // Every test of a binary shares this server, each with a service or two whose
        // pools stay open while it runs: the default 151 connections are not enough.
        let mut cmd = vec!["--max-connections=1000".to_owned()];
        cmd.extend(args.iter().map(|arg| (*arg).to_owned()));
        let container = request
            .with_cmd(cmd)
            .with_label(LABEL, "true")
            .with_startup_timeout(Duration::from_secs(120))
            .start()
            .await
            .expect(
                "cannot start the mariadb:10.11 container; run deploy/build-images.sh first \
                 where no registry is reachable",
            );
        let host_port = container
            .get_host_port_ipv4(MARIADB_PORT)
            .await
            .expect("mariadb container has no mapped port");
        let db = MariaDb {
            container,
            host_port,
            ssl,
        };
        db.wait_until_accepting(Duration::from_secs(60)).await;
        db
    }

    /// The Docker id of the container, for faults the test applies with the `docker` CLI
    /// itself (`docker kill -s KILL`, `docker start`).
    pub fn container_id(&self) -> &str {
        self.container.id()
    }

    /// The host port the server was reachable on when it started. A container started
    /// again by other means than [`MariaDb::restart`] may come back on another one.
    pub fn host_port(&self) -> u16 {
        self.host_port
    }

    /// The URL of the server itself, without a database.
    pub fn server_url(&self) -> String {
        self.url("")
    }

    /// The URL of `database` on this server. `prefer_socket=false`: otherwise
    /// mysql_async, seeing 127.0.0.1, reconnects over the local Unix socket when there is
    /// one, which on a machine with its own MariaDB is *another server*.
    fn url(&self, database: &str) -> String {
        format!(
            "mysql://root@127.0.0.1:{}/{database}?prefer_socket=false",
            self.host_port
        )
    }

    /// How a client reaches this server over TLS (`None` when it does not require TLS):
    /// for connections a test makes to the server at another address (a proxy).
    pub fn ssl_opts(&self) -> Option<SslOpts> {
        self.ssl.clone()
    }

    /// A connection to the server itself (over TLS when it requires it).
    pub async fn connect(&self) -> mysql_async::Result<mysql_async::Conn> {
        let opts = Opts::from_url(&self.server_url()).expect("a valid server URL");
        mysql_async::Conn::new(OptsBuilder::from_opts(opts).ssl_opts(self.ssl.clone())).await
    }

    /// Creates a new empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = self
            .connect()
            .await
            .expect("cannot connect to the test MariaDB");
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        ))
        .await
        .expect("cannot create a test database");
        let _ = conn.disconnect().await;
        self.url(&name)
    }

    /// Stops the container (the server is gone; connections are refused).
    pub async fn stop(&self) {
        self.container
            .stop_with_timeout(Some(5))
            .await
            .expect("cannot stop the MariaDB container");
    }

    /// Starts a stopped container again and waits until it accepts queries.
    pub async fn restart(&self) {
        self.container
            .start()
            .await
            .expect("cannot start the MariaDB container again");
        self.wait_until_accepting(Duration::from_secs(60)).await;
    }

    /// Freezes the server: connections hang instead of failing.
    pub async fn pause(&self) {
        self.container
            .pause()
            .await
            .expect("cannot pause the MariaDB container");
    }

    /// Thaws a paused server.
    pub async fn unpause(&self) {
        self.container
            .unpause()
            .await
            .expect("cannot unpause the MariaDB container");
    }

    /// Removes the container now (rather than when dropped).
    pub async fn remove(self) {
        let _ = self.container.rm().await;
    }

    async fn wait_until_accepting(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(mut conn) = self.connect().await {
                if conn.query_drop("SELECT 1").await.is_ok() {
                    let _ = conn.disconnect().await;
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "MariaDB did not accept connections within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn free_local_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("cannot find a free local port")
}
