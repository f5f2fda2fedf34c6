//! Server-sent events, the wire of every live stream here (an operator's
//! ports, a driver's charge, a node's own events for the others): `data:`
//! lines of JSON, keep-alive comments, and an end when the node stops.

use std::sync::Arc;

use actix_web::HttpResponse;
use actors::live::Live;
use bytes::Bytes;
use futures::stream::{self, LocalBoxStream, Stream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};

use super::State;

/// Events the filter keeps, as `data:` lines, with a keep-alive comment when
/// nothing has been sent for a while; the stream ends after an event `last`
/// says is the last, when `events` does, or when the node stops.
pub(super) fn sse(
    state: &State,
    events: LocalBoxStream<'static, Arc<Live>>,
    keep: impl Fn(&Live) -> bool + 'static,
    last: impl Fn(&Live) -> bool + 'static,
) -> HttpResponse {
    let keepalive = state.config.live_keepalive;
    let events = events.take_until(state.live.closed()).boxed_local();
    let events = stream::unfold(Some((events, keep, last)), move |open| async move {
        let (mut events, keep, last) = open?;
        loop {
            // Cancelling `next` loses nothing: the pending receive stays in the stream.
            match tokio::time::timeout(keepalive, events.next()).await {
                Err(_) => {
                    let ping = Bytes::from_static(b": keep-alive\n\n");
                    return Some((Ok(ping), Some((events, keep, last))));
                }
                Ok(Some(e)) if keep(&e) => {
                    let line = format!("data: {}\n\n", serde_json::to_string(&*e).unwrap_or_default());
                    let next = (!last(&e)).then_some((events, keep, last));
                    return Some((Ok::<_, actix_web::Error>(Bytes::from(line)), next));
                }
                Ok(Some(_)) => continue,
                Ok(None) => return None,
            }
        }
    });
    stream_response(events)
}

/// A feed's broadcast as a stream; a listener that fell behind skips what
/// it missed (the next update carries the whole state again).
pub(super) fn received(rx: broadcast::Receiver<Arc<Live>>) -> LocalBoxStream<'static, Arc<Live>> {
    stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((e, rx)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .boxed_local()
}

fn stream_response(events: impl Stream<Item = Result<Bytes, actix_web::Error>> + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(events)
}
