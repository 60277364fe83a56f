//! Password hashing with argon2id (the crate's defaults: m=19 MiB, t=2, p=1), run off the
//! async threads because each hash takes tens of milliseconds by design.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

use crate::error::{ApiError, ApiResult};

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 256;

/// Checks the password rules; `field` names the JSON field in the error.
pub fn validate(field: &str, password: &str) -> ApiResult<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(ApiError::invalid(field, format!("password must have at least {MIN_LEN} characters")));
    }
    if len > MAX_LEN {
        return Err(ApiError::invalid(field, format!("password must have at most {MAX_LEN} characters")));
    }
    Ok(())
}

pub async fn hash(password: &str) -> ApiResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("argon2: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?
}

/// Verifies `password` against a stored hash; with no hash, burns the same time and fails,
/// so that unknown accounts cannot be told apart by timing.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$7bVt0Bq0ktkZLqg3AgcKQbCv2o3XVvmW1uJgxzR4b3s";
    let password = password.to_owned();
    let (stored, real) = match stored {
        Some(s) => (s.to_owned(), true),
        None => (DUMMY.to_owned(), false),
    };
    tokio::task::spawn_blocking(move || {
        let ok = PasswordHash::new(&stored)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false)
}
