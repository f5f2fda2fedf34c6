//! Password hashing off the async workers: argon2 takes tens of
//! milliseconds of CPU and memory, so each hash or check runs on the
//! blocking pool, at most `password_hash_concurrency` at once, and a flood
//! of logins queues here instead of stalling every other request.
//!
//! A check against no stored hash (an unknown user) verifies against a
//! dummy hash, so it costs what a wrong password costs and the answer's
//! timing does not tell which usernames exist.

use std::sync::OnceLock;

use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

static PERMITS: OnceLock<Semaphore> = OnceLock::new();

/// Sets how many hashes run at once; the first call in a process wins
/// (the CLI and tests that hash before a server starts get the default).
pub fn limit(n: usize) {
    let _ = PERMITS.set(Semaphore::new(n.max(1)));
}

fn permits() -> &'static Semaphore {
    PERMITS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

/// A hash made with the same parameters as real ones, of a password no one
/// knows, for checks of users that do not exist.
fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = hex::encode(crate::tokens::random::<16>());
        hash_password(&secret).expect("hashing a random password")
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    let _permit = permits().acquire().await.map_err(|_| ApiError::unavailable("hashing is shut down"))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::unavailable(e.to_string()))
}

/// Hashes a new password.
pub async fn hash(password: &str) -> ApiResult<String> {
    let password = password.to_owned();
    blocking(move || hash_password(&password)).await?
}

/// Whether `password` matches `stored`; with no stored hash, false after
/// the same work as a wrong password.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    let (password, stored) = (password.to_owned(), stored.map(str::to_owned));
    let known = stored.is_some();
    let matched = blocking(move || {
        let hash = stored.as_deref().unwrap_or_else(|| dummy());
        password_matches(&password, hash)
    })
    .await;
    known && matched.unwrap_or(false)
}

pub fn hash_password(password: &str) -> ApiResult<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&crate::tokens::random::<16>())
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::unavailable(e.to_string()))
}

pub fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}
