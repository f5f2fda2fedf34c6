//! Simulated YKC and AP3000 piles and OCPP charge points over real
//! connections, driven by the tests, the load test and `serve --demo`.
//!
//! Simulated piles open real TCP connections and speak real frames, built
//! by their own wire layers (`ykc_wire` for car piles, `ap3000_wire` for
//! e-bike piles), each written from its published spec apart from the
//! platform's codecs (`proto`), so end-to-end tests and the load test
//! exercise the gateway exactly as a field pile would. They run on any byte
//! stream too (`Dialer`), so the load test can connect them to an
//! in-process gateway over in-memory streams. A crate of its own so the
//! server binary can run them without depending on the load test (which
//! depends on the server).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub mod ap3000_wire;
pub mod ebike_pile;
pub mod ocpp_cp;
pub mod ykc_pile;
pub mod ykc_wire;

/// A byte stream a simulated pile can speak over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A boxed connection of a simulated pile.
pub type BoxIo = Box<dyn Io>;

/// What `Dialer` returns: a new connection, when it is open.
pub type Dial = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;

/// Opens a new connection to the platform for a simulated pile (one per
/// login; e-bike piles dial again after a power cut).
#[derive(Clone)]
pub struct Dialer(Arc<dyn Fn() -> Dial + Send + Sync>);

impl Dialer {
    /// A dialer from any function that opens a connection.
    pub fn new(f: impl Fn() -> Dial + Send + Sync + 'static) -> Self {
        Dialer(Arc::new(f))
    }

    /// Real TCP to `addr`, with Nagle off as field piles' modems do.
    pub fn tcp(addr: SocketAddr) -> Self {
        Dialer::new(move || {
            Box::pin(async move {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream) as BoxIo)
            })
        })
    }

    /// Opens one connection.
    pub fn dial(&self) -> Dial {
        (self.0)()
    }
}

/// The first of a pile's events matching `pred` within `timeout`, skipping
/// the others; `None` on timeout or once the pile is gone.
async fn wait_for<E>(
    events: &mut tokio::sync::mpsc::Receiver<E>,
    mut pred: impl FnMut(&E) -> bool,
    timeout: std::time::Duration,
) -> Option<E> {
    let wanted = async {
        while let Some(event) = events.recv().await {
            if pred(&event) {
                return Some(event);
            }
        }
        None
    };
    tokio::time::timeout(timeout, wanted).await.ok().flatten()
}
