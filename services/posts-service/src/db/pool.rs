//! The connection pool of one database node: `DATABASE_URL` checked, the pool's sizes,
//! and the settings every connection gets, TLS among them (`DATABASE_TLS`,
//! `DATABASE_CA_FILE`).

use std::path::Path;
use std::time::Duration;

use mysql_async::{Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};
use service_runtime::config::ConfigError;

/// Checks `DATABASE_URL` without ever quoting it (it holds a password).
pub fn parse_database_url(url: &str) -> Result<Opts, ConfigError> {
    Opts::from_url(url).map_err(|_| {
        ConfigError::invalid(
            "DATABASE_URL",
            "is not a valid mysql://user:password@host:port/database URL",
        )
    })
}

/// Pool settings, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections kept open when idle.
    pub min: usize,
    /// Most connections opened.
    pub max: usize,
}

/// How connections are encrypted when `DATABASE_TLS` is on: the server's certificate
/// must chain to a CA of `ca_file` (read and checked now, so a bad file stops the start)
/// or, without one, to a public CA; and it must name the host of the database URL.
/// `None` when TLS is off.
pub fn ssl_opts(enabled: bool, ca_file: Option<&Path>) -> Result<Option<SslOpts>, ConfigError> {
    if !enabled {
        return Ok(None);
    }
    // mysql_async builds its TLS configuration from rustls' process-wide default.
    service_runtime::tls::install_default_provider();
    let ssl = SslOpts::default();
    let Some(ca_file) = ca_file else {
        return Ok(Some(ssl));
    };
    service_runtime::tls::root_store("DATABASE_CA_FILE", ca_file)?;
    let pem = std::fs::read(ca_file).map_err(|err| {
        ConfigError::invalid(
            "DATABASE_CA_FILE",
            format_args!(
                "names a file that cannot be read ({}): {}",
                ca_file.display(),
                err.kind()
            ),
        )
    })?;
    Ok(Some(
        ssl.with_root_certs(vec![pem.into()])
            .with_disable_built_in_roots(true),
    ))
}

/// Builds the pool, over TLS with `ssl` when set. Connections are opened lazily, so
/// this succeeds while the database is down; the service then answers 503 until it is
/// back.
pub fn connect(
    url: &str,
    settings: PoolSettings,
    ssl: Option<&SslOpts>,
) -> Result<Pool, ConfigError> {
    connect_node(url, settings, false, ssl)
}

/// As [`connect`], for one node of a Galera Cluster when `cluster`: every connection
/// also sets `wsrep_sync_wait = 1`, so a read waits for the writes the cluster committed
/// before it (read-your-writes after a change of writer; 0 on a server without Galera).
pub fn connect_node(
    url: &str,
    settings: PoolSettings,
    cluster: bool,
    ssl: Option<&SslOpts>,
) -> Result<Pool, ConfigError> {
    let opts = parse_database_url(url)?;
    let constraints = PoolConstraints::new(settings.min, settings.max)
        .ok_or_else(|| ConfigError::invalid("DB_POOL_MIN", "must not exceed DB_POOL_MAX"))?;
    let pool_opts = PoolOpts::default()
        .with_constraints(constraints)
        // The default resets every connection on return, which also drops its prepared
        // statements: every query would be prepared again. We keep no session state, so
        // skipping the reset is safe and keeps the statement cache warm.
        .with_reset_connection(false)
        .with_inactive_connection_ttl(Duration::from_secs(60))
        .with_ttl_check_interval(Duration::from_secs(30));
    let opts = OptsBuilder::from_opts(opts)
        .pool_opts(pool_opts)
        .stmt_cache_size(32)
        // mysql_async otherwise asks the server for its socket path and reconnects
        // through it, which never applies to a database in another container.
        .prefer_socket(false)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(Duration::from_secs(10)))
        .ssl_opts(ssl.cloned())
        // Timestamps are written with UTC_TIMESTAMP(); this keeps NOW() honest too.
        .init(if cluster {
            vec![
                "SET time_zone = '+00:00'",
                "SET SESSION wsrep_sync_wait = IF(@@wsrep_on, 1, 0)",
            ]
        } else {
            vec!["SET time_zone = '+00:00'"]
        });
    Ok(Pool::new(opts))
}
