//! [`ConfigError`]: what is wrong with a setting, as every configuration reader reports it.

/// A configuration problem found at start. Its message names the variable and never
/// includes the value of a secret.
#[derive(Debug)]
pub struct ConfigError(String);

impl ConfigError {
    /// A problem with `variable`, explained by `reason` (which must not quote secrets).
    pub fn invalid(variable: &str, reason: impl std::fmt::Display) -> Self {
        ConfigError(format!("{variable} {reason}"))
    }

    /// A problem described whole by `message` (which names the variable and must not
    /// quote secrets).
    pub(crate) fn new(message: String) -> Self {
        ConfigError(message)
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration error: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}
