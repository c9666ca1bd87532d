//! RFC 9457 problem details: the body of every error posts-service answers.

use serde::{Deserialize, Serialize};

/// An `application/problem+json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person; never SQL, a stack trace or a secret.
    pub detail: String,
    /// With a 422: every broken rule, by field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One broken rule, named by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// `title` or `body`.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
}
