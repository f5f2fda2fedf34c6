//! The OCPP 1.6J listener: charge points open a WebSocket on
//! `ws://HOST:PORT/ocpp/{chargePointId}` offering the `ocpp1.6` subprotocol.
//!
//! The handshake refuses a path that names no charge point (404), an id
//! with characters no charge point id has and a connection that offers
//! none of our subprotocols (400, RFC 6455 §4.2.2). An accepted
//! WebSocket becomes a [`Link`] like any pile connection: a task here owns
//! the socket (tokio-tungstenite: framing, ping/pong, the size limit) and
//! hands each text message whole to the link actor through an in-process
//! pipe, and the link's frames back. The charge point logs in as it
//! connects; one not registered is refused and the socket closed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use vocab::PileId;

use crate::adapter::ocpp::Ocpp;
use crate::link::Link;
use crate::ocpp_auth::charge_point_id;
use crate::Platform;

/// Bytes of a link's WebSocket read buffer (allocated per connection).
const READ_BUFFER: usize = 4096;

/// Accepts charge point connections until the listener fails for good.
pub async fn serve(listener: TcpListener, platform: Arc<Platform>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                platform.metrics.pile_accepts.inc();
                let _ = stream.set_nodelay(true);
                actix_rt::spawn(connect(platform.clone(), stream, peer.to_string()));
            }
            Err(e) => {
                platform.metrics.pile_accept_errors.inc();
                tracing::error!(error = %e, "accepting a charge point connection failed; backing off");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Whether a handshake offers the `ocpp1.6` subprotocol.
fn offers_ocpp16(req: &Request) -> bool {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(proto::ocpp::SUBPROTOCOL))
}

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(why.to_owned()));
    *resp.status_mut() = status;
    resp
}

/// Runs the handshake, then the link and the socket's task.
// The handshake callback's error type is tungstenite's, an HTTP response.
#[allow(clippy::result_large_err)]
pub async fn connect(platform: Arc<Platform>, stream: TcpStream, peer: String) {
    let cfg = platform.config.ocpp.clone();
    let authorized = crate::ocpp_auth::check(&platform, &stream, platform.config.login_timeout).await;
    let mut claimed: Option<Result<String, &'static str>> = None;
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let id = match charge_point_id(req.uri().path()) {
            Ok(id) => id,
            Err((status, why)) => {
                claimed = Some(Err(if status == StatusCode::NOT_FOUND { "bad_path" } else { "bad_id" }));
                return Err(refuse(status, why));
            }
        };
        if let Err(status) = authorized {
            claimed = Some(Err(if status == StatusCode::UNAUTHORIZED {
                "unauthorized"
            } else {
                "auth_unavailable"
            }));
            let mut resp = refuse(status, "this charge point's password is required (HTTP Basic auth)");
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"chargeplane\""));
            return Err(resp);
        }
        if !offers_ocpp16(req) {
            claimed = Some(Err("no_subprotocol"));
            return Err(refuse(StatusCode::BAD_REQUEST, "offer the ocpp1.6 subprotocol"));
        }
        resp.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("ocpp1.6"));
        claimed = Some(Ok(id));
        Ok(resp)
    };
    let mut ws_config = WebSocketConfig::default();
    // tungstenite allocates its read buffer up front, 128 KiB by default:
    // most of an idle charge point's memory. OCPP messages are small; a
    // larger one grows the buffer for as long as it needs.
    ws_config.read_buffer_size = READ_BUFFER;
    ws_config.max_message_size = Some(cfg.max_message);
    ws_config.max_frame_size = Some(cfg.max_message);
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config));
    let ws = tokio::time::timeout(platform.config.login_timeout, handshake).await;
    let closed = |reason: &str| platform.metrics.links_closed.with_label_values(&["ocpp", reason]).inc();
    let (ws, id) = match (ws, claimed) {
        (Ok(Ok(ws)), Some(Ok(id))) => (ws, id),
        (_, Some(Err(reason))) => {
            tracing::info!(peer, reason, "charge point handshake refused");
            return closed(reason);
        }
        (Ok(Err(e)), _) => {
            tracing::info!(peer, error = %e, "charge point handshake failed");
            return closed("handshake_failed");
        }
        _ => return closed("handshake_timeout"),
    };
    tracing::debug!(peer, charge_point = %id, "charge point connected");
    let (link_side, socket_side) = tokio::io::duplex(cfg.max_message.saturating_add(64).max(4096));
    let (read, write) = tokio::io::split(link_side);
    let adapter = Ocpp::charge_point(PileId(id), platform.config.clock, &cfg);
    Link::<Ocpp>::start_with(platform.clone(), adapter, read, write, peer.clone());
    let pipe =
        Framed::new(socket_side, LengthDelimitedCodec::builder().max_frame_length(usize::MAX).new_codec());
    let reason = relay(ws, pipe, cfg.ping_interval).await;
    if let Some(reason) = reason {
        platform.metrics.frame_errors.with_label_values(&["ocpp", reason]).inc();
        tracing::info!(peer, reason, "charge point socket closed");
    }
}

/// Carries messages between the socket and the link until either ends; a
/// link that ends closes the socket and a socket that ends, the link. Says
/// why the socket had to be closed, if it was not an orderly end.
async fn relay(
    ws: WebSocketStream<TcpStream>,
    mut pipe: Framed<tokio::io::DuplexStream, LengthDelimitedCodec>,
    ping_every: Duration,
) -> Option<&'static str> {
    let (mut sink, mut socket) = ws.split();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if pipe.send(Bytes::copy_from_slice(text.as_bytes())).await.is_err() {
                        break None;
                    }
                }
                // OCPP-J is text; a binary message is refused like a malformed one.
                Some(Ok(Message::Binary(_))) => {
                    let _ = sink.send(Message::Close(None)).await;
                    break Some("ocpp_binary_message");
                }
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                // Pings are answered by the socket itself.
                Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Err(WsError::Capacity(_))) => break Some("ocpp_oversized"),
                Some(Err(_)) => break Some("ocpp_socket_error"),
            },
            out = pipe.next() => match out {
                Some(Ok(bytes)) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if sink.send(Message::text(text)).await.is_err() {
                        break None;
                    }
                }
                // The link closed: so does the socket.
                _ => {
                    let _ = sink.send(Message::Close(None)).await;
                    break None;
                }
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    break Some("ocpp_pong_timeout");
                }
                awaiting_pong = true;
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    break None;
                }
            }
        }
    }
}
