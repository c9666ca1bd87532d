//! Accounts: what a valid username, display name and password are, and the internal
//! API's user documents.
//!
//! posts-service enforces these rules; render-service's forms can check them first with
//! the same functions ([`username_problem`], [`display_name_problem`],
//! [`password_problems`]).

use serde::{Deserialize, Serialize};

use crate::problem::FieldError;

/// Longest username, in characters (ASCII).
pub const USERNAME_MAX_CHARS: usize = 32;
/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;
/// Shortest password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 12;
/// Longest password, in bytes: more is never needed and would only cost hashing time.
pub const PASSWORD_MAX_BYTES: usize = 1024;

/// The most common passwords, one a line, lower case (`#` lines are comments).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: every post, and the accounts.
    Owner,
    /// Every post, no accounts.
    Editor,
    /// Creates posts, and edits and deletes only their own.
    Author,
}

impl Role {
    /// The role as stored and sent: `owner`, `editor` or `author`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Author => "author",
        }
    }

    /// The role named `name`, as [`Role::as_str`] writes it.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "owner" => Some(Role::Owner),
            "editor" => Some(Role::Editor),
            "author" => Some(Role::Author),
            _ => None,
        }
    }

    /// Whether this role may edit and delete posts that others wrote.
    pub fn edits_every_post(self) -> bool {
        matches!(self, Role::Owner | Role::Editor)
    }
}

/// An account as the internal API answers it (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id: what `X-Acting-User` names.
    pub id: u64,
    /// The name it signs in with.
    pub username: String,
    /// The name its posts show.
    pub display_name: String,
    /// What it may do.
    pub role: Role,
    /// Whether it may sign in and act.
    pub enabled: bool,
}

/// `POST /internal/v1/logins`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Compared in lower case.
    pub username: String,
    /// As typed.
    pub password: String,
}

/// `POST /internal/v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// See [`username_problem`].
    pub username: String,
    /// See [`display_name_problem`].
    pub display_name: String,
    /// What it may do.
    pub role: Role,
    /// See [`password_problems`].
    pub password: String,
}

/// `PATCH /internal/v1/users/{id}`: the fields to change; absent ones are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    /// Enable or disable the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A new role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// A new display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `PUT /internal/v1/users/{id}/password`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// Required when users change their own password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
    /// See [`password_problems`].
    pub new_password: String,
}

/// Why a username is not valid, or `None`: 1 to 32 characters of `a-z`, `0-9`, `_`,
/// `.` and `-`.
pub fn username_problem(username: &str) -> Option<FieldError> {
    let valid = (1..=USERNAME_MAX_CHARS).contains(&username.len())
        && username
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
    (!valid).then(|| {
        field(
            "username",
            format!(
                "username must be 1 to {USERNAME_MAX_CHARS} characters of a-z, 0-9, _, . and -"
            ),
        )
    })
}

/// Why a display name is not valid, or `None`: 1 to 64 characters once trimmed, no
/// control characters.
pub fn display_name_problem(display_name: &str) -> Option<FieldError> {
    let trimmed = display_name.trim();
    let valid = !trimmed.is_empty()
        && trimmed.chars().count() <= DISPLAY_NAME_MAX_CHARS
        && !trimmed.chars().any(char::is_control);
    (!valid).then(|| {
        field(
            "display_name",
            format!(
                "display_name must be 1 to {DISPLAY_NAME_MAX_CHARS} characters without control characters"
            ),
        )
    })
}

/// Every rule `password` breaks for the account `username`, reported on `field` (the
/// request's name for it: `password` or `new_password`): at least
/// [`PASSWORD_MIN_CHARS`] characters (at most [`PASSWORD_MAX_BYTES`] bytes), not the
/// username (in any case), not one of the most common passwords (in any case).
pub fn password_problems(field_name: &str, username: &str, password: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if password.chars().count() < PASSWORD_MIN_CHARS {
        problems.push(field(
            field_name,
            format!("{field_name} must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        problems.push(field(
            field_name,
            format!("{field_name} must be at most {PASSWORD_MAX_BYTES} bytes"),
        ));
    }
    if password.to_lowercase() == username.to_lowercase() {
        problems.push(field(
            field_name,
            format!("{field_name} must not be the username"),
        ));
    }
    if is_common_password(password) {
        problems.push(field(
            field_name,
            format!("{field_name} is one of the most common passwords"),
        ));
    }
    problems
}

/// Whether `password` is in the shipped list of the most common passwords, in any case.
pub fn is_common_password(password: &str) -> bool {
    let lower = password.to_lowercase();
    common_passwords().any(|common| common == lower)
}

/// The shipped list of common passwords.
fn common_passwords() -> impl Iterator<Item = &'static str> {
    COMMON_PASSWORDS
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

fn field(name: &str, message: String) -> FieldError {
    FieldError {
        field: name.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_short_lower_case_ascii() {
        for good in ["a", "alice", "bob.smith", "x_y-z.9", &"a".repeat(32)] {
            assert!(username_problem(good).is_none(), "{good}");
        }
        for bad in ["", "Alice", "al ice", "élise", "a@b", &"a".repeat(33)] {
            let problem = username_problem(bad).expect(bad);
            assert_eq!(problem.field, "username");
        }
    }

    #[test]
    fn display_names_are_up_to_64_characters() {
        assert!(display_name_problem("Zoë Ångström").is_none());
        assert!(display_name_problem(&"é".repeat(64)).is_none());
        assert!(display_name_problem(&"é".repeat(65)).is_some());
        assert!(display_name_problem("   ").is_some());
        assert!(display_name_problem("a\nb").is_some());
    }

    #[test]
    fn the_list_holds_thousands_of_common_passwords() {
        assert!(common_passwords().count() >= 5000);
        assert!(is_common_password("password"));
        assert!(is_common_password("PassWord"));
        assert!(is_common_password("123456"));
        assert!(!is_common_password("correct horse battery staple"));
    }

    #[test]
    fn a_good_password_breaks_no_rule() {
        assert!(password_problems("password", "alice", "correct horse battery").is_empty());
    }

    #[test]
    fn each_broken_rule_is_one_field_error() {
        let messages = |password: &str| {
            password_problems("new_password", "alicealice12", password)
                .into_iter()
                .inspect(|problem| assert_eq!(problem.field, "new_password"))
                .map(|problem| problem.message)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            messages("short"),
            ["new_password must be at least 12 characters"]
        );
        assert_eq!(
            messages("AliceAlice12"),
            ["new_password must not be the username"]
        );
        // A common password of 12 characters or more, in another case.
        let common = common_passwords()
            .find(|common| common.chars().count() >= PASSWORD_MIN_CHARS)
            .unwrap()
            .to_uppercase();
        assert_eq!(
            messages(&common),
            ["new_password is one of the most common passwords"]
        );
        // A short common password breaks two rules.
        assert_eq!(messages("qwerty").len(), 2);
        assert_eq!(messages(&"x".repeat(1025)).len(), 1);
    }

    #[test]
    fn roles_read_and_write_in_lower_case() {
        for role in [Role::Owner, Role::Editor, Role::Author] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
        assert!(Role::Editor.edits_every_post());
        assert!(!Role::Author.edits_every_post());
    }
}
