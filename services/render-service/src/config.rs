//! render-service's configuration: every environment variable it reads, in one struct.
//!
//! Read once in `main` with [`Config::from_env`] and passed down. Secrets are wrapped in
//! [`Secret`] so that neither `Debug` output nor an error message can print them.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use service_runtime::config::{ConfigError, DefaultPorts, ServerConfig};

pub use service_runtime::config::Secret;

use crate::circuit::BreakerSettings;
use crate::forwarded::ProxyTrust;
use crate::zone::BlogZone;

/// The longest `SESSION_IDLE_SECS` or `SESSION_LIFETIME_SECS` posts-service keeps.
pub const MAX_SESSION_SECS: u64 = 7 * 24 * 60 * 60;

/// The shortest `SESSION_SECRET` accepted: 256 bits, the HMAC-SHA256 key size.
pub const MIN_SESSION_SECRET_BYTES: usize = 32;

/// The largest `SEARCH_PER_MINUTE` accepted: one search a millisecond.
pub const MAX_SEARCH_PER_MINUTE: u32 = 60_000;

/// Where the service listens when `LISTEN_ADDR` and `METRICS_ADDR` are unset.
pub const DEFAULT_PORTS: DefaultPorts = DefaultPorts {
    listen: 8080,
    metrics: 9080,
};

/// Everything render-service needs to run. Field names are the variable names in lower
/// case; `docs/configuration.md` lists them with their defaults (a test holds it to this
/// struct).
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// `LISTEN_ADDR`, `METRICS_ADDR`, `MAX_CONNECTIONS`, `RUST_LOG`, `LOG_FORMAT`: read by
    /// [`ServerConfig::from_iter`] in [`Config::from_vars`], not by this struct's serde.
    #[serde(skip, default = "default_server")]
    pub server: ServerConfig,
    /// `POSTS_SERVICE_URL`: base URL of posts-service, e.g. `http://posts-service:8081`,
    /// or `https://…` with [`Config::posts_ca_file`].
    pub posts_service_url: String,
    /// `POSTS_CA_FILE`: the CA certificates (PEM) that posts-service's certificate must
    /// chain to; required with an `https` `POSTS_SERVICE_URL`, refused with `http`.
    #[serde(default)]
    pub posts_ca_file: Option<PathBuf>,
    /// `POSTS_API_TOKEN`: the bearer token posts-service wants on writes.
    pub posts_api_token: Secret,
    /// `ADMIN_USER`: the one admin's user name.
    pub admin_user: String,
    /// `ADMIN_PASSWORD`: the one admin's password.
    pub admin_password: Secret,
    /// `SESSION_SECRET`: key for session cookies, CSRF tokens and flash cookies.
    pub session_secret: Secret,
    /// `POSTS_CONNECT_TIMEOUT_MS`: how long to wait for a TCP connection to posts-service.
    #[serde(default = "default_connect_timeout_ms")]
    pub posts_connect_timeout_ms: u64,
    /// `POSTS_REQUEST_TIMEOUT_MS`: how long one call to posts-service may take in all.
    #[serde(default = "default_request_timeout_ms")]
    pub posts_request_timeout_ms: u64,
    /// `POSTS_CIRCUIT_FAILURES`: consecutive failed calls (timeouts, connection errors,
    /// 5xx) after which the circuit breaker opens and calls fail at once.
    #[serde(default = "default_circuit_failures")]
    pub posts_circuit_failures: u32,
    /// `POSTS_CIRCUIT_OPEN_MS`: how long the circuit stays open before one trial call.
    #[serde(default = "default_circuit_open_ms")]
    pub posts_circuit_open_ms: u64,
    /// `COOKIE_SECURE`: mark cookies `Secure` (set `true` behind HTTPS).
    #[serde(default)]
    pub cookie_secure: bool,
    /// `SESSION_LIFETIME_SECS`: how long a login lasts at most.
    #[serde(default = "default_session_lifetime_secs")]
    pub session_lifetime_secs: u64,
    /// `SESSION_IDLE_SECS`: how long a session lasts without a request.
    #[serde(default = "default_session_idle_secs")]
    pub session_idle_secs: u64,
    /// `TRUSTED_PROXIES`: addresses or CIDRs (comma-separated) whose `X-Forwarded-For`
    /// names the client; empty (the default) trusts no proxy, so the client is the peer.
    #[serde(default)]
    pub trusted_proxies: String,
    /// `TRUSTED_PROXY_HOPS`: how many proxies stand in front of the service, whatever
    /// their addresses; the alternative to `TRUSTED_PROXIES`. `0` (the default): none.
    #[serde(default)]
    pub trusted_proxy_hops: u32,
    /// `BLOG_TITLE`: the name shown in the header, page titles and the feed.
    #[serde(default = "default_blog_title")]
    pub blog_title: String,
    /// `PUBLIC_URL`: the blog's external base URL (e.g. `https://blog.example.com`), used
    /// for the absolute links an Atom feed needs (unset: taken from the request's `Host`)
    /// and a post page's canonical URL (unset: `http://localhost:8080`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// `PAGE_CACHE_TTL_MS`: how long a rendered page is shared between anonymous
    /// readers; the longest a reader can see an edited or deleted post's old version.
    /// `0` turns the cache off.
    #[serde(default = "default_page_cache_ttl_ms")]
    pub page_cache_ttl_ms: u64,
    /// `PAGE_CACHE_STALE_SECS`: how long the last good copy of a page is kept, to serve
    /// during a posts-service outage.
    #[serde(default = "default_page_cache_stale_secs")]
    pub page_cache_stale_secs: u64,
    /// `PAGE_CACHE_BYTES`: the page cache's memory budget, in bytes of pages.
    #[serde(default = "default_page_cache_bytes")]
    pub page_cache_bytes: u64,
    /// `PAGE_CACHE_STALE_AFTER_MS`: how long a reader of a page that has a last good
    /// copy waits for a slow posts-service before getting that copy (the render goes on
    /// and refreshes the cache when it ends).
    #[serde(default = "default_page_cache_stale_after_ms")]
    pub page_cache_stale_after_ms: u64,
    /// `BLOG_TIMEZONE`: the IANA name of the zone the post form's publish time is
    /// written in and shown in (`Europe/Berlin`); default `UTC`.
    #[serde(default = "default_blog_timezone")]
    pub blog_timezone: String,
    /// `SEARCH_PER_MINUTE`: searches one client address may make in a minute on one
    /// replica (counting only those that reach posts-service, not those the page cache
    /// answers); past it, the search page answers 429 with `Retry-After`.
    #[serde(default = "default_search_per_minute")]
    pub search_per_minute: u32,
}

impl Config {
    /// Reads and checks the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_vars(std::env::vars())
    }

    /// What [`Config::from_env`] does, for the given variables.
    pub fn from_vars<I>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let mut config: Config = service_runtime::config::from_iter(vars.iter().cloned())?;
        config.server = ServerConfig::from_iter(vars, DEFAULT_PORTS)?;
        config.validate()?;
        Ok(config)
    }

    /// A configuration for tests: the given upstream and credentials, defaults for the
    /// rest, listening on a random local port.
    pub fn new(
        posts_service_url: impl Into<String>,
        posts_api_token: impl Into<String>,
        admin_user: impl Into<String>,
        admin_password: impl Into<String>,
        session_secret: impl Into<String>,
    ) -> Config {
        Config {
            server: ServerConfig::local(),
            posts_service_url: posts_service_url.into(),
            posts_ca_file: None,
            posts_api_token: Secret::new(posts_api_token),
            admin_user: admin_user.into(),
            admin_password: Secret::new(admin_password),
            session_secret: Secret::new(session_secret),
            posts_connect_timeout_ms: default_connect_timeout_ms(),
            posts_request_timeout_ms: default_request_timeout_ms(),
            posts_circuit_failures: default_circuit_failures(),
            posts_circuit_open_ms: default_circuit_open_ms(),
            cookie_secure: false,
            session_lifetime_secs: default_session_lifetime_secs(),
            session_idle_secs: default_session_idle_secs(),
            trusted_proxies: String::new(),
            trusted_proxy_hops: 0,
            blog_title: default_blog_title(),
            public_url: None,
            page_cache_ttl_ms: default_page_cache_ttl_ms(),
            page_cache_stale_secs: default_page_cache_stale_secs(),
            page_cache_bytes: default_page_cache_bytes(),
            page_cache_stale_after_ms: default_page_cache_stale_after_ms(),
            blog_timezone: default_blog_timezone(),
            search_per_minute: default_search_per_minute(),
        }
    }

    /// Checks what the types alone cannot. Messages name the variable, never a secret.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let secret_len = self.session_secret.expose().len();
        if secret_len < MIN_SESSION_SECRET_BYTES {
            return Err(ConfigError::invalid(
                "SESSION_SECRET",
                format_args!(
                    "must be at least {MIN_SESSION_SECRET_BYTES} bytes long (it has {secret_len})"
                ),
            ));
        }
        check_url(
            "POSTS_SERVICE_URL",
            &self.posts_service_url,
            &["http", "https"],
        )?;
        let https = self.posts_service_url.starts_with("https:");
        match (https, &self.posts_ca_file) {
            (true, None) => {
                return Err(ConfigError::invalid(
                    "POSTS_CA_FILE",
                    "must be set when POSTS_SERVICE_URL is https: the CA certificates \
                     posts-service's certificate is checked against",
                ))
            }
            (false, Some(_)) => {
                return Err(ConfigError::invalid(
                    "POSTS_CA_FILE",
                    "is set but POSTS_SERVICE_URL is plain http: use an https URL, or unset it",
                ))
            }
            _ => {}
        }
        if let Some(public_url) = &self.public_url {
            check_url("PUBLIC_URL", public_url, &["http", "https"])?;
        }
        for (name, empty) in [
            ("POSTS_API_TOKEN", self.posts_api_token.expose().is_empty()),
            ("ADMIN_USER", self.admin_user.trim().is_empty()),
            ("ADMIN_PASSWORD", self.admin_password.expose().is_empty()),
            ("BLOG_TITLE", self.blog_title.trim().is_empty()),
        ] {
            if empty {
                return Err(ConfigError::invalid(name, "must not be empty"));
            }
        }
        // A token made with `echo` ends in a newline: it could never be sent as a header.
        let token = self.posts_api_token.expose();
        if token.trim() != token || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                "POSTS_API_TOKEN",
                "must be printable ASCII without spaces or line breaks",
            ));
        }
        for (name, value) in [
            ("POSTS_CONNECT_TIMEOUT_MS", self.posts_connect_timeout_ms),
            ("POSTS_REQUEST_TIMEOUT_MS", self.posts_request_timeout_ms),
            (
                "POSTS_CIRCUIT_FAILURES",
                u64::from(self.posts_circuit_failures),
            ),
            ("POSTS_CIRCUIT_OPEN_MS", self.posts_circuit_open_ms),
            ("SESSION_LIFETIME_SECS", self.session_lifetime_secs),
            ("SESSION_IDLE_SECS", self.session_idle_secs),
            ("SEARCH_PER_MINUTE", u64::from(self.search_per_minute)),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(name, "must be greater than 0"));
            }
        }
        // posts-service keeps sessions of up to a week.
        for (name, value) in [
            ("SESSION_LIFETIME_SECS", self.session_lifetime_secs),
            ("SESSION_IDLE_SECS", self.session_idle_secs),
        ] {
            if value > MAX_SESSION_SECS {
                return Err(ConfigError::invalid(
                    name,
                    format_args!("must be at most {MAX_SESSION_SECS} (a week)"),
                ));
            }
        }
        if self.search_per_minute > MAX_SEARCH_PER_MINUTE {
            return Err(ConfigError::invalid(
                "SEARCH_PER_MINUTE",
                format_args!("must be at most {MAX_SEARCH_PER_MINUTE} (one search a millisecond)"),
            ));
        }
        self.proxy_trust()?;
        self.blog_zone()?;
        Ok(())
    }

    /// `BLOG_TIMEZONE`, looked up in the time zone database built into the binary.
    pub fn blog_zone(&self) -> Result<BlogZone, ConfigError> {
        BlogZone::named(&self.blog_timezone).ok_or_else(|| {
            ConfigError::invalid(
                "BLOG_TIMEZONE",
                format_args!(
                    "{:?} is not a time zone name (use an IANA name such as UTC or Europe/Berlin)",
                    self.blog_timezone
                ),
            )
        })
    }

    /// `POSTS_CONNECT_TIMEOUT_MS` as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.posts_connect_timeout_ms)
    }

    /// `POSTS_REQUEST_TIMEOUT_MS` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.posts_request_timeout_ms)
    }

    /// The circuit breaker's settings (`POSTS_CIRCUIT_*`).
    pub fn circuit(&self) -> BreakerSettings {
        BreakerSettings {
            failures: self.posts_circuit_failures,
            open_for: Duration::from_millis(self.posts_circuit_open_ms),
        }
    }

    /// `SESSION_LIFETIME_SECS` as a duration.
    pub fn session_lifetime(&self) -> Duration {
        Duration::from_secs(self.session_lifetime_secs)
    }

    /// `SESSION_IDLE_SECS` as a duration.
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_secs)
    }

    /// Whose `X-Forwarded-For` is believed: `TRUSTED_PROXIES` or `TRUSTED_PROXY_HOPS`
    /// (setting both is an error), or nobody's.
    pub fn proxy_trust(&self) -> Result<ProxyTrust, ConfigError> {
        let networks = self.trusted_proxies()?;
        match (networks.is_empty(), self.trusted_proxy_hops) {
            (true, 0) => Ok(ProxyTrust::None),
            (true, hops) => Ok(ProxyTrust::Hops(hops)),
            (false, 0) => Ok(ProxyTrust::Addresses(networks)),
            (false, _) => Err(ConfigError::invalid(
                "TRUSTED_PROXIES",
                "and TRUSTED_PROXY_HOPS are both set: set one of them (the proxies' \
                 addresses, or how many proxies stand in front of the service)",
            )),
        }
    }

    /// `TRUSTED_PROXIES` as networks: each entry an address (one host) or a CIDR.
    fn trusted_proxies(&self) -> Result<Vec<IpNet>, ConfigError> {
        self.trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::invalid(
                            "TRUSTED_PROXIES",
                            format_args!("{entry:?} is neither an IP address nor a CIDR"),
                        )
                    })
            })
            .collect()
    }

    /// The `PAGE_CACHE_*` settings.
    pub fn page_cache(&self) -> CacheSettings {
        CacheSettings {
            ttl: Duration::from_millis(self.page_cache_ttl_ms),
            stale_ttl: Duration::from_secs(self.page_cache_stale_secs),
            bytes: self.page_cache_bytes,
            stale_after: Duration::from_millis(self.page_cache_stale_after_ms),
        }
    }
}

/// The page cache's settings.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// How long a rendered page is served to readers; zero turns the cache off.
    pub ttl: Duration,
    /// How long the last good copy is kept for outages.
    pub stale_ttl: Duration,
    /// The memory budget, in bytes of pages, of both tiers together.
    pub bytes: u64,
    /// How long a reader of a page with a last good copy waits for a render.
    pub stale_after: Duration,
}

fn check_url(variable: &str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    match reqwest::Url::parse(value) {
        Ok(url) if schemes.contains(&url.scheme()) && url.has_host() => Ok(()),
        Ok(_) => Err(ConfigError::invalid(
            variable,
            format_args!("must be a {} URL with a host", schemes.join("/")),
        )),
        Err(err) => Err(ConfigError::invalid(
            variable,
            format_args!("is not a valid URL ({err})"),
        )),
    }
}

fn default_server() -> ServerConfig {
    ServerConfig::defaults(DEFAULT_PORTS)
}

fn default_connect_timeout_ms() -> u64 {
    1_000
}

fn default_request_timeout_ms() -> u64 {
    3_000
}

fn default_circuit_failures() -> u32 {
    5
}

fn default_circuit_open_ms() -> u64 {
    1_000
}

fn default_session_lifetime_secs() -> u64 {
    12 * 60 * 60
}

fn default_session_idle_secs() -> u64 {
    30 * 60
}

fn default_page_cache_ttl_ms() -> u64 {
    1000
}

fn default_page_cache_stale_secs() -> u64 {
    60 * 60
}

fn default_page_cache_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_page_cache_stale_after_ms() -> u64 {
    500
}

fn default_blog_timezone() -> String {
    "UTC".to_owned()
}

fn default_search_per_minute() -> u32 {
    60
}

fn default_blog_title() -> String {
    "Blog".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn required() -> Vec<(String, String)> {
        [
            ("POSTS_SERVICE_URL", "http://posts-service:8081"),
            ("POSTS_API_TOKEN", "token"),
            ("ADMIN_USER", "admin"),
            ("ADMIN_PASSWORD", "hunter2"),
            ("SESSION_SECRET", SECRET),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn with(mut vars: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
        vars.retain(|(k, _)| k != name);
        vars.push((name.to_owned(), value.to_owned()));
        vars
    }

    #[test]
    fn required_variables_alone_give_the_documented_defaults() {
        let config = Config::from_vars(required()).unwrap();
        assert_eq!(config.server.listen_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.server.metrics_addr, "0.0.0.0:9080".parse().unwrap());
        assert_eq!(config.server.log.rust_log, "info");
        assert_eq!(
            config.server.log.log_format,
            service_runtime::telemetry::LogFormat::Json
        );
        assert_eq!(config.connect_timeout(), Duration::from_secs(1));
        assert_eq!(config.request_timeout(), Duration::from_secs(3));
        assert_eq!(config.circuit().failures, 5);
        assert_eq!(config.circuit().open_for, Duration::from_secs(1));
        assert_eq!(config.page_cache().stale_after, Duration::from_millis(500));
        assert!(!config.cookie_secure);
        assert_eq!(config.session_lifetime(), Duration::from_secs(43_200));
        assert_eq!(config.session_idle(), Duration::from_secs(1_800));
        assert_eq!(config.proxy_trust().unwrap(), ProxyTrust::None);
        assert_eq!(config.blog_title, "Blog");
        assert_eq!(config.public_url, None);
    }

    #[test]
    fn missing_session_secret_is_named() {
        let vars: Vec<_> = required()
            .into_iter()
            .filter(|(k, _)| k != "SESSION_SECRET")
            .collect();
        let err = Config::from_vars(vars).unwrap_err().to_string();
        assert_eq!(
            err,
            "configuration error: SESSION_SECRET is required but not set"
        );
    }

    #[test]
    fn short_session_secret_is_named_without_printing_it() {
        let secret = "too-short-but-secret";
        let err = Config::from_vars(with(required(), "SESSION_SECRET", secret))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SESSION_SECRET"), "{err}");
        assert!(err.contains("32 bytes"), "{err}");
        assert!(!err.contains(secret), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn malformed_timeout_is_named() {
        let err = Config::from_vars(with(required(), "POSTS_REQUEST_TIMEOUT_MS", "soon"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("POSTS_REQUEST_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let err = Config::from_vars(with(required(), "POSTS_CONNECT_TIMEOUT_MS", "0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("POSTS_CONNECT_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn posts_service_url_must_be_http_or_https() {
        for url in ["posts-service:8081", "ftp://posts-service"] {
            let err = Config::from_vars(with(required(), "POSTS_SERVICE_URL", url))
                .unwrap_err()
                .to_string();
            assert!(err.contains("POSTS_SERVICE_URL"), "{err}");
        }
    }

    #[test]
    fn https_needs_a_ca_file_and_http_refuses_one() {
        let https = with(
            required(),
            "POSTS_SERVICE_URL",
            "https://posts-service:8081",
        );
        let err = Config::from_vars(https.clone()).unwrap_err().to_string();
        assert!(
            err.contains("POSTS_CA_FILE must be set when POSTS_SERVICE_URL is https"),
            "{err}"
        );
        let config = Config::from_vars(with(https, "POSTS_CA_FILE", "/certs/ca.pem")).unwrap();
        assert_eq!(config.posts_ca_file, Some(PathBuf::from("/certs/ca.pem")));

        let err = Config::from_vars(with(required(), "POSTS_CA_FILE", "/certs/ca.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("POSTS_CA_FILE is set but POSTS_SERVICE_URL is plain http"),
            "{err}"
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_or_cidrs() {
        let vars = with(required(), "TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1");
        let ProxyTrust::Addresses(proxies) =
            Config::from_vars(vars).unwrap().proxy_trust().unwrap()
        else {
            panic!("TRUSTED_PROXIES gives addresses");
        };
        assert_eq!(proxies.len(), 3);
        assert!(proxies[1].contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        let err = Config::from_vars(with(required(), "TRUSTED_PROXIES", "10.0.0.0/33"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TRUSTED_PROXIES"), "{err}");
    }

    #[test]
    fn trusted_proxy_hops_count_proxies_and_exclude_trusted_proxies() {
        let vars = with(required(), "TRUSTED_PROXY_HOPS", "1");
        let config = Config::from_vars(vars.clone()).unwrap();
        assert_eq!(config.proxy_trust().unwrap(), ProxyTrust::Hops(1));
        let both = with(vars, "TRUSTED_PROXIES", "10.0.0.0/8");
        let err = Config::from_vars(both).unwrap_err().to_string();
        assert!(err.contains("TRUSTED_PROXIES"), "{err}");
        assert!(err.contains("TRUSTED_PROXY_HOPS"), "{err}");
        let err = Config::from_vars(with(required(), "TRUSTED_PROXY_HOPS", "-1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("TRUSTED_PROXY_HOPS"), "{err}");
    }

    #[test]
    fn search_per_minute_is_60_by_default_and_checked() {
        let config = Config::from_vars(required()).unwrap();
        assert_eq!(config.search_per_minute, 60);
        let config = Config::from_vars(with(required(), "SEARCH_PER_MINUTE", "5")).unwrap();
        assert_eq!(config.search_per_minute, 5);
        for value in ["0", "60001", "-1", "many"] {
            let err = Config::from_vars(with(required(), "SEARCH_PER_MINUTE", value))
                .unwrap_err()
                .to_string();
            assert!(err.contains("SEARCH_PER_MINUTE"), "{value}: {err}");
        }
    }

    #[test]
    fn cookie_secure_can_be_turned_on() {
        let config = Config::from_vars(with(required(), "COOKIE_SECURE", "true")).unwrap();
        assert!(config.cookie_secure);
    }

    #[test]
    fn blog_timezone_is_an_iana_name_checked_at_start_up() {
        let config = Config::from_vars(required()).unwrap();
        assert_eq!(config.blog_zone().unwrap().name(), "UTC");
        let config = Config::from_vars(with(required(), "BLOG_TIMEZONE", "Europe/Berlin")).unwrap();
        assert_eq!(config.blog_zone().unwrap().name(), "Europe/Berlin");
        let err = Config::from_vars(with(required(), "BLOG_TIMEZONE", "Berlin"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("BLOG_TIMEZONE"), "{err}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let config = Config::from_vars(required()).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn api_token_with_a_line_break_is_rejected_without_quoting_it() {
        let vars = with(required(), "POSTS_API_TOKEN", "s3cret-token\n");
        let err = Config::from_vars(vars).unwrap_err().to_string();
        assert!(err.contains("POSTS_API_TOKEN"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    /// The configuration reference, held to [`Config`].
    const REFERENCE: &str = include_str!("../../../docs/configuration.md");

    #[test]
    fn configuration_reference_lists_every_variable_with_its_default() {
        let mut variables = service_runtime::config::variables::<Config>();
        variables.extend(ServerConfig::variables());
        let required: Vec<(String, String)> = required();
        let required: Vec<(&str, &str)> = required
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let problems = service_runtime::reference::check(
            REFERENCE,
            &["Both services", "render-service"],
            &variables,
            &required,
            |vars| Config::from_vars(vars).map(|config| format!("{config:?}")),
        );
        assert!(
            problems.is_empty(),
            "docs/configuration.md disagrees with render-service:\n{}",
            problems.join("\n")
        );
    }
}
