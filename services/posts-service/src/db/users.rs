//! [`UserStore`]: the accounts (SQL next to the code that runs it). The first owner,
//! made at start-up, is [`super::first_owner`]'s.
//!
//! Passwords are stored as Argon2id PHC strings, hashed by [`crate::passwords`] before
//! they get here; this module never sees a password.

use std::future::Future;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use posts_api::account::{Role, User};

use super::error::StoreError;
use super::metrics::DbMetrics;
use super::operation::{bounded, sql};
use super::start_up::Database;

/// An account with its password hash, for the checks that need it.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The account.
    pub user: User,
    /// Its PHC string.
    pub password_hash: String,
}

const COLUMNS: &str = "id, username, display_name, role, enabled, password_hash";

/// Reads and writes accounts.
#[derive(Clone)]
pub struct UserStore {
    database: Database,
    timeout: Duration,
    metrics: DbMetrics,
}

impl UserStore {
    /// A store over `database` whose operations give up after `timeout`.
    pub fn new(database: Database, timeout: Duration, metrics: DbMetrics) -> UserStore {
        UserStore {
            database,
            timeout,
            metrics,
        }
    }

    /// The account named `username`, enabled or not.
    pub async fn by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let username = username.to_owned();
        let row: Option<Row> = self
            .on_connection("user_by_username", |mut conn| async move {
                sql(
                    "SELECT users",
                    conn.exec_first(
                        format!("SELECT {COLUMNS} FROM users WHERE username = ?"),
                        (username,),
                    ),
                )
                .await
            })
            .await?;
        row.map(record_from_row).transpose()
    }

    /// The account with this id, enabled or not.
    pub async fn by_id(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<Row> = self
            .on_connection("user_by_id", |mut conn| async move {
                sql(
                    "SELECT users",
                    conn.exec_first(format!("SELECT {COLUMNS} FROM users WHERE id = ?"), (id,)),
                )
                .await
            })
            .await?;
        row.map(record_from_row).transpose()
    }

    /// Every account, by id.
    pub async fn list(&self) -> Result<Vec<User>, StoreError> {
        let rows: Vec<Row> = self
            .on_connection("list_users", |mut conn| async move {
                sql(
                    "SELECT users",
                    conn.query(format!("SELECT {COLUMNS} FROM users ORDER BY id")),
                )
                .await
            })
            .await?;
        rows.into_iter()
            .map(|row| record_from_row(row).map(|record| record.user))
            .collect()
    }

    /// A new enabled account; `None` when the username is taken.
    pub async fn create(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let params = (
            username.to_owned(),
            display_name.to_owned(),
            role.as_str(),
            password_hash.to_owned(),
        );
        let id = self
            .on_connection("create_user", |mut conn| async move {
                // The values are checked before, so IGNORE only skips a taken username.
                sql(
                    "INSERT users",
                    conn.exec_drop(
                        "INSERT IGNORE INTO users \
                         (username, display_name, role, password_hash, enabled, created_at, updated_at) \
                         VALUES (?, ?, ?, ?, TRUE, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
                        params,
                    ),
                )
                .await?;
                Ok::<_, mysql_async::Error>((conn.affected_rows() > 0).then(|| conn.last_insert_id()))
            })
            .await?;
        Ok(id.flatten().map(|id| User {
            id,
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            role,
            enabled: true,
        }))
    }

    /// Changes the given fields of the account `id`; the account as it is then, or
    /// `None` when there is no such account.
    pub async fn update(
        &self,
        id: u64,
        enabled: Option<bool>,
        role: Option<Role>,
        display_name: Option<String>,
    ) -> Result<Option<User>, StoreError> {
        let row: Option<Row> = self
            .on_connection("update_user", |mut conn| async move {
                sql(
                    "UPDATE users",
                    conn.exec_drop(
                        "UPDATE users SET enabled = COALESCE(?, enabled), \
                         role = COALESCE(?, role), display_name = COALESCE(?, display_name), \
                         updated_at = UTC_TIMESTAMP(3) WHERE id = ?",
                        (enabled, role.map(Role::as_str), display_name, id),
                    ),
                )
                .await?;
                sql(
                    "SELECT users",
                    conn.exec_first(format!("SELECT {COLUMNS} FROM users WHERE id = ?"), (id,)),
                )
                .await
            })
            .await?;
        row.map(|row| record_from_row(row).map(|record| record.user))
            .transpose()
    }

    /// Stores a new password hash for the account `id`; whether there is one.
    pub async fn set_password(&self, id: u64, password_hash: &str) -> Result<bool, StoreError> {
        let password_hash = password_hash.to_owned();
        let found = self
            .on_connection("set_user_password", |mut conn| async move {
                sql(
                    "UPDATE users",
                    conn.exec_drop(
                        "UPDATE users SET password_hash = ?, updated_at = UTC_TIMESTAMP(3) \
                         WHERE id = ?",
                        (password_hash, id),
                    ),
                )
                .await?;
                // affected rows count changed rows: a same-hash update (never: salts
                // differ) would count 0, so the row is looked for instead
                sql(
                    "SELECT users",
                    conn.exec_first::<u64, _, _>("SELECT id FROM users WHERE id = ?", (id,)),
                )
                .await
            })
            .await?;
        Ok(found.is_some())
    }

    /// Runs `work` on a connection from the pool under the timeout, recording its
    /// outcome as `operation`.
    async fn on_connection<T, F>(
        &self,
        operation: &'static str,
        work: impl FnOnce(Conn) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, mysql_async::Error>>,
    {
        let pool = self.database.pool().clone();
        let work = async move { work(pool.get_conn().await?).await };
        bounded(&self.database, self.timeout, &self.metrics, operation, work).await
    }
}

fn record_from_row(row: Row) -> Result<UserRecord, StoreError> {
    let malformed = || StoreError::Internal("unexpected row shape from users".to_owned());
    let (id, username, display_name, role, enabled, password_hash): (
        u64,
        String,
        String,
        String,
        bool,
        String,
    ) = mysql_async::from_row_opt(row).map_err(|_| malformed())?;
    Ok(UserRecord {
        user: User {
            id,
            username,
            display_name,
            role: Role::parse(&role).ok_or_else(malformed)?,
            enabled,
        },
        password_hash,
    })
}
