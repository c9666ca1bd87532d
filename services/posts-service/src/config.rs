//! posts-service configuration, read once from the environment at start.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use service_runtime::config::{self, ConfigError};
use service_runtime::telemetry::LogFormat;

/// Everything the service can be told. Field names are the variables' names in lower
/// case; the README's configuration table lists them with their defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `mysql://user:password@host:3306/blog`.
    pub database_url: String,
    /// The bearer token that writes must carry.
    pub api_token: String,
    /// Where to listen.
    #[serde(default = "default_listen_addr")]
    pub listen_addr: SocketAddr,
    /// Log filter, `tracing` syntax.
    #[serde(default = "default_rust_log")]
    pub rust_log: String,
    /// `json` or `text`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Connections the pool keeps open even when idle.
    #[serde(default = "default_db_pool_min")]
    pub db_pool_min: usize,
    /// Most connections the pool opens.
    #[serde(default = "default_db_pool_max")]
    pub db_pool_max: usize,
    /// Upper bound, in milliseconds, on one database operation including the wait for a
    /// connection: past it the request gets a 503 instead of hanging.
    #[serde(default = "default_db_timeout_ms")]
    pub db_timeout_ms: u64,
    /// Apply pending migrations at start (under a database lock). Turn off when a
    /// separate `posts-service migrate` job does it.
    #[serde(default = "default_true")]
    pub migrate_on_start: bool,
}

fn default_listen_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8081))
}
fn default_rust_log() -> String {
    "info".to_owned()
}
fn default_db_pool_min() -> usize {
    2
}
fn default_db_pool_max() -> usize {
    16
}
fn default_db_timeout_ms() -> u64 {
    1500
}
fn default_true() -> bool {
    true
}

impl Config {
    /// Reads and checks the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        config::from_env::<Config>()?.validated()
    }

    /// Defaults for everything but the two required values, listening on a random
    /// loopback port: what tests start.
    pub fn new(database_url: impl Into<String>, api_token: impl Into<String>) -> Config {
        Config {
            database_url: database_url.into(),
            api_token: api_token.into(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            rust_log: default_rust_log(),
            log_format: LogFormat::default(),
            db_pool_min: default_db_pool_min(),
            db_pool_max: default_db_pool_max(),
            db_timeout_ms: default_db_timeout_ms(),
            migrate_on_start: true,
        }
    }

    /// The bound on one database operation.
    pub fn db_timeout(&self) -> Duration {
        Duration::from_millis(self.db_timeout_ms)
    }

    fn validated(self) -> Result<Config, ConfigError> {
        if self.api_token.trim().is_empty() {
            return Err(ConfigError::invalid("API_TOKEN", "must not be empty"));
        }
        if self.db_pool_max == 0 || self.db_pool_min > self.db_pool_max {
            return Err(ConfigError::invalid(
                "DB_POOL_MAX",
                "must be at least 1 and at least DB_POOL_MIN",
            ));
        }
        if self.db_timeout_ms == 0 {
            return Err(ConfigError::invalid("DB_TIMEOUT_MS", "must be at least 1"));
        }
        crate::db::parse_database_url(&self.database_url)?;
        Ok(self)
    }
}

/// What `posts-service migrate` needs: only the database.
#[derive(Debug, Clone, Deserialize)]
pub struct MigrateConfig {
    /// As [`Config::database_url`].
    pub database_url: String,
    /// As [`Config::rust_log`].
    #[serde(default = "default_rust_log")]
    pub rust_log: String,
    /// As [`Config::log_format`].
    #[serde(default)]
    pub log_format: LogFormat,
}

impl MigrateConfig {
    /// Reads and checks the process environment.
    pub fn from_env() -> Result<MigrateConfig, ConfigError> {
        let config = config::from_env::<MigrateConfig>()?;
        crate::db::parse_database_url(&config.database_url)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        config::from_iter::<Config, _>(vars)?.validated()
    }

    #[test]
    fn defaults_apply_when_only_required_variables_are_set() {
        let config = load(&[
            ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
            ("API_TOKEN", "t0ken"),
        ])
        .unwrap();
        assert_eq!(config.listen_addr.to_string(), "0.0.0.0:8081");
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.migrate_on_start);
    }

    #[test]
    fn missing_token_names_the_variable() {
        let err = load(&[("DATABASE_URL", "mysql://db/blog")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration error: API_TOKEN is required but not set"
        );
    }

    #[test]
    fn malformed_database_url_is_named_without_its_password() {
        let err = load(&[
            ("DATABASE_URL", "postgres://blog:hunter2@db/blog"),
            ("API_TOKEN", "t"),
        ])
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("DATABASE_URL"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn malformed_listen_addr_is_named() {
        let err = load(&[
            ("DATABASE_URL", "mysql://db/blog"),
            ("API_TOKEN", "t"),
            ("LISTEN_ADDR", "localhost"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("LISTEN_ADDR"), "{err}");
    }

    #[test]
    fn unknown_log_format_is_named() {
        let err = load(&[
            ("DATABASE_URL", "mysql://db/blog"),
            ("API_TOKEN", "t"),
            ("LOG_FORMAT", "xml"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("LOG_FORMAT"), "{err}");
    }
}
