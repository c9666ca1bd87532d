//! Password hashing: Argon2id with OWASP's parameters (19 MiB of memory, 2 passes, 1
//! lane), stored as PHC strings. Hashing takes tens of milliseconds of CPU, so it runs
//! on tokio's blocking pool ([`tokio::task::spawn_blocking`]), never on the threads that
//! serve requests.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;

/// Memory, in KiB (OWASP: 19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Passes over the memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("OWASP's Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password`, with a new random salt.
pub fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `hash` (a malformed hash matches nothing).
pub fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// [`hash_blocking`] on the blocking pool.
pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|err| ApiError::Internal(format!("password hashing task failed: {err}")))?
        .map_err(|err| ApiError::Internal(format!("password hashing failed: {err}")))
}

/// [`verify_blocking`] on the blocking pool.
pub async fn verify(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
        .await
        .map_err(|err| ApiError::Internal(format!("password check task failed: {err}")))
}

/// Does the work of checking a password against an account that does not exist, so
/// that an unknown username takes as long to refuse as a wrong password.
pub async fn verify_dummy(password: String) -> Result<(), ApiError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let dummy =
            DUMMY.get_or_init(|| hash_blocking("no account has this password").unwrap_or_default());
        verify_blocking(&password, dummy)
    })
    .await
    .map(|_| ())
    .map_err(|err| ApiError::Internal(format!("password check task failed: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_with_owasp_parameters_and_a_salt_each() {
        let first = hash_blocking("correct horse battery").unwrap();
        let second = hash_blocking("correct horse battery").unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "each hash has its own salt");
        assert!(first.len() <= 255, "fits the column");
        assert!(verify_blocking("correct horse battery", &first));
        assert!(verify_blocking("correct horse battery", &second));
        assert!(!verify_blocking("correct horse batterY", &first));
        assert!(!verify_blocking("correct horse battery", "not a hash"));
    }

    #[tokio::test]
    async fn the_async_forms_agree() {
        let hash = hash("a long enough password".to_owned()).await.unwrap();
        assert!(verify("a long enough password".to_owned(), hash.clone())
            .await
            .unwrap());
        assert!(!verify("another password".to_owned(), hash).await.unwrap());
        verify_dummy("anything".to_owned()).await.unwrap();
    }
}
