//! The first owner, from `ADMIN_USER` / `ADMIN_PASSWORD`: made by start-up
//! ([`super::start_up`]) once migrations are applied, when there is no account yet.
//! Apart from [`super::users`] so that start-up, which every store's operations wait
//! for, depends on nothing that depends on it.

use mysql_async::prelude::Queryable;
use mysql_async::Pool;

/// The first owner, from `ADMIN_USER` / `ADMIN_PASSWORD`: made at start-up when there
/// is no account yet.
#[derive(Clone)]
pub struct FirstOwner {
    /// A valid username (lower case).
    pub username: String,
    /// The PHC string of `ADMIN_PASSWORD`.
    pub password_hash: String,
}

/// Makes `owner` the first account when there is none; whether it did. Concurrent
/// replicas make one: the username is unique, and a table with a row is left alone.
pub async fn create_first_owner(
    pool: &Pool,
    owner: &FirstOwner,
) -> Result<bool, mysql_async::Error> {
    let mut conn = pool.get_conn().await?;
    conn.exec_drop(
        "INSERT IGNORE INTO users \
         (username, display_name, role, password_hash, enabled, created_at, updated_at) \
         SELECT ?, ?, 'owner', ?, TRUE, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) FROM DUAL \
         WHERE NOT EXISTS (SELECT 1 FROM users)",
        (&owner.username, &owner.username, &owner.password_hash),
    )
    .await?;
    Ok(conn.affected_rows() > 0)
}
