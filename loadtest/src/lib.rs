//! chargeplane's pile simulator.
//!
//! Simulated piles open real TCP connections and speak real frames built by
//! the engine's codecs, so end-to-end tests and the load test exercise the
//! gateway exactly as a field pile would. They run on any byte stream too
//! (`Dialer`), so the load test can connect them to an in-process gateway
//! over in-memory streams.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub mod ebike_pile;
pub mod ykc_pile;

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
