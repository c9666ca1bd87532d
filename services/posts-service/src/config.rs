//! posts-service configuration, read once from the environment at start.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use service_runtime::config::{self, ConfigError, DefaultPorts, Secret, ServerConfig};
use service_runtime::telemetry::LogConfig;

use crate::rerender::RerenderSettings;

/// Where the service listens when `LISTEN_ADDR` and `METRICS_ADDR` are unset.
pub const DEFAULT_PORTS: DefaultPorts = DefaultPorts {
    listen: 8081,
    metrics: 9081,
};

/// Everything the service can be told. Field names are the variables' names in lower
/// case; `docs/configuration.md` lists them with their defaults (a test holds it to this
/// struct). Its `Debug` output hides the secrets.
#[derive(Clone, Deserialize)]
pub struct Config {
    /// `LISTEN_ADDR`, `METRICS_ADDR`, `MAX_CONNECTIONS`, `RUST_LOG`, `LOG_FORMAT`: read by
    /// [`ServerConfig::from_iter`] in [`Config::from_vars`], not by this struct's serde.
    #[serde(skip, default = "default_server")]
    pub server: ServerConfig,
    /// `mysql://user:password@host:3306/blog`; after [`Config::from_env`], with
    /// `DATABASE_PASSWORD` in it when that is set.
    pub database_url: String,
    /// The database password, when it is kept apart from the URL (in Kubernetes, the
    /// one Secret MariaDB reads too): replaces the password of `DATABASE_URL`.
    pub database_password: Option<Secret>,
    /// `DATABASE_URLS`: the nodes of a Galera Cluster, comma-separated `mysql://` URLs;
    /// when set, it replaces `DATABASE_URL` ([`crate::db::nodes`]). After
    /// [`Config::from_env`], with `DATABASE_PASSWORD` in each URL when that is set.
    #[serde(default)]
    pub database_urls: Option<String>,
    /// `DATABASE_TLS`: connect to the database over TLS, checking its certificate and
    /// host name ([`crate::db::ssl_opts`]).
    #[serde(default)]
    pub database_tls: bool,
    /// `DATABASE_CA_FILE`: the CA certificates (PEM) the database's certificate must
    /// chain to, with `DATABASE_TLS`.
    #[serde(default)]
    pub database_ca_file: Option<PathBuf>,
    /// The bearer token that writes must carry.
    pub api_token: Secret,
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
    /// `MIGRATION_DATABASE_USER`: the account that applies migrations (it may change the
    /// schema), in place of `DATABASE_URL`'s, whose account then needs only
    /// SELECT/INSERT/UPDATE/DELETE. Unset: migrations use `DATABASE_URL`'s account.
    #[serde(default)]
    pub migration_database_user: Option<String>,
    /// `MIGRATION_DATABASE_PASSWORD`: that account's password (set with the user).
    #[serde(default)]
    pub migration_database_password: Option<Secret>,
    /// Most posts a second the background re-render renders and stores, when posts were
    /// rendered by older rules ([`crate::rerender`]).
    #[serde(default = "default_rerender_rows_per_second")]
    pub rerender_rows_per_second: u32,
    /// Posts the background re-render reads, renders and stores in one batch (one short
    /// transaction).
    #[serde(default = "default_rerender_batch_rows")]
    pub rerender_batch_rows: u32,
    /// Most searches run at once (`GET /v1/search`); more wait for a turn, at most
    /// half of `SEARCH_TIMEOUT_MS`, then get a 503.
    #[serde(default = "default_search_concurrency")]
    pub search_concurrency: usize,
    /// MariaDB stops a search statement after this long (`max_statement_time`); less
    /// than `DB_TIMEOUT_MS`, so the server stops the work before the service gives up.
    #[serde(default = "default_search_timeout_ms")]
    pub search_timeout_ms: u64,
    /// `ADMIN_USER`: the username of the first owner, made at start when there is no
    /// account yet (with `ADMIN_PASSWORD`); ignored once accounts exist. Read in lower
    /// case.
    #[serde(default)]
    pub admin_user: Option<String>,
    /// `ADMIN_PASSWORD`: the first owner's password (set with `ADMIN_USER`).
    #[serde(default)]
    pub admin_password: Option<Secret>,
}

fn default_server() -> ServerConfig {
    ServerConfig::defaults(DEFAULT_PORTS)
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
fn default_rerender_rows_per_second() -> u32 {
    1000
}
fn default_rerender_batch_rows() -> u32 {
    100
}
fn default_search_concurrency() -> usize {
    4
}
fn default_search_timeout_ms() -> u64 {
    1000
}

impl Config {
    /// Reads and checks the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// What [`Config::from_env`] does, for the given variables.
    pub fn from_vars<I>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut config: Config = config::from_iter(vars.iter().cloned())?;
        config.server = ServerConfig::from_iter(vars, DEFAULT_PORTS)?;
        config.validated()
    }

    /// Defaults for everything but the two required values, listening on a random
    /// loopback port: what tests start.
    pub fn new(database_url: impl Into<String>, api_token: impl Into<String>) -> Config {
        Config {
            server: ServerConfig::local(),
            database_url: database_url.into(),
            database_password: None,
            database_urls: None,
            database_tls: false,
            database_ca_file: None,
            api_token: Secret::new(api_token),
            db_pool_min: default_db_pool_min(),
            db_pool_max: default_db_pool_max(),
            db_timeout_ms: default_db_timeout_ms(),
            migrate_on_start: true,
            migration_database_user: None,
            migration_database_password: None,
            rerender_rows_per_second: default_rerender_rows_per_second(),
            rerender_batch_rows: default_rerender_batch_rows(),
            search_concurrency: default_search_concurrency(),
            search_timeout_ms: default_search_timeout_ms(),
            admin_user: None,
            admin_password: None,
        }
    }

    /// The first owner's username and password, when both are set.
    pub fn first_owner(&self) -> Option<(&str, &str)> {
        match (self.admin_user.as_deref(), self.admin_password.as_ref()) {
            (Some(user), Some(password)) => Some((user, password.expose())),
            _ => None,
        }
    }

    /// The background re-render's pace.
    pub fn rerender(&self) -> RerenderSettings {
        RerenderSettings {
            rows_per_second: self.rerender_rows_per_second,
            batch_rows: self.rerender_batch_rows,
        }
    }

    /// How long a search may run (it waits for its turn at most half as long).
    pub fn search_timeout(&self) -> Duration {
        Duration::from_millis(self.search_timeout_ms)
    }

    /// The bound on one database operation.
    pub fn db_timeout(&self) -> Duration {
        Duration::from_millis(self.db_timeout_ms)
    }

    /// The database nodes as the migration account reaches them
    /// (`MIGRATION_DATABASE_USER`), or `None` when migrations use the service's account.
    pub fn migration_node_urls(&self) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(user) = self.migration_database_user.as_deref() else {
            return Ok(None);
        };
        self.database_node_urls()?
            .iter()
            .map(|url| as_account(url, user, self.migration_database_password.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// How connections to the database are encrypted: `None` without `DATABASE_TLS`.
    /// Reads `DATABASE_CA_FILE`; errors name it.
    pub fn database_ssl(&self) -> Result<Option<mysql_async::SslOpts>, ConfigError> {
        crate::db::ssl_opts(self.database_tls, self.database_ca_file.as_deref())
    }

    /// The database nodes: those of `DATABASE_URLS` when it is set, else the one of
    /// `DATABASE_URL`.
    pub fn database_node_urls(&self) -> Result<Vec<String>, ConfigError> {
        match self.database_urls.as_deref() {
            Some(list) => crate::db::nodes::parse_database_urls(list),
            None => Ok(vec![self.database_url.clone()]),
        }
    }

    fn validated(mut self) -> Result<Config, ConfigError> {
        if self.api_token.expose().trim().is_empty() {
            return Err(ConfigError::invalid("API_TOKEN", "must not be empty"));
        }
        if self.db_pool_max == 0 || self.db_pool_min > self.db_pool_max {
            return Err(ConfigError::invalid(
                "DB_POOL_MAX",
                "must be at least 1 and at least DB_POOL_MIN",
            ));
        }
        if self.rerender_rows_per_second == 0 {
            return Err(ConfigError::invalid(
                "RERENDER_ROWS_PER_SECOND",
                "must be at least 1",
            ));
        }
        if !(1..=1_000).contains(&self.rerender_batch_rows) {
            return Err(ConfigError::invalid(
                "RERENDER_BATCH_ROWS",
                "must be from 1 to 1000",
            ));
        }
        if self.db_timeout_ms == 0 {
            return Err(ConfigError::invalid("DB_TIMEOUT_MS", "must be at least 1"));
        }
        if self.search_concurrency == 0 {
            return Err(ConfigError::invalid(
                "SEARCH_CONCURRENCY",
                "must be at least 1",
            ));
        }
        if self.search_timeout_ms == 0 || self.search_timeout_ms >= self.db_timeout_ms {
            return Err(ConfigError::invalid(
                "SEARCH_TIMEOUT_MS",
                "must be at least 1 and less than DB_TIMEOUT_MS",
            ));
        }
        check_database_tls(self.database_tls, self.database_ca_file.is_some())?;
        self.admin_user = self.admin_user.map(|user| user.to_ascii_lowercase());
        check_first_owner(self.admin_user.as_deref(), self.admin_password.as_ref())?;
        self.database_url = with_password(&self.database_url, self.database_password.as_ref())?;
        crate::db::parse_database_url(&self.database_url)?;
        check_migration_account(
            self.migration_database_user.as_deref(),
            self.migration_database_password.as_ref(),
        )?;
        if let Some(list) = self.database_urls.take() {
            let urls = crate::db::nodes::parse_database_urls(&list)?
                .iter()
                .map(|url| {
                    with_password(url, self.database_password.as_ref()).map_err(|_| {
                        ConfigError::invalid(
                            "DATABASE_URLS",
                            "has an entry without a user and host for DATABASE_PASSWORD to apply to",
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.database_urls = Some(urls.join(","));
        }
        Ok(self)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("database_url", &redacted_url(&self.database_url))
            .field("database_password", &self.database_password)
            .field("database_tls", &self.database_tls)
            .field("database_ca_file", &self.database_ca_file)
            .field(
                "database_urls",
                &self
                    .database_urls
                    .as_ref()
                    .map(|list| list.split(',').map(redacted_url).collect::<Vec<_>>()),
            )
            .field("api_token", &self.api_token)
            .field("db_pool_min", &self.db_pool_min)
            .field("db_pool_max", &self.db_pool_max)
            .field("db_timeout_ms", &self.db_timeout_ms)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("migration_database_user", &self.migration_database_user)
            .field(
                "migration_database_password",
                &self.migration_database_password,
            )
            .field("rerender_rows_per_second", &self.rerender_rows_per_second)
            .field("rerender_batch_rows", &self.rerender_batch_rows)
            .field("search_concurrency", &self.search_concurrency)
            .field("search_timeout_ms", &self.search_timeout_ms)
            .field("admin_user", &self.admin_user)
            .field("admin_password", &self.admin_password)
            .finish_non_exhaustive()
    }
}

/// `DATABASE_CA_FILE` means nothing without `DATABASE_TLS`: refuse it rather than let
/// an operator believe the connections are checked.
fn check_database_tls(enabled: bool, ca_file: bool) -> Result<(), ConfigError> {
    if ca_file && !enabled {
        return Err(ConfigError::invalid(
            "DATABASE_CA_FILE",
            "is set but DATABASE_TLS is not true: set DATABASE_TLS=true, or unset it",
        ));
    }
    Ok(())
}

/// What `Debug` shows instead of the password of a URL.
const REDACTED: &str = "redacted";

/// `url` with its password replaced by `password` (percent-encoded as a URL needs),
/// or `url` as it is when there is no `password`. Errors never quote either.
fn with_password(url: &str, password: Option<&Secret>) -> Result<String, ConfigError> {
    let Some(password) = password.map(Secret::expose) else {
        return Ok(url.to_owned());
    };
    if password.is_empty() {
        return Err(ConfigError::invalid(
            "DATABASE_PASSWORD",
            "must not be empty when set",
        ));
    }
    let mut parsed = url::Url::parse(url).map_err(|_| {
        ConfigError::invalid(
            "DATABASE_URL",
            "is not a valid mysql://user@host:port/database URL",
        )
    })?;
    parsed.set_password(Some(password)).map_err(|()| {
        ConfigError::invalid(
            "DATABASE_URL",
            "must name a user and host for DATABASE_PASSWORD to apply to",
        )
    })?;
    Ok(parsed.into())
}

/// The migration account's variables go together, and neither may be blank.
fn check_migration_account(
    user: Option<&str>,
    password: Option<&Secret>,
) -> Result<(), ConfigError> {
    match (user, password) {
        (None, None) => Ok(()),
        (Some(user), _) if user.trim().is_empty() => Err(ConfigError::invalid(
            "MIGRATION_DATABASE_USER",
            "must not be empty when set",
        )),
        (Some(_), Some(password)) if password.expose().is_empty() => Err(ConfigError::invalid(
            "MIGRATION_DATABASE_PASSWORD",
            "must not be empty when set",
        )),
        (Some(_), Some(_)) => Ok(()),
        (Some(_), None) => Err(ConfigError::invalid(
            "MIGRATION_DATABASE_USER",
            "is set without MIGRATION_DATABASE_PASSWORD (or MIGRATION_DATABASE_PASSWORD_FILE)",
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            "MIGRATION_DATABASE_PASSWORD",
            "is set without MIGRATION_DATABASE_USER",
        )),
    }
}

/// `ADMIN_USER` and `ADMIN_PASSWORD` go together; the user must be a valid username
/// (once in lower case) and the password not empty. The password rules for accounts
/// are not applied here: an existing deployment's admin password must keep working
/// (a weak one is warned about when the owner is made).
fn check_first_owner(user: Option<&str>, password: Option<&Secret>) -> Result<(), ConfigError> {
    match (user, password) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(ConfigError::invalid(
            "ADMIN_USER",
            "is set without ADMIN_PASSWORD (or ADMIN_PASSWORD_FILE)",
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            "ADMIN_PASSWORD",
            "is set without ADMIN_USER",
        )),
        (Some(user), Some(_)) if posts_api::account::username_problem(user).is_some() => {
            Err(ConfigError::invalid(
                "ADMIN_USER",
                "must be 1 to 32 characters of a-z, 0-9, _, . and -",
            ))
        }
        (Some(_), Some(password)) if password.expose().is_empty() => Err(ConfigError::invalid(
            "ADMIN_PASSWORD",
            "must not be empty when set",
        )),
        (Some(_), Some(_)) => Ok(()),
    }
}

/// `url` with `user` and `password` as its account (the host, port and database kept).
/// Errors never quote the URL or the password.
fn as_account(url: &str, user: &str, password: Option<&Secret>) -> Result<String, ConfigError> {
    let mut parsed = url::Url::parse(url).map_err(|_| {
        ConfigError::invalid(
            "DATABASE_URL",
            "is not a valid mysql://user@host:port/database URL",
        )
    })?;
    let account = parsed
        .set_username(user)
        .and_then(|()| parsed.set_password(password.map(Secret::expose)));
    account.map_err(|()| {
        ConfigError::invalid(
            "DATABASE_URL",
            "must name a host for MIGRATION_DATABASE_USER to apply to",
        )
    })?;
    Ok(parsed.into())
}

/// `url` with any password replaced by [`REDACTED`], for `Debug`.
fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some(REDACTED));
            parsed.into()
        }
        Ok(parsed) => parsed.into(),
        Err(_) => REDACTED.to_owned(),
    }
}

/// What `posts-service migrate` needs: only the database.
#[derive(Clone, Deserialize)]
pub struct MigrateConfig {
    /// As [`Config::database_url`].
    pub database_url: String,
    /// As [`Config::database_password`].
    pub database_password: Option<Secret>,
    /// As [`Config::migration_database_user`].
    #[serde(default)]
    pub migration_database_user: Option<String>,
    /// As [`Config::migration_database_password`].
    #[serde(default)]
    pub migration_database_password: Option<Secret>,
    /// As [`Config::database_tls`].
    #[serde(default)]
    pub database_tls: bool,
    /// As [`Config::database_ca_file`].
    #[serde(default)]
    pub database_ca_file: Option<PathBuf>,
    /// `RUST_LOG` and `LOG_FORMAT`, read by a second pass in [`MigrateConfig::from_vars`]
    /// as [`ServerConfig`] reads them.
    #[serde(skip)]
    pub log: LogConfig,
}

impl MigrateConfig {
    /// Reads and checks the process environment.
    pub fn from_env() -> Result<MigrateConfig, ConfigError> {
        MigrateConfig::from_vars(std::env::vars())
    }

    /// What [`MigrateConfig::from_env`] does, for the given variables.
    pub fn from_vars<I>(vars: I) -> Result<MigrateConfig, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut migrate: MigrateConfig = config::from_iter(vars.iter().cloned())?;
        migrate.log = config::from_iter(vars)?;
        migrate.validated()
    }

    /// As [`Config::database_ssl`].
    pub fn database_ssl(&self) -> Result<Option<mysql_async::SslOpts>, ConfigError> {
        crate::db::ssl_opts(self.database_tls, self.database_ca_file.as_deref())
    }

    fn validated(mut self) -> Result<MigrateConfig, ConfigError> {
        check_database_tls(self.database_tls, self.database_ca_file.is_some())?;
        self.database_url = with_password(&self.database_url, self.database_password.as_ref())?;
        crate::db::parse_database_url(&self.database_url)?;
        check_migration_account(
            self.migration_database_user.as_deref(),
            self.migration_database_password.as_ref(),
        )?;
        Ok(self)
    }

    /// The URL migrations are applied through: `DATABASE_URL` with the migration
    /// account in it when `MIGRATION_DATABASE_USER` is set.
    pub fn migration_url(&self) -> Result<String, ConfigError> {
        match self.migration_database_user.as_deref() {
            Some(user) => as_account(
                &self.database_url,
                user,
                self.migration_database_password.as_ref(),
            ),
            None => Ok(self.database_url.clone()),
        }
    }
}

impl fmt::Debug for MigrateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrateConfig")
            .field("database_url", &redacted_url(&self.database_url))
            .field("database_password", &self.database_password)
            .field("migration_database_user", &self.migration_database_user)
            .field(
                "migration_database_password",
                &self.migration_database_password,
            )
            .field("database_tls", &self.database_tls)
            .field("database_ca_file", &self.database_ca_file)
            .field("log", &self.log)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_apply_when_only_required_variables_are_set() {
        let config = load(&[
            ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
            ("API_TOKEN", "t0ken"),
        ])
        .unwrap();
        assert_eq!(config.server.listen_addr.to_string(), "0.0.0.0:8081");
        assert_eq!(config.server.metrics_addr.to_string(), "0.0.0.0:9081");
        assert_eq!(
            config.server.log.log_format,
            service_runtime::telemetry::LogFormat::Json
        );
        assert!(config.migrate_on_start);
    }

    #[test]
    fn migrations_use_their_own_account_when_one_is_given() {
        let base = [
            ("DATABASE_URL", "mysql://blog:runtime@db:3306/blog"),
            ("API_TOKEN", "t0ken"),
        ];
        let config = load(&base).unwrap();
        assert_eq!(config.migration_node_urls().unwrap(), None);
        let mut vars = base.to_vec();
        vars.extend([
            ("MIGRATION_DATABASE_USER", "blog_migrate"),
            ("MIGRATION_DATABASE_PASSWORD", "ddl-secret"),
        ]);
        let config = load(&vars).unwrap();
        assert_eq!(
            config.migration_node_urls().unwrap(),
            Some(vec![
                "mysql://blog_migrate:ddl-secret@db:3306/blog".to_owned()
            ])
        );
        assert_eq!(config.database_url, "mysql://blog:runtime@db:3306/blog");
        let debug = format!("{config:?}");
        assert!(!debug.contains("ddl-secret"), "{debug}");
        let migrate =
            MigrateConfig::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .unwrap();
        assert_eq!(
            migrate.migration_url().unwrap(),
            "mysql://blog_migrate:ddl-secret@db:3306/blog"
        );
    }

    #[test]
    fn a_migration_account_needs_both_its_user_and_its_password() {
        for (name, value, named) in [
            (
                "MIGRATION_DATABASE_USER",
                "blog_migrate",
                "MIGRATION_DATABASE_USER",
            ),
            (
                "MIGRATION_DATABASE_PASSWORD",
                "ddl-secret",
                "MIGRATION_DATABASE_PASSWORD",
            ),
        ] {
            let err = load(&[
                ("DATABASE_URL", "mysql://blog:runtime@db:3306/blog"),
                ("API_TOKEN", "t0ken"),
                (name, value),
            ])
            .unwrap_err()
            .to_string();
            assert!(err.contains(named), "{err}");
            assert!(!err.contains("ddl-secret"), "{err}");
        }
    }

    #[test]
    fn the_first_owner_needs_both_its_user_and_its_password() {
        let base = [
            ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
            ("API_TOKEN", "t0ken"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            load(&pairs)
        };
        assert_eq!(with(&[]).unwrap().first_owner(), None);
        let config = with(&[("ADMIN_USER", "Admin"), ("ADMIN_PASSWORD", "pw-of-old")]).unwrap();
        assert_eq!(config.first_owner(), Some(("admin", "pw-of-old")));
        assert!(!format!("{config:?}").contains("pw-of-old"));
        for (extra, variable) in [
            (&[("ADMIN_USER", "admin")][..], "ADMIN_USER"),
            (&[("ADMIN_PASSWORD", "secret")][..], "ADMIN_PASSWORD"),
            (
                &[("ADMIN_USER", "ad min"), ("ADMIN_PASSWORD", "secret")][..],
                "ADMIN_USER",
            ),
            (
                &[("ADMIN_USER", "admin"), ("ADMIN_PASSWORD", "")][..],
                "ADMIN_PASSWORD",
            ),
        ] {
            let err = with(extra).unwrap_err().to_string();
            assert!(err.contains(variable), "{extra:?}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
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
    fn search_bounds_must_leave_the_database_timeout_the_last_word() {
        let config = load(&[("DATABASE_URL", "mysql://blog@db/blog"), ("API_TOKEN", "t")]).unwrap();
        assert_eq!(
            (config.search_concurrency, config.search_timeout_ms),
            (4, 1000)
        );
        for (name, value) in [
            ("SEARCH_CONCURRENCY", "0"),
            ("SEARCH_TIMEOUT_MS", "0"),
            ("SEARCH_TIMEOUT_MS", "1500"),
        ] {
            let err = load(&[
                ("DATABASE_URL", "mysql://blog@db/blog"),
                ("API_TOKEN", "t"),
                (name, value),
            ])
            .unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
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
    fn database_password_replaces_the_urls_password() {
        let password = "p@ss/wörd:%?#";
        let config = load(&[
            ("DATABASE_URL", "mysql://blog:old@db:3306/blog"),
            ("DATABASE_PASSWORD", password),
            ("API_TOKEN", "t"),
        ])
        .unwrap();
        let opts = crate::db::parse_database_url(&config.database_url).unwrap();
        assert_eq!(opts.pass(), Some(password));
        assert_eq!(opts.user(), Some("blog"));
        assert_eq!(opts.ip_or_hostname(), "db");
        assert_eq!(opts.db_name(), Some("blog"));
    }

    #[test]
    fn database_url_alone_keeps_its_password() {
        let config = load(&[
            ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
            ("API_TOKEN", "t"),
        ])
        .unwrap();
        let opts = crate::db::parse_database_url(&config.database_url).unwrap();
        assert_eq!(opts.pass(), Some("secret"));
    }

    #[test]
    fn empty_database_password_is_named() {
        let err = load(&[
            ("DATABASE_URL", "mysql://blog@db/blog"),
            ("DATABASE_PASSWORD", ""),
            ("API_TOKEN", "t"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("DATABASE_PASSWORD"), "{err}");
    }

    #[test]
    fn debug_output_hides_every_secret() {
        let config = load(&[
            ("DATABASE_URL", "mysql://blog:url-secret@db:3306/blog"),
            ("API_TOKEN", "token-secret"),
        ])
        .unwrap();
        let with_password = load(&[
            ("DATABASE_URL", "mysql://blog@db:3306/blog"),
            ("DATABASE_PASSWORD", "password-secret"),
            ("API_TOKEN", "token-secret"),
        ])
        .unwrap();
        let migrate = MigrateConfig::from_vars([
            ("DATABASE_URL".to_owned(), "mysql://blog@db/blog".to_owned()),
            ("DATABASE_PASSWORD".to_owned(), "password-secret".to_owned()),
        ])
        .unwrap();
        for shown in [
            format!("{config:?}"),
            format!("{with_password:?}"),
            format!("{migrate:?}"),
        ] {
            for secret in ["url-secret", "token-secret", "password-secret"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            assert!(
                shown.contains("db:3306") || shown.contains("@db/"),
                "{shown}"
            );
        }
    }

    #[test]
    fn database_urls_lists_the_nodes_each_with_the_password_and_none_in_debug() {
        let config = load(&[
            ("DATABASE_URL", "mysql://blog@db-1:3306/blog"),
            (
                "DATABASE_URLS",
                "mysql://blog@db-1:3306/blog, mysql://blog@db-2:3306/blog,mysql://blog@db-3:3306/blog",
            ),
            ("DATABASE_PASSWORD", "node-secret"),
            ("API_TOKEN", "t"),
        ])
        .unwrap();
        let urls = config.database_node_urls().unwrap();
        assert_eq!(urls.len(), 3);
        for (url, host) in urls.iter().zip(["db-1", "db-2", "db-3"]) {
            let opts = crate::db::parse_database_url(url).unwrap();
            assert_eq!(opts.pass(), Some("node-secret"));
            assert_eq!(opts.ip_or_hostname(), host);
        }
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("node-secret") && shown.contains("db-3:3306"),
            "{shown}"
        );
    }

    #[test]
    fn without_database_urls_the_one_node_is_database_url() {
        let config = load(&[
            ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
            ("API_TOKEN", "t"),
        ])
        .unwrap();
        assert_eq!(
            config.database_node_urls().unwrap(),
            vec!["mysql://blog:secret@db:3306/blog".to_owned()]
        );
    }

    #[test]
    fn a_malformed_node_list_is_named_without_its_passwords() {
        for list in [
            "",
            "mysql://blog:hunter2@db-1/blog,postgres://blog:hunter2@db-2/blog",
        ] {
            let err = load(&[
                ("DATABASE_URL", "mysql://blog@db-1/blog"),
                ("DATABASE_URLS", list),
                ("API_TOKEN", "t"),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("DATABASE_URLS") && !err.contains("hunter2"),
                "{err}"
            );
        }
    }

    #[test]
    fn database_tls_is_off_by_default_and_a_ca_file_needs_it() {
        let base = [
            ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
            ("API_TOKEN", "t"),
        ];
        let config = load(&base).unwrap();
        assert!(!config.database_tls);
        assert!(config.database_ssl().unwrap().is_none());

        let err = load(&[base[0], base[1], ("DATABASE_CA_FILE", "/certs/ca.pem")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DATABASE_CA_FILE is set but DATABASE_TLS is not true"),
            "{err}"
        );
        let err = MigrateConfig::from_vars([
            ("DATABASE_URL".to_owned(), "mysql://blog@db/blog".to_owned()),
            ("DATABASE_CA_FILE".to_owned(), "/certs/ca.pem".to_owned()),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("DATABASE_CA_FILE is set"), "{err}");

        // without a CA file, TLS checks the certificate against the public CAs
        let config = load(&[base[0], base[1], ("DATABASE_TLS", "true")]).unwrap();
        let ssl = config.database_ssl().unwrap().expect("TLS on");
        assert!(!ssl.disable_built_in_roots());
        assert!(!ssl.accept_invalid_certs() && !ssl.skip_domain_validation());
    }

    #[test]
    fn an_unreadable_database_ca_file_is_named() {
        let missing = std::env::temp_dir().join("posts-service-no-such-ca.pem");
        let config = load(&[
            ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
            ("API_TOKEN", "t"),
            ("DATABASE_TLS", "true"),
            ("DATABASE_CA_FILE", missing.to_str().unwrap()),
        ])
        .unwrap();
        let err = config.database_ssl().unwrap_err().to_string();
        assert!(
            err.contains("DATABASE_CA_FILE names a file that cannot be read"),
            "{err}"
        );
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

    /// The configuration reference, held to [`Config`] and [`MigrateConfig`].
    const REFERENCE: &str = include_str!("../../../docs/configuration.md");

    #[test]
    fn configuration_reference_lists_every_variable_with_its_default() {
        let mut variables = config::variables::<Config>();
        variables.extend(ServerConfig::variables());
        for name in config::variables::<MigrateConfig>() {
            if !variables.contains(&name) {
                variables.push(name);
            }
        }
        let problems = service_runtime::reference::check(
            REFERENCE,
            &["Both services", "posts-service"],
            &variables,
            &[
                ("DATABASE_URL", "mysql://blog:secret@db:3306/blog"),
                ("API_TOKEN", "t0ken"),
            ],
            |mut vars| {
                // The migration account's password is read only with its user.
                let password = vars
                    .iter()
                    .any(|(name, _)| name.starts_with("MIGRATION_DATABASE_PASSWORD"));
                let user = vars
                    .iter()
                    .any(|(name, _)| name == "MIGRATION_DATABASE_USER");
                if password && !user {
                    vars.push(("MIGRATION_DATABASE_USER".into(), "blog_migrate".into()));
                }
                // So is the first owner's.
                let admin_password = vars
                    .iter()
                    .any(|(name, _)| name.starts_with("ADMIN_PASSWORD"));
                let admin_user = vars.iter().any(|(name, _)| name == "ADMIN_USER");
                if admin_password && !admin_user {
                    vars.push(("ADMIN_USER".into(), "owner".into()));
                }
                if admin_user && !admin_password {
                    vars.push(("ADMIN_PASSWORD".into(), "a long passphrase".into()));
                }
                Config::from_vars(vars).map(|config| format!("{config:?}"))
            },
        );
        assert!(
            problems.is_empty(),
            "docs/configuration.md disagrees with posts-service:\n{}",
            problems.join("\n")
        );
    }
}
