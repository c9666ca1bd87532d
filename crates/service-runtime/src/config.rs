//! Loading a service's configuration from environment variables.
//!
//! Each service declares one `Config` struct (serde field names are the lower-case
//! variable names) and calls [`from_env`] once at start. Errors name the variable, so an
//! operator sees `DATABASE_URL is required but not set` rather than a serde message.
//!
//! What every service reads alike (where to listen, how many connections, how to log)
//! is one [`ServerConfig`], and every secret is a [`Secret`]. A service's `Config` holds
//! its `ServerConfig` in a field that serde skips and reads it with a second envy pass
//! over the same variables ([`ServerConfig::from_iter`]) rather than with
//! `#[serde(flatten)]`: envy hands a flattened struct its values as strings, so a
//! flattened `usize` or `bool` fails to parse, and a flattened struct no longer tells
//! [`variables`] its field names.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserialize;

use crate::server::{Limits, DEFAULT_MAX_CONNECTIONS};
use crate::telemetry::LogConfig;
use crate::tls::{self, TlsFiles};

pub use crate::config_error::ConfigError;

/// Reads `T` from the process environment.
pub fn from_env<T: DeserializeOwned>() -> Result<T, ConfigError> {
    from_iter(std::env::vars())
}

/// Reads `T` from the given variables; what [`from_env`] does, testable without
/// touching the process environment.
///
/// Every [`Secret`] variable may instead be given as `NAME_FILE`, the path of a file
/// holding the value (Docker and Kubernetes secrets mounted as files): the value is the
/// file's content with one trailing newline (`\n` or `\r\n`) removed. Setting both is
/// an error naming both; a file that cannot be read is an error naming `NAME_FILE` and
/// the path, never the content.
pub fn from_iter<T, I>(vars: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned,
    I: IntoIterator<Item = (String, String)>,
{
    let vars = with_secret_files::<T>(vars.into_iter().collect())?;
    envy::from_iter::<_, T>(vars.clone()).map_err(|err| match err {
        envy::Error::MissingValue(field) => {
            ConfigError::new(format!("{} is required but not set", field.to_uppercase()))
        }
        // envy names the variable for some parse errors ("… provided by NAME") but not
        // for others (enums, socket addresses): then find it by leaving each variable
        // out in turn until the error changes. Only typed, non-secret values can fail to
        // parse, so quoting the reason is safe.
        envy::Error::Custom(message) if message.contains("provided by") => {
            ConfigError::new(message)
        }
        envy::Error::Custom(message) => match culprit::<T>(&vars, &message) {
            Some(name) => ConfigError::new(format!("{name} is malformed: {message}")),
            None => ConfigError::new(message),
        },
    })
}

fn culprit<T: DeserializeOwned>(vars: &[(String, String)], message: &str) -> Option<String> {
    vars.iter().enumerate().find_map(|(index, (name, _))| {
        let without = vars
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(_, pair)| pair.clone());
        match envy::from_iter::<_, T>(without) {
            Err(envy::Error::Custom(other)) if other == message => None,
            _ => Some(name.to_uppercase()),
        }
    })
}

/// The environment variables `T` reads (its serde field names in upper case), in the
/// order of its fields, each secret followed by its `NAME_FILE` form. Fields that serde
/// skips are not among them.
pub fn variables<T: DeserializeOwned>() -> Vec<String> {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    let secrets = secret_variables::<T>();
    fields
        .unwrap_or_default()
        .iter()
        .map(|field| field.to_uppercase())
        .flat_map(|name| {
            let file = secrets
                .contains(&name)
                .then(|| format!("{name}{FILE_SUFFIX}"));
            std::iter::once(name).chain(file)
        })
        .collect()
}

/// The suffix of the variable that names a file holding a secret: `API_TOKEN_FILE` for
/// `API_TOKEN`, as Docker and Kubernetes secrets (mounted as files) and the official
/// database images expect.
pub const FILE_SUFFIX: &str = "_FILE";

/// The variables of `T` that hold a [`Secret`] (a `Secret` or `Option<Secret>` field),
/// in upper case: each may also be given as `NAME_FILE` ([`from_iter`]).
pub fn secret_variables<T: DeserializeOwned>() -> Vec<String> {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
        .unwrap_or_default()
        .iter()
        .filter(|field| {
            let found = std::cell::Cell::new(false);
            let _ = T::deserialize(SecretProbe {
                field,
                found: &found,
            });
            found.get()
        })
        .map(|field| field.to_uppercase())
        .collect()
}

/// Replaces each `NAME_FILE` of a secret variable of `T` with `NAME` set to the file's
/// content, one trailing newline trimmed. Errors name the variables, never the content.
fn with_secret_files<T: DeserializeOwned>(
    mut vars: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, ConfigError> {
    for name in secret_variables::<T>() {
        let file_variable = format!("{name}{FILE_SUFFIX}");
        let Some(index) = vars
            .iter()
            .position(|(key, _)| key.eq_ignore_ascii_case(&file_variable))
        else {
            continue;
        };
        if vars.iter().any(|(key, _)| key.eq_ignore_ascii_case(&name)) {
            return Err(ConfigError::new(format!(
                "{name} and {file_variable} are both set: set only one of them"
            )));
        }
        let (_, path) = vars.remove(index);
        let content = std::fs::read(&path).map_err(|err| {
            ConfigError::invalid(
                &file_variable,
                format_args!("names a file that cannot be read ({path}): {}", err.kind()),
            )
        })?;
        let mut content = String::from_utf8(content).map_err(|_| {
            ConfigError::invalid(
                &file_variable,
                format_args!("names a file that is not UTF-8 text ({path})"),
            )
        })?;
        if content.ends_with('\n') {
            content.pop();
            if content.ends_with('\r') {
                content.pop();
            }
        }
        vars.push((name, content));
    }
    Ok(vars)
}

/// The name [`Secret`] deserializes itself under, for [`SecretProbe`] to recognise it.
const SECRET_TYPE: &str = "service_runtime::config::Secret";

/// A deserializer of a struct that hands the struct one field, `field`, whose value
/// notes in `found` whether it is deserialized as a [`Secret`] (or an optional one),
/// then gives up.
struct SecretProbe<'a> {
    field: &'static str,
    found: &'a std::cell::Cell<bool>,
}

impl<'de> de::Deserializer<'de> for SecretProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct has fields"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(ProbeEntry {
            field: Some(self.field),
            found: self.found,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

/// The one entry of [`SecretProbe`]'s map.
struct ProbeEntry<'a> {
    field: Option<&'static str>,
    found: &'a std::cell::Cell<bool>,
}

impl<'de> de::MapAccess<'de> for ProbeEntry<'_> {
    type Error = de::value::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.field {
            Some(field) => seed
                .deserialize(de::value::BorrowedStrDeserializer::new(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.field = None;
        seed.deserialize(ProbeValue(self.found))
    }
}

/// A field's value: notes a [`Secret`], fails for anything else.
struct ProbeValue<'a>(&'a std::cell::Cell<bool>);

impl<'de> de::Deserializer<'de> for ProbeValue<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a secret"))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(self.0.get() || name == SECRET_TYPE);
        Err(de::Error::custom("probed"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// A deserializer that only notes the field names a struct asks for, then gives up.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only a struct has field names"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("field names noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

/// A value that must not appear in logs, error messages or any output: `Debug` and
/// `Display` print `[redacted]`, and it cannot be serialized. [`Secret::expose`] is the
/// one way to the value, for the code that must use it.
#[derive(Clone)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        struct SecretVisitor;

        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Secret, E> {
                Ok(Secret(value.to_owned()))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<Secret, E> {
                Ok(Secret(value))
            }

            fn visit_newtype_struct<D: de::Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Secret, D::Error> {
                String::deserialize(deserializer).map(Secret)
            }
        }

        // as a newtype, for [`secret_variables`] to tell secrets from other strings
        deserializer.deserialize_newtype_struct(SECRET_TYPE, SecretVisitor)
    }
}

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What `Debug` and `Display` print instead of a secret.
pub const REDACTED: &str = "[redacted]";

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The ports a service listens on when `LISTEN_ADDR` and `METRICS_ADDR` are unset (on
/// every interface): the one thing of [`ServerConfig`] whose default differs between
/// services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultPorts {
    /// The public listener's port.
    pub listen: u16,
    /// The metrics listener's port.
    pub metrics: u16,
}

/// The variables every service reads to serve: `LISTEN_ADDR`, `METRICS_ADDR`,
/// `MAX_CONNECTIONS`, `TLS_CERT_FILE` and `TLS_KEY_FILE`, and the log and trace settings
/// of [`LogConfig`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `LISTEN_ADDR`: where the public listener accepts connections.
    pub listen_addr: SocketAddr,
    /// `METRICS_ADDR`: where `/metrics` is served, apart from the public listener.
    pub metrics_addr: SocketAddr,
    /// `MAX_CONNECTIONS`: open connections the public listener accepts; more wait in
    /// the kernel's backlog.
    pub max_connections: usize,
    /// `TLS_CERT_FILE`: with `TLS_KEY_FILE` (both or neither), the public listener
    /// serves HTTPS ([`ServerConfig::tls_files`]). The metrics listener stays plain HTTP.
    pub tls_cert_file: Option<PathBuf>,
    /// `TLS_KEY_FILE`: the private key of `TLS_CERT_FILE`.
    pub tls_key_file: Option<PathBuf>,
    /// `RUST_LOG`, `LOG_FORMAT` and the `OTEL_*` trace settings.
    pub log: LogConfig,
}

/// What envy reads of [`ServerConfig`]: the addresses stay unset until the service's
/// [`DefaultPorts`] fill them in.
#[derive(Deserialize)]
struct ServerVariables {
    #[serde(default)]
    listen_addr: Option<SocketAddr>,
    #[serde(default)]
    metrics_addr: Option<SocketAddr>,
    #[serde(default = "default_max_connections")]
    max_connections: usize,
    #[serde(default)]
    tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    tls_key_file: Option<PathBuf>,
}

fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

impl ServerConfig {
    /// Reads the server variables from `vars`, the unset ones from their defaults.
    pub fn from_iter<I>(vars: I, ports: DefaultPorts) -> Result<ServerConfig, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let vars: Vec<(String, String)> = vars.into_iter().collect();
        let read: ServerVariables = from_iter(vars.iter().cloned())?;
        let log: LogConfig = from_iter(vars)?;
        log.traces_endpoint()?;
        if read.max_connections == 0 {
            return Err(ConfigError::invalid(
                "MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        match (&read.tls_cert_file, &read.tls_key_file) {
            (Some(_), Some(_)) | (None, None) => {}
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "TLS_KEY_FILE",
                    "must be set when TLS_CERT_FILE is: set both to serve HTTPS, or neither",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "TLS_CERT_FILE",
                    "must be set when TLS_KEY_FILE is: set both to serve HTTPS, or neither",
                ))
            }
        }
        Ok(ServerConfig {
            listen_addr: read
                .listen_addr
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], ports.listen))),
            metrics_addr: read
                .metrics_addr
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], ports.metrics))),
            max_connections: read.max_connections,
            tls_cert_file: read.tls_cert_file,
            tls_key_file: read.tls_key_file,
            log,
        })
    }

    /// What an empty environment gives: the defaults.
    pub fn defaults(ports: DefaultPorts) -> ServerConfig {
        ServerConfig::from_iter(std::iter::empty(), ports)
            .expect("the defaults are a valid configuration")
    }

    /// The defaults, but both listeners on a random loopback port: what tests start.
    pub fn local() -> ServerConfig {
        ServerConfig {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::defaults(DefaultPorts {
                listen: 0,
                metrics: 0,
            })
        }
    }

    /// The variables [`ServerConfig::from_iter`] reads.
    pub fn variables() -> Vec<String> {
        let mut names = variables::<ServerVariables>();
        names.extend(variables::<LogConfig>());
        names
    }

    /// The public listener's TLS configuration, read from `TLS_CERT_FILE` and
    /// `TLS_KEY_FILE`; `None` when it serves plain HTTP. Errors name the variable whose
    /// file is missing, unreadable or wrong.
    pub fn tls_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
        self.tls_files()
            .as_ref()
            .map(tls::server_config)
            .transpose()
    }

    /// `TLS_CERT_FILE` and `TLS_KEY_FILE` when both are set.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert_file), Some(key_file)) => Some(TlsFiles {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
            }),
            _ => None,
        }
    }

    /// Serves HTTPS with `files` (as `TLS_CERT_FILE` and `TLS_KEY_FILE` would).
    pub fn with_tls(self, files: TlsFiles) -> ServerConfig {
        ServerConfig {
            tls_cert_file: Some(files.cert_file),
            tls_key_file: Some(files.key_file),
            ..self
        }
    }

    /// The edge's [`Limits`] with this `MAX_CONNECTIONS`.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            ..Limits::default()
        }
    }
}

/// Prints the error as one line on stderr and exits with status 2.
pub fn exit_with(error: ConfigError) -> ! {
    eprintln!("{error}");
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Example {
        database_url: String,
        #[serde(default)]
        pool_max: Option<u32>,
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn missing_variable_is_named_in_upper_case() {
        let err = from_iter::<Example, _>(vars(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration error: DATABASE_URL is required but not set"
        );
    }

    #[test]
    fn malformed_variable_is_named() {
        let err = from_iter::<Example, _>(vars(&[("DATABASE_URL", "x"), ("POOL_MAX", "ten")]))
            .unwrap_err();
        assert!(err.to_string().contains("POOL_MAX"), "{err}");
    }

    #[test]
    fn malformed_variable_without_envy_naming_it_is_found() {
        #[derive(Debug, serde::Deserialize)]
        struct WithAddr {
            #[serde(default)]
            _listen_addr: Option<std::net::SocketAddr>,
            #[serde(default)]
            _other: Option<String>,
        }
        let err =
            from_iter::<WithAddr, _>(vars(&[("OTHER", "fine"), ("_LISTEN_ADDR", "localhost")]))
                .unwrap_err();
        assert!(
            err.to_string().contains("_LISTEN_ADDR is malformed"),
            "{err}"
        );
    }

    #[test]
    fn variables_are_the_field_names_in_upper_case() {
        assert_eq!(variables::<Example>(), ["DATABASE_URL", "POOL_MAX"]);
        assert_eq!(
            ServerConfig::variables(),
            [
                "LISTEN_ADDR",
                "METRICS_ADDR",
                "MAX_CONNECTIONS",
                "TLS_CERT_FILE",
                "TLS_KEY_FILE",
                "RUST_LOG",
                "LOG_FORMAT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_SERVICE_NAME",
                "OTEL_TRACES_SAMPLER_ARG"
            ]
        );
    }

    #[test]
    fn secrets_print_as_redacted() {
        let secret: Secret = secret_read_from("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.to_string(), "[redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }

    fn secret_read_from(value: &str) -> Secret {
        #[derive(Deserialize)]
        struct WithSecret {
            token: Secret,
        }
        from_iter::<WithSecret, _>(vars(&[("TOKEN", value)]))
            .unwrap()
            .token
    }

    #[derive(Debug, Deserialize)]
    struct WithSecrets {
        token: Secret,
        #[serde(default)]
        password: Option<Secret>,
        #[serde(default)]
        name: Option<String>,
    }

    /// A file in a fresh directory holding `content`; the directory goes with the guard.
    fn secret_file(content: &str) -> (tempdir::Dir, String) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("secret");
        std::fs::write(&path, content).unwrap();
        let path = path.to_str().unwrap().to_owned();
        (dir, path)
    }

    mod tempdir {
        /// A directory removed when dropped.
        pub struct Dir(pub std::path::PathBuf);

        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let path = std::env::temp_dir().join(format!(
                    "service-runtime-secret-{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn secret_fields_are_found_and_have_a_file_form() {
        assert_eq!(secret_variables::<WithSecrets>(), ["TOKEN", "PASSWORD"]);
        assert_eq!(
            variables::<WithSecrets>(),
            ["TOKEN", "TOKEN_FILE", "PASSWORD", "PASSWORD_FILE", "NAME"]
        );
        assert!(secret_variables::<Example>().is_empty());
    }

    #[test]
    fn a_secret_is_read_from_its_file_without_one_trailing_newline() {
        for (content, expected) in [
            ("s3cret\n", "s3cret"),
            ("s3cret", "s3cret"),
            ("s3cret\r\n", "s3cret"),
            ("s3cret\n\n", "s3cret\n"),
            (" spaced \n", " spaced "),
        ] {
            let (_dir, path) = secret_file(content);
            let config: WithSecrets = from_iter(vars(&[
                ("TOKEN_FILE", path.as_str()),
                ("PASSWORD_FILE", path.as_str()),
            ]))
            .unwrap();
            assert_eq!(config.token.expose(), expected, "{content:?}");
            assert_eq!(config.password.unwrap().expose(), expected, "{content:?}");
        }
        // a variable that is not a secret has no file form
        let (_dir, path) = secret_file("x");
        let config: WithSecrets =
            from_iter(vars(&[("TOKEN", "t"), ("NAME_FILE", path.as_str())])).unwrap();
        assert_eq!(config.name, None);
    }

    #[test]
    fn a_secret_set_both_ways_is_an_error_naming_both() {
        let (_dir, path) = secret_file("from-file\n");
        let err = from_iter::<WithSecrets, _>(vars(&[
            ("TOKEN", "from-env"),
            ("TOKEN_FILE", path.as_str()),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("TOKEN and TOKEN_FILE are both set"), "{err}");
        assert!(
            !err.contains("from-env") && !err.contains("from-file"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_secret_file_is_an_error_naming_the_variable_not_the_content() {
        let missing = std::env::temp_dir().join("service-runtime-no-such-secret");
        let err = from_iter::<WithSecrets, _>(vars(&[("TOKEN_FILE", missing.to_str().unwrap())]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TOKEN_FILE names a file that cannot be read"),
            "{err}"
        );
        assert!(err.contains("not found"), "{err}");

        let (_dir, path) = secret_file("");
        std::fs::write(&path, b"s3cret\xff\n").unwrap();
        let err = from_iter::<WithSecrets, _>(vars(&[("TOKEN_FILE", path.as_str())]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TOKEN_FILE names a file that is not UTF-8"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }

    const PORTS: DefaultPorts = DefaultPorts {
        listen: 8081,
        metrics: 9081,
    };

    #[test]
    fn server_defaults_use_the_services_ports() {
        let server = ServerConfig::from_iter(vars(&[]), PORTS).unwrap();
        assert_eq!(server.listen_addr.to_string(), "0.0.0.0:8081");
        assert_eq!(server.metrics_addr.to_string(), "0.0.0.0:9081");
        assert_eq!(server.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(server.log, LogConfig::default());
        assert_eq!(server, ServerConfig::defaults(PORTS));
    }

    #[test]
    fn server_variables_are_read_whatever_their_type() {
        let server = ServerConfig::from_iter(
            vars(&[
                ("LISTEN_ADDR", "127.0.0.1:1"),
                ("METRICS_ADDR", "[::1]:2"),
                ("MAX_CONNECTIONS", "7"),
                ("RUST_LOG", "debug"),
                ("LOG_FORMAT", "text"),
            ]),
            PORTS,
        )
        .unwrap();
        assert_eq!(server.listen_addr.to_string(), "127.0.0.1:1");
        assert_eq!(server.metrics_addr.to_string(), "[::1]:2");
        assert_eq!(server.limits().max_connections, 7);
        assert_eq!(server.log.rust_log, "debug");
        assert_eq!(server.log.log_format, crate::telemetry::LogFormat::Text);
    }

    #[test]
    fn bad_server_variables_are_named() {
        for (name, value) in [
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "many"),
            ("LISTEN_ADDR", "localhost"),
            ("LOG_FORMAT", "xml"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ] {
            let err = ServerConfig::from_iter(vars(&[(name, value)]), PORTS).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn tls_files_are_set_together_or_not_at_all() {
        assert_eq!(
            ServerConfig::from_iter(vars(&[]), PORTS)
                .unwrap()
                .tls_files(),
            None
        );
        let both = ServerConfig::from_iter(
            vars(&[
                ("TLS_CERT_FILE", "/certs/posts.pem"),
                ("TLS_KEY_FILE", "/certs/posts.key"),
            ]),
            PORTS,
        )
        .unwrap();
        assert_eq!(
            both.tls_files(),
            Some(TlsFiles {
                cert_file: "/certs/posts.pem".into(),
                key_file: "/certs/posts.key".into(),
            })
        );
        for (set, missing) in [
            ("TLS_CERT_FILE", "TLS_KEY_FILE"),
            ("TLS_KEY_FILE", "TLS_CERT_FILE"),
        ] {
            let err = ServerConfig::from_iter(vars(&[(set, "/certs/x.pem")]), PORTS)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{missing} must be set when {set} is")),
                "{err}"
            );
        }
    }

    #[test]
    fn well_formed_variables_load() {
        let config: Example =
            from_iter(vars(&[("DATABASE_URL", "mysql://x"), ("POOL_MAX", "7")])).unwrap();
        assert_eq!(config.database_url, "mysql://x");
        assert_eq!(config.pool_max, Some(7));
    }
}
