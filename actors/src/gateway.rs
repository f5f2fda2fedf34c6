//! The pile listener. One port serves every protocol: the first byte a pile
//! sends names its protocol (YKC frames start with 0x68; e-bike piles open
//! with their SIM's ICCID digits, a "DNY" frame or a "link" keepalive), and
//! the connection becomes a link of that protocol. Accepting never stops on an error such
//! as running out of file descriptors; it backs off and goes on.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpListener;
use vocab::Protocol;

use crate::adapter::dny::Dny;
use crate::adapter::ykc::Ykc;
use crate::link::Link;
use crate::Platform;

/// Accepts pile connections until the listener fails for good.
pub async fn serve(listener: TcpListener, platform: Arc<Platform>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                platform.metrics.pile_accepts.inc();
                tune(&stream);
                let (read, write) = stream.into_split();
                actix_rt::spawn(connect(platform.clone(), read, write, peer.to_string()));
            }
            Err(e) => {
                platform.metrics.pile_accept_errors.inc();
                tracing::error!(error = %e, "accepting a pile connection failed; backing off");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Replies go out at once (piles wait on them), and a link the mobile
/// network dropped without a FIN is also noticed by the kernel, not only by
/// the heartbeat window.
fn tune(stream: &tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive =
        socket2::TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(Duration::from_secs(10));
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive);
}

const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);

/// Which protocol a connection speaks, from its first byte.
pub fn sniff(first: u8) -> Option<Protocol> {
    match first {
        0x68 => Some(Protocol::Ykc),
        b'D' | b'l' | b'0'..=b'9' | b'A'..=b'C' | b'E'..=b'F' | b'a'..=b'f' => Some(Protocol::Dny),
        _ => None,
    }
}

/// Starts the link of a new connection once its first bytes name a protocol.
/// Works on any byte stream, so in-process simulated piles use it too.
pub async fn connect<R, W>(platform: Arc<Platform>, mut read: R, write: W, peer: String)
where
    R: AsyncRead + Unpin + 'static,
    W: AsyncWrite + Unpin + 'static,
{
    let mut first = [0u8; 1];
    let timeout = platform.config.login_timeout;
    let n = match tokio::time::timeout(timeout, read.read(&mut first)).await {
        Ok(Ok(n)) => n,
        Ok(Err(_)) | Err(_) => 0,
    };
    let protocol = if n == 1 { sniff(first[0]) } else { None };
    let Some(protocol) = protocol else {
        if n == 1 {
            tracing::info!(peer, byte = first[0], "connection speaks no known protocol; closing");
        }
        platform.metrics.links_closed.with_label_values(&["unknown", "unknown_protocol"]).inc();
        return;
    };
    let read = std::io::Cursor::new(first).chain(read);
    match protocol {
        Protocol::Ykc => {
            Link::<Ykc>::start(platform, read, write, peer);
        }
        Protocol::Dny => {
            Link::<Dny>::start(platform, read, write, peer);
        }
        // OCPP charge points connect to their own WebSocket listener.
        Protocol::Ocpp => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_name_the_protocol() {
        assert_eq!(sniff(0x68), Some(Protocol::Ykc));
        for b in [b'D', b'l', b'8', b'F'] {
            assert_eq!(sniff(b), Some(Protocol::Dny), "{}", b as char);
        }
        assert_eq!(sniff(b'G'), None);
        assert_eq!(sniff(0x00), None);
    }

    #[tokio::test]
    async fn accepted_sockets_get_nodelay_and_keepalive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        tune(&stream);
        let sock = socket2::SockRef::from(&stream);
        assert!(stream.nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
    }
}
