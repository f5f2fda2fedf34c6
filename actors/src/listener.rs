//! The pile listener's socket, made to take a reconnect storm.
//!
//! When a cell tower comes back, thousands of piles connect within seconds.
//! A listen queue of the socket library's default (128) overflows, and the
//! kernel answers the overflow with resets and SYN cookies. So the socket is
//! bound by hand with a deep backlog, and what the kernel can tell about
//! the queue (`somaxconn`, which silently caps the backlog; `ListenOverflows`
//! and `ListenDrops`, host-wide) is read here for the log and the metrics.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Binds `addr` with a listen queue of `backlog` connections.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restarted server rebinds at once, with old links still in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen for piles on {addr}: {e}")))?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    TcpListener::from_std(socket.into())
}

/// The kernel's cap on any listen queue, where the kernel says (Linux).
pub fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

/// Host-wide counts of connections the kernel dropped because a listen
/// queue was full: (`ListenOverflows`, `ListenDrops`), where readable.
pub fn queue_drops() -> Option<(u64, u64)> {
    parse_netstat(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// `/proc/net/netstat` holds pairs of lines, names then values, each
/// starting with the same prefix; `TcpExt:` carries the listen counters.
fn parse_netstat(text: &str) -> Option<(u64, u64)> {
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let field = |name: &str| {
        let at = names.split_whitespace().position(|n| n == name)?;
        values.split_whitespace().nth(at)?.parse().ok()
    };
    Some((field("ListenOverflows")?, field("ListenDrops")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstat_listen_counters_are_found_by_name() {
        let text = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPHPHits\n\
                    TcpExt: 7 0 292 301 12\n\
                    IpExt: InNoRoutes InTruncatedPkts\n\
                    IpExt: 0 0\n";
        assert_eq!(parse_netstat(text), Some((292, 301)));
        assert_eq!(parse_netstat("IpExt: A\nIpExt: 1\n"), None);
    }

    #[tokio::test]
    async fn a_storm_larger_than_the_default_backlog_waits_in_the_queue() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), 4096).unwrap();
        let addr = listener.local_addr().unwrap();
        // Nobody accepts: every connection must find room in the queue. With
        // the default 128 the rest would have their SYNs dropped and hang.
        let storm = somaxconn().unwrap_or(4096).min(4096).saturating_sub(8).min(400);
        let connects = async {
            let mut open = Vec::new();
            for _ in 0..storm {
                open.push(tokio::net::TcpStream::connect(addr).await.unwrap());
            }
            open
        };
        let open = tokio::time::timeout(std::time::Duration::from_secs(5), connects).await;
        assert_eq!(open.expect("every connection queued").len() as u32, storm);
        for _ in 0..storm {
            listener.accept().await.unwrap();
        }
    }
}
