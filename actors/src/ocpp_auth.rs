//! Who is connecting over OCPP: the charge point id a request path names,
//! and security profile 1: a charge point presents its password with HTTP
//! Basic auth (its id as the user name) when it opens its WebSocket.
//!
//! The handshake's callback cannot wait, so the request's head is peeked
//! (left in the socket for the handshake to read) and checked first: the
//! stored argon2 hash is read and verified on the blocking pool, a few at a
//! time, so a reconnect storm queues here rather than stalling the runtime.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::http::StatusCode;
use vocab::PileId;

use crate::Platform;

/// The most characters a charge point id may have (CiString20 for
/// chargeBoxIdentity in OCPP-S; 48 leaves room for longer vendor ids).
pub const MAX_ID_LEN: usize = 48;

/// The most of a request's head looked at.
const MAX_HEAD: usize = 8 * 1024;

/// The charge point id a request path names, if it names one we take.
pub fn charge_point_id(path: &str) -> Result<String, (StatusCode, &'static str)> {
    let Some(id) = path.strip_prefix("/ocpp/") else {
        return Err((StatusCode::NOT_FOUND, "charge points connect to /ocpp/{chargePointId}"));
    };
    let id = id.trim_end_matches('/');
    let fits = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(fits) {
        return Err((
            StatusCode::BAD_REQUEST,
            "a charge point id is 1 to 48 letters, digits, '-', '_', '.' or ':'",
        ));
    }
    Ok(id.to_owned())
}

/// Whether the charge point whose upgrade waits on `stream` may connect:
/// `Err` with the status to refuse it with.
pub async fn check(platform: &Platform, stream: &TcpStream, wait: Duration) -> Result<(), StatusCode> {
    let head = tokio::time::timeout(wait, peek_head(stream)).await.ok().flatten().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let path = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or("");
    // An id the handshake refuses anyway needs no password.
    let Ok(id) = charge_point_id(path) else { return Ok(()) };
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_owned());
    let stored = platform.store.ocpp_password(&PileId(id.clone())).await.map_err(|e| {
        tracing::error!(charge_point = %id, error = %e, "could not read a charge point's password");
        StatusCode::SERVICE_UNAVAILABLE
    })?;
    let Some(hash) = stored else {
        return match platform.config.ocpp.require_password {
            true => Err(StatusCode::UNAUTHORIZED),
            false => Ok(()),
        };
    };
    let password =
        authorization.as_deref().and_then(|a| basic_password(a, &id)).ok_or(StatusCode::UNAUTHORIZED)?;
    match verify(password, hash).await {
        true => Ok(()),
        false => Err(StatusCode::UNAUTHORIZED),
    }
}

/// The password of `Basic base64(id:password)` whose user is `id`.
fn basic_password(header: &str, id: &str) -> Option<String> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    (user == id).then(|| password.to_owned())
}

/// Checks `password` against an argon2 `hash` on the blocking pool.
async fn verify(password: String, hash: String) -> bool {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    let permits =
        PERMITS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));
    let Ok(_permit) = permits.acquire().await else { return false };
    let check = move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        PasswordHash::new(&hash)
            .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    };
    tokio::task::spawn_blocking(check).await.unwrap_or(false)
}

/// The request's head, up to its blank line, without taking it off the
/// socket; `None` if the connection closed first.
async fn peek_head(stream: &TcpStream) -> Option<String> {
    let mut buf = vec![0; MAX_HEAD];
    loop {
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        let head = &buf[..n];
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&head[..end]).into_owned());
        }
        if n == MAX_HEAD {
            return Some(String::from_utf8_lossy(head).into_owned());
        }
        // More is on its way: peeking again at once would spin.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_names_the_charge_point() {
        assert_eq!(charge_point_id("/ocpp/CP-001").unwrap(), "CP-001");
        assert_eq!(charge_point_id("/ocpp/CP.1:a_b/").unwrap(), "CP.1:a_b");
        assert_eq!(charge_point_id("/other/CP1").unwrap_err().0, StatusCode::NOT_FOUND);
        assert_eq!(charge_point_id("/ocpp/").unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(charge_point_id("/ocpp/a%20b").unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(charge_point_id("/ocpp/a/b").unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(
            charge_point_id(&format!("/ocpp/{}", "x".repeat(49))).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn basic_auth_names_the_charge_point_and_carries_its_password() {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            basic_password(&format!("Basic {}", b("CP-1:s3cret:x")), "CP-1").as_deref(),
            Some("s3cret:x")
        );
        assert_eq!(basic_password(&format!("basic {}", b("CP-1:pw")), "CP-1").as_deref(), Some("pw"));
        assert_eq!(basic_password(&format!("Basic {}", b("CP-2:pw")), "CP-1"), None, "another's name");
        assert_eq!(basic_password("Bearer abc", "CP-1"), None);
        assert_eq!(basic_password("Basic !!!", "CP-1"), None);
    }
}
