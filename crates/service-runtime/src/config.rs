//! Loading a service's configuration from environment variables.
//!
//! Each service declares one `Config` struct (serde field names are the lower-case
//! variable names) and calls [`from_env`] once at start. Errors name the variable, so an
//! operator sees `DATABASE_URL is required but not set` rather than a serde message.

use serde::de::DeserializeOwned;

/// A configuration problem found at start. Its message names the variable and never
/// includes the value of a secret.
#[derive(Debug)]
pub struct ConfigError(String);

impl ConfigError {
    /// A problem with `variable`, explained by `reason` (which must not quote secrets).
    pub fn invalid(variable: &str, reason: impl std::fmt::Display) -> Self {
        ConfigError(format!("{variable} {reason}"))
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration error: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Reads `T` from the process environment.
pub fn from_env<T: DeserializeOwned>() -> Result<T, ConfigError> {
    from_iter(std::env::vars())
}

/// Reads `T` from the given variables; what [`from_env`] does, testable without
/// touching the process environment.
pub fn from_iter<T, I>(vars: I) -> Result<T, ConfigError>
where
    T: DeserializeOwned,
    I: IntoIterator<Item = (String, String)>,
{
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    envy::from_iter::<_, T>(vars.clone()).map_err(|err| match err {
        envy::Error::MissingValue(field) => {
            ConfigError(format!("{} is required but not set", field.to_uppercase()))
        }
        // envy names the variable for some parse errors ("… provided by NAME") but not
        // for others (enums, socket addresses): then find it by leaving each variable
        // out in turn until the error changes. Only typed, non-secret values can fail to
        // parse, so quoting the reason is safe.
        envy::Error::Custom(message) if message.contains("provided by") => ConfigError(message),
        envy::Error::Custom(message) => match culprit::<T>(&vars, &message) {
            Some(name) => ConfigError(format!("{name} is malformed: {message}")),
            None => ConfigError(message),
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
    fn well_formed_variables_load() {
        let config: Example =
            from_iter(vars(&[("DATABASE_URL", "mysql://x"), ("POOL_MAX", "7")])).unwrap();
        assert_eq!(config.database_url, "mysql://x");
        assert_eq!(config.pool_max, Some(7));
    }
}
